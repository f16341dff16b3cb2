"""Fitting a forecaster on windows: Adam on the MSE, best-on-valid weights, early stopping."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.errors import ConfigError, DataError, TrainingError
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
    """Train ``model`` in place to map windows to their next H values.

    Each epoch visits the training windows once in a new order (a generator seeded with
    ``seed``; dropout draws from the same seed), then scores the validation windows. Only the
    arrays given are ever read, so splits cannot mix. The best-on-valid weights are kept in
    memory and loaded at the end; the model is left in eval mode.

    Args:
        train, valid: ``(X, Y)`` with X (N, tau, F) and Y (N, H) float arrays; ``valid`` may
            be None (then the final weights are kept).
        clip: max gradient norm; 0 or None turns clipping off.
        max_steps, max_minutes: stop early after this many updates or this much time.
        patience: stop after this many epochs without a better valid MSE (needs ``valid``).
        device: ``cpu``, ``cuda``, ``auto``...
        log: called with one line per epoch.

    Returns: ``{"epochs": [{"epoch", "train_mse", "valid_mse", "seconds", "steps"}, ...],
    "best_epoch", "best_valid_mse", "steps", "seconds", "stop"}``; ``seconds`` of an epoch is
    its own duration, ``steps`` the updates so far, ``stop`` one of ``epochs``, ``max_steps``,
    ``max_minutes``, ``patience``. Without ``valid``, the valid entries are None.
    """
    _check_args(epochs, batch_size, lr, clip, weight_decay, max_steps, max_minutes, patience)
    if patience is not None and valid is None:
        raise ConfigError("early stopping (--patience) needs validation windows; drop --patience")
    dev = pick_device(device)
    model.to(dev)
    X, Y = _tensors(train, "train", dev)
    valid_t = _tensors(valid, "valid", dev) if valid is not None else None
    _check_horizon(model, Y, valid_t)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)  # the shuffling order, on the CPU everywhere
    deadline = time.perf_counter() + 60 * max_minutes if max_minutes else math.inf
    history = {"epochs": [], "best_epoch": None, "best_valid_mse": None, "steps": 0}
    best_state, bad_epochs, stop, start = None, 0, "epochs", time.perf_counter()

    # Own RNG stream for dropout: the same seed gives the same run, and the caller's global
    # random state is left as it was.
    with torch.random.fork_rng(devices=_cuda_index(dev)):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            train_mse, steps, reason = _train_epoch(
                model, optimizer, X, Y, gen, batch_size, clip, history["steps"], max_steps, deadline
            )
            history["steps"] = steps
            valid_mse = _valid_mse(model, *valid_t, batch_size) if valid_t else None
            improved = valid_mse is not None and (
                history["best_valid_mse"] is None or valid_mse < history["best_valid_mse"]
            )
            if improved:
                history["best_epoch"], history["best_valid_mse"] = epoch, valid_mse
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bad_epochs = 0 if improved else bad_epochs + 1
            seconds = time.perf_counter() - t0
            row = {"epoch": epoch, "train_mse": train_mse, "valid_mse": valid_mse}
            history["epochs"].append({**row, "seconds": seconds, "steps": steps})
            if log is not None:
                log(_epoch_line(row, seconds, improved))
            if reason:
                stop = reason
                break
            if patience is not None and bad_epochs >= patience:
                stop = "patience"
                break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history["seconds"] = time.perf_counter() - start
    history["stop"] = stop
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
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = [
                model(Xt[i : i + batch_size].to(dev)).cpu() for i in range(0, len(Xt), batch_size)
            ]
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, _horizon(model) or 0), dtype=np.float32)
    return torch.cat(out).numpy()


# ---- one epoch ----------------------------------------------------------------------------------
def _train_epoch(model, optimizer, X, Y, gen, batch_size, clip, steps, max_steps, deadline):
    """One shuffled pass over the training windows, or less when a budget runs out.

    Returns ``(train_mse, steps, stop_reason or None)``; the MSE is the mean over the windows
    visited, at the weights each batch saw.
    """
    model.train()
    order = torch.randperm(len(X), generator=gen).to(X.device)
    total, seen = 0.0, 0
    for i in range(0, len(X), batch_size):
        idx = order[i : i + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(X[idx]), Y[idx])
        value = loss.item()
        if not math.isfinite(value):
            _nonfinite(value, steps + 1, X, Y, optimizer, clip)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        steps += 1
        total, seen = total + value * len(idx), seen + len(idx)
        if max_steps is not None and steps >= max_steps:
            return total / seen, steps, "max_steps"
        if time.perf_counter() >= deadline:
            return total / seen, steps, "max_minutes"
    return total / seen, steps, None


def _valid_mse(model, X, Y, batch_size) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            total += F.mse_loss(
                model(X[i : i + batch_size]), Y[i : i + batch_size], reduction="sum"
            )
    value = total.item() / Y.numel()
    if not math.isfinite(value):
        bad = int((~torch.isfinite(X)).sum() + (~torch.isfinite(Y)).sum())
        why = f"the valid windows hold {bad} non-finite values" if bad else "the model diverged"
        raise TrainingError(f"valid MSE became {value}: {why}; fill or drop the gaps in the data")
    return value


def _nonfinite(value, step, X, Y, optimizer, clip) -> None:
    bad = int((~torch.isfinite(X)).sum() + (~torch.isfinite(Y)).sum())
    if bad:
        fix = (
            f"the training windows hold {bad} non-finite values; fill or drop the gaps in the data"
        )
    else:
        lr = optimizer.param_groups[0]["lr"]
        fix = f"lower --lr (now {lr:g}) or set --clip (now {clip or 0:g})"
    raise TrainingError(f"training loss became {value} at step {step}; {fix}")


def _epoch_line(row: dict, seconds: float, improved: bool) -> str:
    line = f"epoch {row['epoch']}: train mse {row['train_mse']:.5g}"
    if row["valid_mse"] is not None:
        line += f", valid mse {row['valid_mse']:.5g}" + (" (best)" if improved else "")
    return line + f", {seconds:.1f} s"


# ---- checks -------------------------------------------------------------------------------------
def _tensors(split: Split, name: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        X, Y = split
    except (TypeError, ValueError):
        raise DataError(f"the {name} split must be a pair (X, Y) of arrays") from None
    X = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
    Y = torch.as_tensor(np.asarray(Y, dtype=np.float32), device=device)
    if X.dim() != 3 or Y.dim() != 2 or len(X) != len(Y):
        raise DataError(
            f"the {name} split needs X (N, tau, F) and Y (N, H), got {tuple(X.shape)} and "
            f"{tuple(Y.shape)}"
        )
    if len(X) == 0:
        raise DataError(
            f"the {name} split has no windows; use a longer series or smaller --tau/--horizon"
        )
    return X, Y


def _cuda_index(dev: torch.device) -> list[int]:
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


def _horizon(model: nn.Module) -> int | None:
    return getattr(model, "horizon", None)


def _check_horizon(model, Y, valid) -> None:
    # F.mse_loss would broadcast (N, 1) against (N, H) and train on a wrong target.
    H = _horizon(model)
    widths = {Y.size(1)} | ({valid[1].size(1)} if valid else set())
    if H is not None and widths != {H}:
        raise ConfigError(
            f"the model forecasts {H} step(s) but the targets have {sorted(widths)} columns; "
            f"window the data with the model's horizon ({H})"
        )


def _check_args(epochs, batch_size, lr, clip, weight_decay, max_steps, max_minutes, patience):
    for name, value in {"epochs": epochs, "batch_size": batch_size}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    for name, value in {"max_steps": max_steps, "patience": patience}.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
    if not lr > 0:
        raise ConfigError(f"lr must be positive, got {lr}")
    if clip is not None and not clip >= 0:
        raise ConfigError(f"clip must be >= 0 (0 turns clipping off), got {clip}")
    if not weight_decay >= 0:
        raise ConfigError(f"weight_decay must be >= 0, got {weight_decay}")
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f"max_minutes must be positive or None, got {max_minutes}")
