"""The forecasting task for the one ``Trainer``: shuffled windows, MSE on the next H values,
the best validation MSE picks the weights; ``fit_forecaster`` trains a model on windows."""

from __future__ import annotations

import tempfile
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import LoopConfig
from rnnkit.errors import ConfigError, DataError, RunDirError, TrainingError
from rnnkit.forecast.config import NEURAL, ForecastConfig
from rnnkit.forecast.models import SkipForecaster
from rnnkit.forecast.pipeline import ForecastRun, build_model, load, prepare
from rnnkit.registry.runs import read_run
from rnnkit.runtime import pick_device
from rnnkit.train.checkpoint import RunDir, load_weights
from rnnkit.train.task import Task, rank_rows, resumed_config, summary_history
from rnnkit.train.trainer import Trainer, fit_or_stop

Split = tuple[np.ndarray, np.ndarray]  # X (N, tau, F), Y (N, H)


class ForecastTask(Task):
    """Fit a forecaster to map windows to their next H values (see ``rnnkit.train.task.Task``).

    Either ``config`` is a ``ForecastConfig`` (the series is loaded, scaled and windowed from
    it and the run directory gets its ``run.json``), or ``model`` and ``arrays`` are given
    with a plain ``LoopConfig`` (training on windows already made; nothing but checkpoints is
    written).

    Args:
        config: the run's configuration.
        model: a model to train in place instead of one built from ``config``.
        arrays: ``(train, valid)`` splits ``(X, Y)``, X (N, tau, F) and Y (N, H); valid may be
            None.
    """

    kind = "forecast"
    what = "forecasting run"
    config_cls = ForecastConfig
    metric = "valid_mse"
    higher_is_better = False
    unit = "windows"

    def __init__(self, config: LoopConfig, model=None, arrays: tuple | None = None):
        self.config, self.model, self.arrays = config, model, arrays
        self.prep = None

    def load(self, echo) -> None:
        if self.arrays is None:
            self.prep = prepare(self.config, load(self.config))
            train, valid = self.prep.windows["train"][:2], self.prep.windows.get("valid")
            if valid is not None:  # scored at the model's own horizon (1 for step by step)
                valid = valid[0], valid[1][:, : self.config.model_horizon]
        else:
            train, valid = self.arrays
        self.X, self.Y = _tensors(train, "train")
        self.valid = _tensors(valid, "valid") if valid is not None else None

    def build_model(self):
        if self.model is None:
            self.model = build_model(self.config, self.X.shape[-1])
            if isinstance(self.model, SkipForecaster):
                self.model.fit_skip(self.X.numpy(), self.Y.numpy())
        _check_horizon(self.model, self.Y, self.valid)
        return self.model

    @property
    def eval_at_start(self) -> bool:
        # A skip model starts at its linear fit: scored before the first step, that start is
        # a candidate for the best weights, so training can only improve on it on valid.
        return isinstance(self.model, SkipForecaster)

    def num_batches(self, epoch: int) -> int:
        return -(-len(self.X) // self.config.batch_size)

    def batches(self, epoch: int, start: int, rank: int, world: int):
        # Epoch e visits the windows in the (e+1)-th permutation drawn from a generator seeded
        # with the seed: the order of every epoch follows from (seed, epoch) alone, so a
        # resumed run sees what an uninterrupted one does.
        gen = torch.Generator().manual_seed(self.config.seed)
        for _ in range(epoch + 1):
            order = torch.randperm(len(self.X), generator=gen)
        size = self.config.batch_size
        for i in range(start * size, len(order), size):
            idx = rank_rows(order[i : i + size], rank, world)
            yield self.X[idx], self.Y[idx]

    def loss(self, model, batch, state):
        X, Y = batch  # (N, tau, F), (N, H)
        return F.mse_loss(model(X), Y), len(X), None

    def has_valid(self) -> bool:
        return self.valid is not None

    def evaluate(self, model, dist, autocast) -> dict[str, float]:
        X, Y = self.valid
        device = next(model.parameters()).device
        model.eval()
        total = 0.0
        size = self.config.batch_size
        with torch.no_grad():
            for i in range(0, len(X), size):
                pred = model(X[i : i + size].to(device))
                total += F.mse_loss(pred, Y[i : i + size].to(device), reduction="sum").item()
        return {"valid_mse": total / Y.numel()}  # the trainer refuses a non-finite one

    def describe(self, result: dict[str, float]) -> str:
        return f"valid mse {result['valid_mse']:.5g}"

    def signature(self) -> dict:
        return {"windows": len(self.X), "features": int(self.X.shape[-1])}

    def title(self) -> str:
        c = self.config
        return f"{getattr(c, 'model', 'forecaster')} on {getattr(c, 'data', None) or 'windows'}"

    def run_doc(self, history: dict):
        if self.prep is None:
            return None  # windows given directly: no series to describe
        return ForecastRun(self.config, self.prep, self.model, history=history).run_doc()


def fit(task: ForecastTask, out=None, log=None, progress: bool = False):
    """``(model on its best weights, in eval mode, history)`` after training ``task`` with the
    one ``Trainer`` into ``out`` (a temporary folder when None); the history is the one a
    forecasting run keeps (``summary_history``)."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(task, out if out is not None else tmp, echo=log, progress=progress)
        history = fit_or_stop(trainer)
        load_weights(trainer.model, trainer.run.best_path, trainer.device)
    return trainer.model.eval(), summary_history(history)


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


def resumed_task(run: RunDir, overrides: dict) -> ForecastTask:
    """The task of the forecasting run in ``run`` with ``overrides`` applied."""
    saved = read_run(run.path, "forecast").run_config(ForecastConfig)
    if saved.model not in NEURAL:
        raise RunDirError(f"{run.path} holds a {saved.model} baseline: nothing to resume")
    config, _ = resumed_config(saved, overrides)
    return ForecastTask(config)


def _tensors(split: Split, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        X, Y = split
    except (TypeError, ValueError):
        raise DataError(f"the {name} split must be a pair (X, Y) of arrays") from None
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    Y = torch.as_tensor(np.asarray(Y, dtype=np.float32))
    if X.dim() != 3 or Y.dim() != 2 or len(X) != len(Y):
        raise DataError(
            f"the {name} split needs X (N, tau, F) and Y (N, H), got {tuple(X.shape)} and "
            f"{tuple(Y.shape)}"
        )
    if len(X) == 0:
        raise DataError(
            f"the {name} split has no windows; use a longer series or smaller --tau/--horizon"
        )
    bad = int((~torch.isfinite(X)).sum() + (~torch.isfinite(Y)).sum())
    if bad:
        raise TrainingError(
            f"the {name} windows hold {bad} non-finite values; fill or drop the gaps in the data"
        )
    return X, Y


def _check_horizon(model, Y, valid) -> None:
    # F.mse_loss would broadcast (N, 1) against (N, H) and train on a wrong target.
    H = getattr(model, "horizon", None)
    widths = {Y.size(1)} | ({valid[1].size(1)} if valid else set())
    if H is not None and widths != {H}:
        raise ConfigError(
            f"the model forecasts {H} step(s) but the targets have {sorted(widths)} columns; "
            f"window the data with the model's horizon ({H})"
        )
