"""Forecasting models on windows of a series, and the three ways to forecast several steps.

Every model reads a window ``x`` (N, tau, F) of the last tau observations (column 0 of F is the
target series, the others exogenous features) and returns ``(N, horizon)`` predictions of the
next ``horizon`` target values:

- ``ARMLP``: an autoregressive MLP on the flattened window, the classic baseline;
- ``RNNForecaster``: a recurrent stack reads the window and its last hidden state, a summary of
  the whole past (a latent autoregressive model), goes through a linear output layer.

Three forecasting strategies; they are easy to confuse, and they answer different questions:

- **one-step-ahead** (``"one-step"``): every prediction comes from observed data only. A
  horizon-1 model is applied to true windows, so errors never feed back. This is what a
  training or validation loss measures, and it flatters a model: it is not a k-step forecast.
- **recursive k-step-ahead** (``"recursive"``): a horizon-1 model is fed its own predictions
  back, k times: predict x_{t+1}, append it to the window, drop the oldest value, predict
  x_{t+2}, and so on. One model serves every k, but errors compound with k. It needs the
  future of every input column, so it only works on the target alone (F == 1).
- **direct multi-horizon** (``"direct"``): a horizon-H model predicts all H steps at once
  from observed data, one output per step; nothing is fed back, so exogenous features are
  fine, but the model only forecasts the H steps it was trained for.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn

from rnnkit.bounds import check
from rnnkit.decode import decoding
from rnnkit.errors import ConfigError, DataError, check_choice
from rnnkit.forecast.config import NEURAL, STRATEGIES
from rnnkit.nn.recurrent import BACKENDS, build_recurrent
from rnnkit.runtime import pick_device


@dataclass(frozen=True)
class ForecasterConfig:
    """Shape of a forecaster; JSON-able through ``to_dict`` / ``build_forecaster``.

    Args:
        model: ``mlp``, ``rnn``, ``lstm``, ``gru``, ``mingru`` or ``minlstm``.
        num_features: F, columns per time step (the target first).
        tau: window length; required by ``mlp``, recorded (not needed) by the recurrent models.
        hidden: hidden units; ``None`` means 10 for ``mlp``, 64 for the recurrent models.
        num_layers: stacked recurrent layers (recurrent models only).
        backend: ``torch`` or ``scratch`` (recurrent models only).
        horizon: H, outputs per window.
        dropout: between recurrent layers and before the output layer (recurrent models only).

    ``num_layers``, ``backend`` and ``dropout`` are accepted and ignored for ``mlp``, so one
    dict shape serves every model.
    """

    model: str
    num_features: int
    tau: int | None = None
    hidden: int | None = None
    num_layers: int = 1
    backend: str = "torch"
    horizon: int = 1
    dropout: float = 0.0

    def __post_init__(self):
        check_choice("model", self.model, NEURAL)
        if self.hidden is None:
            object.__setattr__(self, "hidden", 10 if self.model == "mlp" else 64)
        if self.model == "mlp" and self.tau is None:
            raise ConfigError("the mlp forecaster needs the window length; set tau (--tau)")
        for name in ("num_features", "tau", "hidden", "num_layers", "horizon"):
            value = getattr(self, name)
            if value is None and name == "tau":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        check_choice("backend", self.backend, BACKENDS)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise ConfigError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        check("dropout", self.dropout)

    @classmethod
    def from_dict(cls, config: dict) -> ForecasterConfig:
        if not isinstance(config, dict):
            raise ConfigError(f"a forecaster config is a dict, got {type(config).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown forecaster config key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(known)}"
            )
        for name in ("model", "num_features"):
            if name not in config:
                raise ConfigError(f"forecaster config is missing {name!r}")
        return cls(**config)

    def to_dict(self) -> dict:
        return asdict(self)


class ARMLP(nn.Module):
    """Autoregressive MLP: flattened window -> Linear -> ReLU -> Linear(horizon).

    Args:
        tau: window length.
        num_features: F.
        hidden: hidden units.
        horizon: H, outputs per window.

    Shape:
        - Input: ``x`` (N, tau, F).
        - Output: (N, H).
    """

    def __init__(self, tau: int, num_features: int, hidden: int = 10, horizon: int = 1):
        super().__init__()
        self.config = ForecasterConfig("mlp", num_features, tau, hidden, horizon=horizon)
        self.horizon = horizon
        self.net = nn.Sequential(
            nn.Flatten(),  # (N, tau * F)
            nn.Linear(tau * num_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, horizon),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_window(x, self.config)
        return self.net(x)


class RNNForecaster(nn.Module):
    """A recurrent stack over the window; its top layer's last hidden state -> Linear(horizon).

    Args:
        num_features: F.
        hidden: hidden units per layer.
        num_layers: stacked recurrent layers.
        model: ``lstm``, ``gru``, ``rnn``, ``mingru`` or ``minlstm``.
        backend: ``torch`` or ``scratch`` (see ``rnnkit.nn.recurrent.BACKENDS``); the two
            share parameter names, so a ``state_dict`` moves between them.
        horizon: H, outputs per window.
        dropout: between stacked layers and on the last hidden state.
        tau: window length the model is meant for; only recorded in ``config``.

    Shape:
        - Input: ``x`` (N, tau, F), batch-first, any tau.
        - Output: (N, H).
    """

    def __init__(
        self,
        num_features: int,
        hidden: int = 64,
        num_layers: int = 1,
        model: str = "lstm",
        backend: str = "torch",
        horizon: int = 1,
        dropout: float = 0.0,
        tau: int | None = None,
    ):
        super().__init__()
        if model == "mlp":
            raise ConfigError("RNNForecaster is recurrent; build an mlp with ARMLP")
        self.config = c = ForecasterConfig(
            model, num_features, tau, hidden, num_layers, backend, horizon, dropout
        )
        self.horizon = horizon
        self.rnn = build_recurrent(c.model, num_features, c.hidden, num_layers, dropout, backend)
        # Identity when off: a p=0 dropout still costs a pass over the activations.
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(c.hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_window(x, self.config)
        # The recurrent kernels are time-major.
        out, _ = self.rnn(x.transpose(0, 1))  # (tau, N, hidden), top layer at every step
        return self.head(self.drop(out[-1]))  # (N, H)


def build_forecaster(config: dict | ForecasterConfig) -> nn.Module:
    """An untrained ``ARMLP`` or ``RNNForecaster`` from a JSON-able dict (see
    ``ForecasterConfig``); ``build_forecaster(model.config.to_dict())`` rebuilds ``model``."""
    c = config if isinstance(config, ForecasterConfig) else ForecasterConfig.from_dict(config)
    if c.model == "mlp":
        return ARMLP(c.tau, c.num_features, c.hidden, c.horizon)
    return RNNForecaster(
        c.num_features, c.hidden, c.num_layers, c.model, c.backend, c.horizon, c.dropout, c.tau
    )


def _check_window(x: torch.Tensor, c: ForecasterConfig) -> None:
    if x.dim() != 3 or x.size(-1) != c.num_features or (c.model == "mlp" and x.size(1) != c.tau):
        tau = c.tau if c.model == "mlp" else "tau"
        raise ConfigError(
            f"the {c.model} forecaster takes windows (N, {tau}, {c.num_features}), got "
            f"{tuple(x.shape)}; window the data with the model's --tau and features"
        )


class LastValueResidual(nn.Module):
    """Forecast the change from the last observed target value instead of the level.

    ``forward(x) = inner(x - last) + last`` with ``last = x[:, -1, 0]`` taken off the target
    column of the input and added to every output step (the last-value normalisation of
    NLinear, Zeng et al. 2023). A persistent series then starts from the naive forecast and the
    network learns the departures from it; inputs far outside the training range (a trend) are
    shifted back into it.
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.horizon = inner.horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, last = _minus_last(x)
        return self.inner(x) + last[:, :, 0]  # (N, H)


