"""Figures drawn off screen (matplotlib's Agg canvas, no pyplot) and saved atomically."""

from __future__ import annotations

from pathlib import Path

from rnnkit.io import atomic_write


def new_figure(width: float, height: float, dpi: float | None = None):
    """``(fig, ax)``: a matplotlib ``Figure`` of one plot, drawn off screen (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def save_figure(fig, path: str | Path, dpi: float | None = None) -> None:
    """Lay ``fig`` out and write it to ``path`` through a temp file, in the format the suffix
    names (PNG without one)."""
    path = Path(path)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix[1:] or "png"))
