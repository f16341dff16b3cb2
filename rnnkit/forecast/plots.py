"""Pictures of a forecasting run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import ConfigError
from rnnkit.figures import new_figure, save_figure
from rnnkit.forecast.config import DEFAULT_LAST
from rnnkit.forecast.data import parse_time


@dataclass(frozen=True)
class PlotRange:
    """The rows a plot shows: ``[lo, hi)`` of the series, out of the split's ``rows``, and the
    row ``origin`` where the drawn full-horizon forecast starts."""

    lo: int
    hi: int
    rows: int
    origin: int


def plot_range(run, split: str, last: int = DEFAULT_LAST, start: str | None = None) -> PlotRange:
    """The rows to draw for ``split``: its last ``last`` rows (0: all), or from the time
    ``start`` to its end; always at least the last window's horizon, whose forecast is drawn.

    Raises:
        ConfigError: the split has no window, or ``start`` is not a time of the series or comes
            after the split's last row.
    """
    if split not in run.prep.windows:
        raise ConfigError(f"the {split} split has no full window; plot another split")
    _, _, t0 = run.prep.windows[split]
    H = run.config.horizon
    first, hi = int(t0[0]), int(t0[-1]) + H
    times = run.prep.series.times
    if start is not None:
        t = parse_time(times, start, "--from", "this series")
        t = t.astype(times.dtype) if isinstance(t, np.datetime64) else t  # in the times' unit
        lo = first + int(np.searchsorted(times[first:hi], t))
        if lo >= hi:
            raise ConfigError(
                f"--from {start} is after the {split} split's last row "
                f"({_show_time(times[hi - 1])}); give an earlier time"
            )
    elif last:
        lo = max(first, hi - last)
    else:
        lo = first
    return PlotRange(min(lo, hi - H), hi, hi - first, int(t0[-1]))


def plot_run(run, split: str, path: str | Path, shown: PlotRange) -> None:
    """Draw the target over ``shown``'s rows, the first step of every forecast made in them,
    and the full-horizon forecast from ``shown.origin`` (the split's last window), on the
    original scale, against the time column (dates when it holds dates)."""
    save_figure(figure(run, split, shown), path, dpi=110)


def figure(run, split: str, shown: PlotRange):
    """The matplotlib ``Figure`` that ``plot_run`` saves."""
    X, _, t0 = run.prep.windows[split]
    H = run.config.horizon
    series = run.prep.series
    inside = t0 >= shown.lo
    pred = run.prep.scaler.inverse(run.predict_scaled(X[inside], H), column=0)  # (N, H)
    times = series.times
    fig, ax = new_figure(10, 4)
    rows = slice(shown.lo, shown.hi)
    ax.plot(times[rows], series.values[rows, 0], lw=0.9, color="0.45", label=series.columns[0])
    ax.plot(times[t0[inside]], pred[:, 0], lw=1, alpha=0.8, label=f"{run.name}: 1 step ahead")
    horizon = slice(shown.origin, shown.origin + H)
    ax.axvspan(times[horizon][0], times[horizon][-1], color="tab:orange", alpha=0.12)
    ax.plot(
        times[horizon],
        pred[-1],
        "o-" if H <= 48 else "-",
        ms=3,
        lw=1.8,
        color="tab:red",
        label=f"{H}-step forecast from {_show_time(times[shown.origin])}",
    )
    which = "" if shown.hi - shown.lo == shown.rows else f", last {shown.hi - shown.lo} rows"
    datetimes = np.issubdtype(times.dtype, np.datetime64)
    ax.set(
        xlabel=series.time_col if datetimes or series.time_col != "time" else "row",
        ylabel=series.columns[0],
        title=f"{series.name}: {split} split{which}",
    )
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    return fig  # laid out when saved (save_figure)


def describe(run, split: str, shown: PlotRange) -> str:
    """What a plot shows, in words, e.g. ``the last 200 of 2,857 test rows (... to ...), with
    the 24-step forecast from 2018-06-25T12:00:00``."""
    n = shown.hi - shown.lo
    times = run.prep.series.times
    part = f"all {n:,}" if n == shown.rows else f"the last {n:,} of {shown.rows:,}"
    span = f"{_show_time(times[shown.lo])} to {_show_time(times[shown.hi - 1])}"
    origin = _show_time(times[shown.origin])
    return (
        f"{part} {split} rows ({span}), with the {run.config.horizon}-step forecast from {origin}"
    )


def _show_time(value) -> str:
    if isinstance(value, np.datetime64):
        return str(value).replace("T00:00:00", "").replace(".000000", "")
    return f"{float(value):g}"
