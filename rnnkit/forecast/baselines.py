"""Baselines every forecaster has to beat, on the same windows as the neural models.

Each maps windows ``X`` (N, tau, F) (column 0 of F is the target) to forecasts (N, H) of the
next H target values, in whatever scale ``X`` is in.

The three linear ones are fitted by least squares in closed form (Zeng et al. 2023, "Are
Transformers Effective for Time Series Forecasting?", train NLinear and DLinear with Adam; the
minimum of the same squared loss is reached here in one solve):

- ``LinearAR``: the window -> the next H values;
- ``NLinear``: the same on the window minus its last value, which is added back to every step;
- ``DLinear``: one map on the window's moving-average trend and one on the remainder. Both parts
  are linear in the window, so at the least-squares optimum DLinear is a linear AR written in
  another basis (only the small ridge penalty tells them apart).
"""

from __future__ import annotations

import numpy as np

from rnnkit.bounds import check
from rnnkit.errors import ConfigError


def naive(X: np.ndarray, H: int) -> np.ndarray:
    """The last observed target value, repeated: (N, tau, F) -> (N, H)."""
    X = _windows(X)
    check("horizon", H, label="H", integer=True)
    return np.repeat(X[:, -1, :1], H, axis=1)


def seasonal_naive(X: np.ndarray, H: int, period: int) -> np.ndarray:
    """The target value one season before each step: (N, tau, F) -> (N, H).

    With the window ending at x_{t-1}, the forecast of x_{t+h} (h = 0 .. H-1) is
    x_{t+h-period*ceil((h+1)/period)}: the latest observed value in the same phase of the season.
    """
    X = _windows(X)
    check("horizon", H, label="H", integer=True)
    check("period", period, integer=True)
    tau = X.shape[1]
    if tau < period:
        raise ConfigError(
            f"seasonal naive needs a window of at least one period (tau={tau} < period={period}); "
            f"use --tau {period} or more"
        )
    return X[:, tau + _seasonal_lags(H, period), 0]


def seasonal_naive_rows(values: np.ndarray, t0: np.ndarray, H: int, period: int) -> np.ndarray:
    """Seasonal naive from the series itself, for a window shorter than a period: step h of the
    window with first target row t is ``values[t + h - period * ceil((h + 1) / period), 0]``,
    which may lie before the window.

    Inputs: ``values`` (T, F), ``t0`` (N,) first target rows, each at least ``period``.
    Outputs: (N, H).
    """
    return values[t0[:, None] + _seasonal_lags(H, period)[None, :], 0]