def _minus_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows (N, tau, F) with the last target value taken off the target column only, and
    that value (N, 1, 1)."""
    last = x[:, -1:, :1]
    return x - torch.cat([last, torch.zeros_like(x[:, -1:, 1:])], dim=-1), last


class SkipForecaster(nn.Module):
    """A closed-form linear forecast plus a network that learns what it misses.

    ``forward(x) = skip(x[:, :, 0]) + inner(x')``: ``skip`` is a ``Linear(tau, H)`` on the
    target column holding a least-squares fit (``fit_skip``), kept fixed; the network's output
    layer starts at zero, so training starts exactly at the linear forecast and the best-on-valid
    weights are never worse than it on valid (the task evaluates once before the first step).

    Args:
        inner: a forecaster (``ARMLP`` or ``RNNForecaster``) of horizon H.
        skip: ``nlinear``: the fit is NLinear's (window minus its last value) and the network
            reads the window with the last target value subtracted from the target column, as
            ``LastValueResidual``; ``linear``: a plain linear AR, the network reads the window
            as it is.
        tau: window length (the skip path takes exactly tau steps).

    Shape:
        - Input: ``x`` (N, tau, F).
        - Output: (N, H).
    """

    def __init__(self, inner: nn.Module, skip: str, tau: int):
        super().__init__()
        check_choice("skip", skip, ("nlinear", "linear"))
        self.inner, self.kind, self.tau = inner, skip, tau
        self.config, self.horizon = inner.config, inner.horizon
        self.skip = nn.Linear(tau, inner.horizon)
        self.skip.requires_grad_(False)
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.bias.zero_()
            head = [m for m in inner.modules() if isinstance(m, nn.Linear)][-1]
            head.weight.zero_()
            head.bias.zero_()

    def fit_skip(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Set the skip path to the least-squares fit of training windows ``X`` (N, tau, F)
        (target column only) to their targets ``Y`` (N, H)."""
        from rnnkit.forecast.baselines import LINEAR

        fit = LINEAR[self.kind](self.tau, self.horizon).fit(np.asarray(X)[:, :, :1], Y)
        with torch.no_grad():
            self.skip.weight.copy_(torch.as_tensor(fit.coef_[:, :, 0]))
            self.skip.bias.copy_(torch.as_tensor(fit.intercept_))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.size(1) != self.tau:
            raise ConfigError(
                f"the {self.kind} skip path takes windows (N, {self.tau}, F), got "
                f"{tuple(x.shape)}; window the data with --tau {self.tau}"
            )
        linear = self.skip(x[:, :, 0])  # (N, H)
        if self.kind == "nlinear":
            x, _ = _minus_last(x)
        return linear + self.inner(x)


# ---- strategies ---------------------------------------------------------------------------------
def forecast(model: nn.Module, x, steps: int, strategy: str = "direct"):
    """Forecast ``steps`` target values after each window, without gradients, in eval mode.

    Inputs:
        - **model**: a forecaster (``forward(x) -> (N, H)``).
        - **x**: windows (N, tau, F), a tensor or an array.
        - **steps**: k; ``one-step`` needs 1, ``direct`` the model's horizon H.
        - **strategy**: ``one-step``, ``recursive`` or ``direct`` (see the module docstring).

    Outputs: (N, steps), of the same kind (tensor on ``x``'s device, or array) as ``x``.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check("horizon", steps, label="steps", integer=True)
    if strategy == "recursive":
        return recursive_forecast(model, x, steps)
    if strategy == "one-step" and steps != 1:
        raise ConfigError(
            f"one-step-ahead forecasting predicts 1 step from observed data, asked for {steps}; "
            "use --strategy recursive or direct for more steps"
        )
    with _inference(model, x) as (xt, back):
        out = model(xt)  # (N, H)
        if strategy == "one-step":
            return back(out[:, :1])  # the first output of any model is a one-step forecast
        if out.size(1) != steps:
            raise ConfigError(
                f"direct forecasting gives the model's {out.size(1)} steps, asked for {steps}; "
                f"ask for {out.size(1)} or retrain with --horizon {steps}"
            )
        return back(out)


def recursive_forecast(model: nn.Module, x, steps: int):
    """Feed a horizon-1 model its own predictions back, ``steps`` times.

    Inputs: ``x`` (N, tau, 1) windows of the target alone (a tensor or an array).
    Outputs: (N, steps); column k - 1 is the k-step-ahead forecast.
    """
    check("horizon", steps, label="steps", integer=True)
    with _inference(model, x) as (window, back):
        if window.dim() != 3:
            raise ConfigError(f"forecasting takes windows (N, tau, F), got {tuple(window.shape)}")
        if window.size(-1) != 1:
            raise ConfigError(
                f"recursive forecasting needs future feature values (the windows have "
                f"{window.size(-1) - 1} exogenous features); use --strategy direct with a model "
                "trained for the full --horizon, or drop the features"
            )
        preds = []
        for _ in range(steps):
            y = model(window)  # (N, H)
            if y.size(1) != 1:
                raise ConfigError(
                    f"recursive forecasting feeds back one step at a time, but the model has "
                    f"horizon {y.size(1)}; use --strategy direct or train with --horizon 1"
                )
            preds.append(y)
            # Slide: drop the oldest value, append the prediction as the newest one.
            window = torch.cat([window[:, 1:], y[:, :, None]], dim=1)  # (N, tau, 1)
        return back(torch.cat(preds, dim=1))  # (N, steps)


def predict(
    model: nn.Module, X: np.ndarray, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Forecasts (N, H) float32 for windows ``X`` (N, tau, F), in eval mode without gradients
    (the model's mode is restored afterwards)."""
    dev = pick_device(device)
    model.to(dev)
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if Xt.dim() != 3:
        raise DataError(f"predict takes windows (N, tau, F), got shape {tuple(Xt.shape)}")
    with decoding(model):
        out = [model(Xt[i : i + batch_size].to(dev)).cpu() for i in range(0, len(Xt), batch_size)]
    if not out:
        return np.zeros((0, getattr(model, "horizon", None) or 0), dtype=np.float32)
    return torch.cat(out).numpy()


@contextmanager
def _inference(model: nn.Module, x):
    """``with _inference(model, x) as (xt, back)``: ``xt`` is ``x`` as a tensor on the model's
    device and dtype, ``back(out)`` returns ``out`` as the kind ``x`` was. No gradients, eval
    mode; the model's mode is restored afterwards."""
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    as_array = not isinstance(x, torch.Tensor)
    x = torch.as_tensor(np.asarray(x)) if as_array else x
    in_device = x.device

    def back(out: torch.Tensor):
        return out.cpu().numpy() if as_array else out.to(in_device)

    with decoding(model):
        yield x.to(device=device, dtype=dtype), back
