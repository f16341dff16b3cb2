"""Confusion-matrix picture of a classifier's predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion_png(matrix, labels: list[str], path: str | Path, title: str = "") -> None:
    """Rows: true label, columns: predicted; each cell shows its count, the colour its share
    of the row (so classes of different sizes read the same)."""
    from rnnkit.figures import new_figure, save_figure

    m = np.asarray(matrix, dtype=np.int64)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = new_figure(size + 1, size)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color=colour, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the row")
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi=120)
