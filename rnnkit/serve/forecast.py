"""The forecasting adapter: runs of ``rnnkit forecast train``.

``/forecast`` calls the functions ``rnnkit forecast predict`` calls, so a forecast past the
run's own series is the command line's. Forecasters are small and run on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import ConfigError
from rnnkit.forecast.pipeline import ForecastRun, future_times
from rnnkit.serve.registry import ServedModel, register_kind


@dataclass(frozen=True)
class Forecast:
    history: list[float]  # the target values the model read, oldest first
    values: list[float]  # the forecast, one per step
    times: list[str] | None  # the time of each step; None after a history sent by the client


@register_kind
class Forecaster(ServedModel):
    """A fitted forecaster (or baseline) with its scaler and the series it was trained on."""

    kind = "forecast"
    runs = "forecasting runs (written by `rnnkit forecast train`)"
    task = "forecast"
    endpoints = ("/forecast",)

    def __init__(self, name: str, path: Path, run: ForecastRun):
        super().__init__(name, path)
        self.run, self.config = run, run.config
        self.tau = run.config.tau
        self.columns = run.prep.series.columns  # the target first, then the features

    @classmethod
    def load(cls, path: Path, name: str, device) -> Forecaster:
        return cls(name, path, ForecastRun.load(path))

    def check_history(self) -> None:
        """Raise ``ConfigError`` if the model reads more than the target column, so that a
        history of target values alone cannot feed it."""
        if len(self.columns) > 1:
            raise ConfigError(
                f"model {self.name!r} also reads {', '.join(self.columns[1:])}; a history of "
                f"{self.columns[0]} alone cannot feed it: leave history out to forecast past "
                "the run's own series"
            )

    def forecast(self, history: list[float] | None, horizon: int) -> Forecast:
        """The next ``horizon`` values after ``history`` (or after the run's own series when
        ``None``), as ``rnnkit forecast predict`` writes them. Blocks: call it from a thread.

        Raises:
            ConfigError: a history the model cannot read, or a horizon it cannot reach.
        """
        series = self.run.prep.series
        if history is None:
            values = series.values
        else:
            self.check_history()
            values = np.asarray(history, dtype=np.float64)[:, None]
        with self.lock:
            pred = self.run.forecast_after(values, horizon)
        if not np.isfinite(pred).all():
            raise ConfigError(
                "the forecast is not finite; send a history on the scale of the training series"
            )
        times = future_times(series.times, horizon) if history is None else None
        return Forecast(values[-self.tau :, 0].tolist(), pred.tolist(), times)
