"""Forecast errors. Arrays are (N, H): N windows, H steps ahead; any matching shapes work for
``mse`` and ``mae``.

The scaled-space ``mse`` is what training minimises; ``original_scale_metrics`` is what a
reader compares across models and datasets: errors in the series' own units, sMAPE in percent,
and MASE, the error relative to the seasonal-naive forecast on the training series (below 1
beats it).
"""

from __future__ import annotations

import warnings

import numpy as np

from rnnkit.bounds import check
from rnnkit.errors import DataError, RnnkitWarning


def mse(y_true, y_pred) -> float:
    """Mean squared error over every entry."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error over every entry."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def per_horizon_mse(y_true, y_pred) -> np.ndarray:
    """MSE of each step ahead: (N, H) -> (H,)."""
    t, p = _pair(y_true, y_pred)
    if t.ndim != 2:
        raise DataError(f"per_horizon_mse takes (N, H) arrays, got shape {t.shape}")
    return np.mean((t - p) ** 2, axis=0)


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent: mean of 200 |y - y_hat| / (|y| + |y_hat|), 0/0 counted as 0."""
    t, p = _pair(y_true, y_pred)
    num = 200.0 * np.abs(t - p)
    den = np.abs(t) + np.abs(p)
    # Both zero means a perfect forecast of zero: no error, not a division by zero.
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(np.mean(ratio))


def mase_scale(train_series, period: int | None = None) -> float:
    """In-sample MAE of the seasonal-naive forecast (lag ``period``, 1 when None) on the
    training series (T,): the denominator of MASE. A series too short for one lag of ``period``
    falls back to lag 1 with an ``RnnkitWarning``."""
    m = 1 if period is None else check("period", int(period), error=DataError)
    x = np.asarray(train_series, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise DataError(f"the training series must be 1-D (the target), got shape {x.shape}")
    if len(x) < 2:
        raise DataError(f"MASE needs a training series of 2 values or more, got {len(x)}")
    if len(x) <= m:
        # One missing metric should not sink a whole evaluation: use the non-seasonal scale.
        warnings.warn(
            f"MASE: the training series ({len(x)} values) is shorter than one period ({m}) + 1; "
            "scaled by the lag-1 naive error instead",
            RnnkitWarning,
            stacklevel=2,
        )
        m = 1
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def original_scale_metrics(y_true, y_pred, train_series, period: int | None = None) -> dict:
    """Errors of (N, H) forecasts in the series' own units.

    Args:
        y_true, y_pred: (N, H), unscaled.
        train_series: (T,) the unscaled training part of the target series.
        period: seasonal period for MASE's scale (1, the naive forecast, when None).

    Returns: ``{"mae", "rmse", "smape", "mase"}`` as floats; ``mase`` is NaN when the training
    series is constant (its naive forecast is perfect, so the ratio is undefined).
    """
    err = mae(y_true, y_pred)
    scale = mase_scale(train_series, period)
    return {
        "mae": err,
        "rmse": float(np.sqrt(mse(y_true, y_pred))),
        "smape": smape(y_true, y_pred),
        "mase": err / scale if scale > 0 else float("nan"),
    }


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        # Broadcasting (N, H) against (N, 1) would give a number, just the wrong one.
        raise DataError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    if t.size == 0:
        raise DataError("no forecasts to score (empty arrays)")
    return t, p
