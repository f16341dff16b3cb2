"""Pictures of a forecasting run."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_run(run, split: str, path: str | Path) -> None:
    """The split's target, the first step of every window's forecast, and the full-horizon
    forecast from the split's first window, on the original scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rnnkit.errors import ConfigError

    if split not in run.prep.windows:
        raise ConfigError(f"the {split} split has no full window; plot another split")
    X, Y, t0 = run.prep.windows[split]
    H = run.config.horizon
    series = run.prep.series
    pred = run.prep.scaler.inverse(run.predict_scaled(X, H), column=0)
    lo = int(t0[0]) - run.config.tau
    hi = int(t0[-1]) + H
    x = np.arange(len(series.values))
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x[lo:hi], series.values[lo:hi, 0], lw=0.8, color="0.5", label=series.columns[0])
    ax.plot(t0, pred[:, 0], lw=1, label=f"{run.name}: 1 step ahead")
    if H > 1:
        ax.plot(np.arange(t0[0], t0[0] + H), pred[0], lw=1.4, label=f"{H}-step forecast")
    ax.set(xlabel="row", ylabel=series.columns[0], title=f"{series.name}: {split} split")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