def _seasonal_lags(H: int, period: int) -> np.ndarray:
    """(H,) offsets from the first target row to the latest observed row of each step's phase."""
    h = np.arange(H)
    return h - period * ((h + period) // period)  # one or more periods back


class LinearAR:
    """Linear autoregression: least squares from the flattened window plus an intercept to each
    of the H next values (one set of weights per step, fitted jointly in closed form).

    Args:
        tau: window length.
        horizon: H.
        ridge: L2 penalty on the weights (not the intercept); a small one keeps the solution
            unique when window columns are collinear.

    After ``fit``: ``coef_`` (H, tau, F) and ``intercept_`` (H,); every linear baseline
    forecasts ``X`` (N, tau, F) as ``X . coef_ + intercept_``, whatever basis it was fitted in.
    """

    kind = "linear"

    def __init__(self, tau: int, horizon: int = 1, ridge: float = 1e-6):
        check("tau", tau, integer=True)
        check("horizon", horizon, integer=True)
        if not ridge >= 0:
            raise ConfigError(f"ridge must be >= 0, got {ridge}")
        self.tau, self.horizon, self.ridge = tau, horizon, float(ridge)
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LinearAR:
        """Fit on windows ``X`` (N, tau, F) and targets ``Y`` (N, H); returns ``self``."""
        X = self._check(X)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape != (len(X), self.horizon):
            raise ConfigError(
                f"LinearAR(horizon={self.horizon}) fits targets ({len(X)}, {self.horizon}), got "
                f"{Y.shape}; window the data with --horizon {self.horizon}"
            )
        N, tau, F = X.shape
        Z, offset = self._inputs(X)  # (N, D), (N, 1)
        D = Z.shape[1]
        A = np.concatenate([Z, np.ones((N, 1))], axis=1)  # (N, D + 1)
        B = Y - offset
        if self.ridge > 0:
            # Ridge as ordinary least squares on extra rows sqrt(ridge) * I: better conditioned
            # than the normal equations, and the intercept's row is left out so it is not shrunk.
            penalty = np.sqrt(self.ridge) * np.eye(D, D + 1)
            A = np.concatenate([A, penalty])
            B = np.concatenate([B, np.zeros((D, self.horizon))])
        W, *_ = np.linalg.lstsq(A, B, rcond=None)  # (D + 1, H)
        self.coef_ = self._window_coef(W[:-1].T, tau, F)  # (H, tau, F)
        self.intercept_ = W[-1].copy()
        return self

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Z, offset)``: the regressors (N, D) of windows (N, tau, F) and what is added to
        every forecast (N, 1); the plain AR regresses on the flattened window."""
        return X.reshape(len(X), -1), np.zeros((len(X), 1))

    def _window_coef(self, W: np.ndarray, tau: int, F: int) -> np.ndarray:
        """The fitted (H, D) weights on the regressors as weights (H, tau, F) on the window."""
        return W.reshape(self.horizon, tau, F)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N, tau, F) -> (N, H), in ``X``'s dtype when it is floating point."""
        if self.coef_ is None:
            raise RuntimeError("LinearAR is not fitted; call .fit(X, Y) first")
        dtype = np.asarray(X).dtype
        X = self._check(X)
        F = self.coef_.shape[2]
        if X.shape[2] != F:
            raise ConfigError(
                f"LinearAR was fitted on {F} feature column(s), got windows with {X.shape[2]}"
            )
        N = len(X)
        out = X.reshape(N, -1) @ self.coef_.reshape(self.horizon, -1).T + self.intercept_
        return out.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64)

    def to_dict(self) -> dict:
        """JSON-able parameters; ``LinearAR.from_dict`` rebuilds the fitted model."""
        fitted = self.coef_ is not None
        return {
            "kind": self.kind,
            "tau": self.tau,
            "horizon": self.horizon,
            "ridge": self.ridge,
            "coef": self.coef_.tolist() if fitted else None,
            "intercept": self.intercept_.tolist() if fitted else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LinearAR:
        model = cls(d["tau"], d["horizon"], d.get("ridge", 1e-6))
        if d.get("kind", "linear") != cls.kind:
            raise ConfigError(f"a {d.get('kind')} fit does not load as {cls.kind}")
        if d.get("coef") is not None:
            model.coef_ = np.asarray(d["coef"], dtype=np.float64)
            model.intercept_ = np.asarray(d["intercept"], dtype=np.float64)
            if model.coef_.ndim != 3 or model.coef_.shape[:2] != (model.horizon, model.tau):
                raise ConfigError(
                    f"LinearAR coefficients have shape {model.coef_.shape}, expected "
                    f"({model.horizon}, {model.tau}, F)"
                )
        return model

    def _check(self, X) -> np.ndarray:
        X = _windows(X).astype(np.float64)
        if X.shape[1] != self.tau:
            raise ConfigError(
                f"LinearAR(tau={self.tau}) takes windows of {self.tau} steps, got {X.shape[1]}; "
                f"window the data with --tau {self.tau}"
            )
        return X


class NLinear(LinearAR):
    """NLinear in closed form: least squares from the window minus its last value (each column
    its own) to the next H target values minus the last target value.

    In terms of the raw window this is a linear AR whose target weights sum to one for every
    step: shifting the whole window by a constant shifts the forecast by it, so a series whose
    level drifts away from the training range (ETTh1's test months) is forecast from where it
    is, not pulled back to the training mean.

    Args: as ``LinearAR``.
    """

    kind = "nlinear"

    def _inputs(self, X):
        last = X[:, -1:, :]  # (N, 1, F)
        return (X - last).reshape(len(X), -1), X[:, -1, :1].astype(np.float64)

    def _window_coef(self, W, tau, F):
        W = W.reshape(self.horizon, tau, F)
        coef = W.copy()
        coef[:, -1, :] -= W.sum(axis=1)  # w . (x - last) = w . x - (sum w) last
        coef[:, -1, 0] += 1.0  # + the last target value
        return coef


class DLinear(LinearAR):
    """DLinear in closed form: a map from the window's trend (a centred moving average of
    ``kernel`` steps, the ends padded with the first and last values) and one from the
    remainder, summed, fitted jointly by least squares.

    Args:
        tau, horizon, ridge: as ``LinearAR``.
        kernel: moving-average length (25 in the paper); odd.
    """

    kind = "dlinear"

    def __init__(self, tau: int, horizon: int = 1, ridge: float = 1e-6, kernel: int = 25):
        super().__init__(tau, horizon, ridge)
        if (
            isinstance(kernel, bool)
            or not isinstance(kernel, int | np.integer)
            or kernel < 1
            or kernel % 2 == 0
        ):
            raise ConfigError(f"DLinear's kernel must be a positive odd integer, got {kernel!r}")
        self.kernel = kernel

    def trend_matrix(self) -> np.ndarray:
        """(tau, tau) ``A`` with ``trend = A @ window`` along time."""
        half = self.kernel // 2
        A = np.zeros((self.tau, self.tau))
        for i in range(self.tau):
            for j in range(i - half, i + half + 1):
                A[i, min(max(j, 0), self.tau - 1)] += 1.0 / self.kernel
        return A

    def _inputs(self, X):
        A = self.trend_matrix()
        trend = np.einsum("st,ntf->nsf", A, X)  # (N, tau, F)
        parts = np.concatenate([trend, X - trend], axis=1)  # (N, 2 tau, F)
        return parts.reshape(len(X), -1), np.zeros((len(X), 1))

    def _window_coef(self, W, tau, F):
        W = W.reshape(self.horizon, 2, tau, F)
        A = self.trend_matrix()
        # w_t . (A x) + w_s . ((I - A) x) = (w_t A + w_s (I - A)) . x
        return np.einsum("hsf,st->htf", W[:, 0] - W[:, 1], A) + W[:, 1]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "kernel": self.kernel}

    @classmethod
    def from_dict(cls, d: dict) -> DLinear:
        model = super().from_dict(d)
        model.kernel = int(d.get("kernel", 25))
        return model


LINEAR = {m.kind: m for m in (LinearAR, NLinear, DLinear)}


def _windows(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] == 0 or X.shape[2] == 0:
        raise ConfigError(f"baselines take windows (N, tau, F), got shape {X.shape}")
    return X
