"""Attention heatmaps."""

from __future__ import annotations

from pathlib import Path


def attention_heatmap(weights, src_tokens: list[str], out_tokens: list[str], path: str | Path):
    """Draw attention weights (L, S): one row per output token, one column per source token."""
    from rnnkit.figures import new_figure, save_figure

    w = weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights
    rows = min(len(out_tokens), w.shape[0])
    cols = min(len(src_tokens), w.shape[1])
    w = w[:rows, :cols]
    fig, ax = new_figure(max(4, 0.45 * cols + 2), max(3, 0.4 * rows + 1.5))
    image = ax.imshow(w, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), src_tokens[:cols], rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(rows), out_tokens[:rows], fontsize=9)
    ax.set(xlabel="source", ylabel="output")
    fig.colorbar(image, ax=ax, fraction=0.04)
    save_figure(fig, path, dpi=110)
