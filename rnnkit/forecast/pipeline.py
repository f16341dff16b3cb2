"""A forecasting run end to end: load and scale a series, window it, fit a model, evaluate it
against the baselines, save and reload the run directory.

A run directory holds ``run.json`` (``rnnkit.registry.runs``: the config, the model config, the
training history, and as fitted values the scaler, the split bounds, the columns and the
period) and, for neural models, ``model.safetensors``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.errors import ConfigError, RnnkitError, RunDirError
from rnnkit.forecast.baselines import LINEAR, naive, seasonal_naive, seasonal_naive_rows
from rnnkit.forecast.config import NEURAL, ForecastConfig
from rnnkit.forecast.data import Scaler, Series, load_series, make_windows, sine_series
from rnnkit.forecast.metrics import mae, mse, original_scale_metrics, per_horizon_mse
from rnnkit.forecast.models import (
    LastValueResidual,
    SkipForecaster,
    build_forecaster,
    forecast,
    predict,
)
from rnnkit.registry.runs import WEIGHTS, RunDoc, read_run, write_run


def load(config: ForecastConfig) -> Series:
    if config.data == "sine":
        return sine_series(seed=config.seed)
    return load_series(
        config.data or config.csv,
        time_col=config.time_col,
        target=config.target,
        features=config.features,
        fill=config.fill,
        period=config.period,
        split=config.split_fractions,
        test_from=config.test_from,
    )


@dataclass
class Prepared:
    """A series scaled with train statistics, and its windows per split."""

    series: Series
    scaler: Scaler
    scaled: np.ndarray  # (T, F)
    windows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # split -> (X, Y, T0)


def prepare(config: ForecastConfig, series: Series, scaler: Scaler | None = None) -> Prepared:
    """Scale (fitted on train rows only) and window every split; a split too short for one
    window is left out (train never is)."""
    train_end, valid_end, test_end = series.bounds
    scaler = scaler or Scaler(config.scaler).fit(series.values[:train_end])
    scaled = scaler.transform(series.values)
    H = config.horizon
    windows = {"train": make_windows(scaled, config.tau, config.model_horizon, 0, train_end)}
    for split, start, end in (("valid", train_end, valid_end), ("test", valid_end, test_end)):
        if end - start >= H and start >= config.tau:
            windows[split] = make_windows(scaled, config.tau, H, start, end)
    return Prepared(series, scaler, scaled, windows)


def model_config(config: ForecastConfig, num_features: int) -> dict:
    """The config of ``config``'s network (``ForecasterConfig`` fields, ``residual`` and
    ``skip``)."""
    return {
        **config.pick("model", "tau"),
        "num_features": num_features,
        **config.pick("hidden", "num_layers", "backend"),
        "horizon": config.model_horizon,
        **config.pick("dropout", "residual", "skip"),
    }


def build_model(config: ForecastConfig | dict, num_features: int | None = None) -> torch.nn.Module:
    """The network of a run config (with its number of input columns), or of a
    ``model_config`` dict (one written before the skip path has none). A skip model's linear
    path is zero until ``SkipForecaster.fit_skip`` or its weights are loaded."""
    d = dict(config) if isinstance(config, dict) else model_config(config, num_features)
    residual = d.pop("residual", False)
    skip = d.pop("skip", "none")
    model = build_forecaster(d)
    if skip != "none":
        return SkipForecaster(model, skip, d["tau"])
    return LastValueResidual(model) if residual else model


@contextmanager
def _damaged(doc: RunDoc, *errors: type[Exception]):
    """Raise ``errors`` met while reading ``doc``'s run as a ``RunDirError``: the run is
    damaged."""
    try:
        yield
    except errors as e:
        raise RunDirError(f"{doc.source} is damaged ({e}); train the run again") from e


def load_network(run_dir: str | Path, doc: RunDoc, config: ForecastConfig) -> torch.nn.Module:
    """The fitted network of a neural forecasting run, on the CPU (runs written before the run
    file derive its config)."""
    from rnnkit.train.checkpoint import build_for_loading, load_weights

    with _damaged(doc, KeyError, TypeError, RnnkitError):
        mcfg = doc.model or model_config(config, len(doc.fitted["columns"]))
        model = build_for_loading(build_model, mcfg)
    load_weights(model, Path(run_dir) / WEIGHTS)
    return model


class ForecastRun:
    """A fitted forecaster with its config, scaler and series."""

    def __init__(
        self, config: ForecastConfig, prep: Prepared, model=None, linear=None, history=None
    ):
        self.config, self.prep, self.model, self.linear = config, prep, model, linear
        self.history = history or {}

    # ---- fitting
    @classmethod
    def fit(cls, config: ForecastConfig, log=None, out=None, progress=False) -> ForecastRun:
        """Fit ``config``'s model: a neural one with the one ``Trainer``, writing its
        checkpoints to ``out`` (a temporary folder when None) and ending on its best
        weights; a baseline in closed form."""
        model = linear = None
        history: dict = {}
        if config.model in NEURAL:
            from rnnkit.forecast.train import ForecastTask, fit

            task = ForecastTask(config)  # the trainer loads and prepares the series once
            model, history = fit(task, out, log, progress)
            model, prep = model.cpu(), task.prep  # a run predicts, saves and serves on the CPU
        else:
            prep = prepare(config, load(config))
            if config.model in LINEAR:
                X, Y, _ = prep.windows["train"]
                linear = LINEAR[config.model](config.tau, config.model_horizon).fit(X, Y)
        return cls(config, prep, model, linear, history)

    # ---- predicting
    def predict_scaled(self, X: np.ndarray, steps: int) -> np.ndarray:
        """(N, tau, F) scaled windows -> (N, steps) scaled forecasts."""
        c = self.config
        if c.model == "naive":
            return naive(X, steps)
        if c.model == "seasonal-naive":
            if not self.prep.series.period:
                raise ConfigError("seasonal naive needs a seasonal period; pass --period")
            return seasonal_naive(X, steps, self.prep.series.period)
        if c.model in LINEAR and c.strategy == "direct":
            return self.linear.predict(X)[:, :steps]
        if c.model in LINEAR:
            window, out = X[:, :, 0].copy(), []
            for _ in range(steps):  # recursive: feed each prediction back as the newest value
                nxt = self.linear.predict(window[:, :, None])[:, 0]
                out.append(nxt)
                window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
            return np.stack(out, axis=1)
        self.model.eval()
        if c.strategy == "direct":
            if steps > c.horizon:
                raise ConfigError(
                    f"this direct model forecasts {c.horizon} steps; ask for at most that many, "
                    "or train with --strategy recursive"
                )
            return predict(self.model, X)[:, :steps]
        return forecast(self.model, X, steps, "recursive")  # an array in, an array out

    def forecast_after(self, values: np.ndarray, steps: int) -> np.ndarray:
        """The next ``steps`` target values after ``values``, on the original scale.

        Args:
            values: (T, F) rows of the run's columns (target first), original scale, oldest
                first; the model reads the last ``tau`` of them.

        Outputs: (steps,) float64.

        Raises:
            ConfigError: fewer than ``tau`` rows, or more steps than a direct model makes.
        """
        tau = self.config.tau
        if len(values) < tau:
            raise ConfigError(
                f"the series has {len(values)} rows but the model reads the last {tau}; "
                f"give at least {tau}"
            )
        window = self.prep.scaler.transform(values[-tau:])[None].astype(np.float32)
        return self.prep.scaler.inverse(self.predict_scaled(window, steps), column=0)[0]

    # ---- evaluating
    def evaluate(self, split: str = "test") -> dict:
        """Metrics of this model and of the baselines on ``split``'s windows."""
        if split not in self.prep.windows:
            raise ConfigError(
                f"the {split} split is too short for one window of tau {self.config.tau} + "
                f"horizon {self.config.horizon}; use another split or smaller --tau/--horizon"
            )
        X, Y, t0 = self.prep.windows[split]
        H, tau = self.config.horizon, self.config.tau
        rows = {self.name: self.predict_scaled(X, H)}
        rows["naive"] = naive(X, H)
        period = self.prep.series.period
        notes = []
        if period:
            if tau >= period:
                rows["seasonal-naive"] = seasonal_naive(X, H, period)
            elif int(t0[0]) >= period:
                rows["seasonal-naive"] = seasonal_naive_rows(self.prep.scaled, t0, H, period)
                notes.append(
                    f"seasonal naive reads the series {period} rows back, before the window "
                    f"(tau {tau} < period {period})"
                )
            else:
                notes.append(
                    f"no seasonal naive: the {split} split starts {int(t0[0])} rows in, less "
                    f"than one period ({period})"
                )
        Xtr, Ytr, _ = make_windows(self.prep.scaled, tau, H, 0, self.prep.series.bounds[0])
        for name, fit in LINEAR.items():
            if name != self.name:  # a closed-form run is its own row
                rows[name] = fit(tau, H).fit(Xtr[:, :, :1], Ytr).predict(X[:, :, :1])
        train_target = self.prep.series.values[: self.prep.series.bounds[0], 0]
        # MASE's scale: the in-sample seasonal-naive error with the period, else the naive one
        lag = period if period and len(train_target) > period else 1
        truth = self.prep.scaler.inverse(Y, column=0)
        out = {"split": split, "windows": int(len(X)), "horizon": H, "mase_lag": lag}
        out |= {"notes": notes, "models": {}}
        for name, pred in rows.items():
            orig = original_scale_metrics(
                truth, self.prep.scaler.inverse(pred, column=0), train_target, lag
            )
            out["models"][name] = {
                "mse": mse(Y, pred),
                "mae": mae(Y, pred),
                "mae_original": orig.pop("mae"),
                **orig,  # rmse, smape, mase
                "mse_per_step": per_horizon_mse(Y, pred).tolist() if H > 1 else None,
            }
        return out

    @property
    def name(self) -> str:
        c = self.config
        if c.model not in NEURAL:
            return c.model
        extra = ", residual" if c.residual else f", {c.skip} skip" if c.skip != "none" else ""
        return f"{c.model} ({c.strategy}{extra})"

    # ---- saving
    def run_doc(self) -> RunDoc:
        """The run file of this run (``rnnkit.registry.runs``)."""
        series = self.prep.series
        fitted = {
            "scaler": self.prep.scaler.to_dict(),
            "bounds": list(series.bounds),
            "columns": series.columns,
            "period": series.period,
            "linear": self.linear.to_dict() if self.linear is not None else None,
        }
        mcfg = model_config(self.config, len(series.columns)) if self.model is not None else None
        return RunDoc("forecast", asdict(self.config), mcfg, self.history, fitted)

    def save(self, run_dir: str | Path, weights: bool = True) -> None:
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        if self.model is not None and weights:
            from rnnkit.train.checkpoint import save_weights

            save_weights(self.model, run / WEIGHTS)
        write_run(run, self.run_doc())

    @classmethod
    def load(cls, run_dir: str | Path, series: Series | None = None) -> ForecastRun:
        doc = read_run(run_dir, "forecast")
        config = doc.run_config(ForecastConfig)
        with _damaged(doc, ValueError, KeyError, TypeError, RnnkitError):
            scaler = Scaler.from_dict(doc.fitted["scaler"])
        prep = prepare(config, series or load(config), scaler)
        model = linear = None
        if config.model in NEURAL:
            model = load_network(run_dir, doc, config)
        elif config.model in LINEAR:
            with _damaged(doc, KeyError, TypeError, ValueError):
                linear = LINEAR[config.model].from_dict(doc.fitted["linear"])
        return cls(config, prep, model, linear, doc.history)


def future_times(times: np.ndarray, steps: int) -> list[str]:
    """The times of the ``steps`` rows after ``times`` (T,), extrapolating the last spacing;
    ``""`` each when fewer than two times are known."""
    if len(times) < 2:
        return [""] * steps
    step = times[-1] - times[-2]
    return [str(times[-1] + h * step) for h in range(1, steps + 1)]
