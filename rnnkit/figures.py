"""Figures drawn off screen (matplotlib's Agg canvas, no pyplot) and saved atomically."""

from __future__ import annotations

from pathlib import Path

from rnnkit.io import atomic_write


def new_figure(width: float, height: float, dpi: float | None = None, rows: int = 1, **kw):
    """``(fig, ax)``: a matplotlib ``Figure`` drawn off screen (no pyplot) of one plot, or of
    ``rows`` plots one above the other (``ax`` an array of them; ``kw`` to ``Figure.subplots``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, **kw)


def save_figure(fig, path: str | Path, dpi: float | None = None) -> None:
    """Lay ``fig`` out and write it to ``path`` through a temp file, in the format the suffix
    names when matplotlib writes it (``.svg``, ``.pdf``), PNG otherwise."""
    path = Path(path)
    form = path.suffix[1:].lower()
    if form not in fig.canvas.get_supported_filetypes():
        form = "png"
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=form))
