"""Fitting a forecaster on windows (with the one ``Trainer``) and predicting with it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from rnnkit.decode import decoding
from rnnkit.errors import ConfigError, DataError
from rnnkit.runtime import pick_device

Split = tuple[np.ndarray, np.ndarray]  # X (N, tau, F), Y (N, H)


def fit_forecaster(
    model: nn.Module,
    train: Split,
    valid: Split | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    clip: float | None = 1.0,
    weight_decay: float = 0.0,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    patience: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train ``model`` in place to map windows to their next H values, with the one
    ``Trainer`` (checkpoints in a temporary folder).

    Each epoch visits the training windows once in an order set by ``(seed, epoch)``, then
    scores the validation windows. The best-on-valid weights are loaded at the end (the final
    ones without ``valid``) and the model is left in eval mode; the caller's global random
    state is left as it was.

    Args:
        train, valid: ``(X, Y)`` with X (N, tau, F) and Y (N, H) float arrays; ``valid`` may
            be None.
        clip: max gradient norm; 0 or None turns clipping off.
        max_steps, max_minutes, patience: budgets and early stopping; None or 0 is off.
        log: called with one line per evaluation.

    Returns: the history (``rnnkit.train.task.summary_history``) of the metric ``valid_mse``,
    each row with ``train_loss``.
    """
    from rnnkit.config import LoopConfig
    from rnnkit.forecast.task import ForecastTask, fit

    if patience and valid is None:
        raise ConfigError("early stopping (--patience) needs validation windows; drop --patience")
    config = LoopConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        clip=clip or 0.0,
        weight_decay=weight_decay,
        max_steps=max_steps or 0,
        max_minutes=max_minutes or 0.0,
        patience=patience or 0,
        lr_schedule="constant",
        seed=seed,
        device=device,
    )
    dev = pick_device(device)
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        _, history = fit(ForecastTask(config, model=model, arrays=(train, valid)), log=log)
    return history


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
