"""What a task gives the one ``Trainer``: its model, batches, loss and evaluation.

The trainer owns everything that is the same for every task (seeding, device, precision,
data parallelism, the optimizer and its schedule, budgets, early stopping, checkpoints that
resume exactly, metrics, curves, signals). A task owns its data and what its numbers mean:

- ``kind``: the name of the run kind (``lm``, ``seq2seq``, ``classify``, ``forecast``).
- ``config``: its run config, a ``rnnkit.config.LoopConfig``.
- ``metric`` / ``higher_is_better``: the evaluation value that picks the best model and drives
  early stopping and the plateau schedule (joeynmt's ``early_stopping_metric``).
- ``what`` / ``config_cls``: the run in words, and the class of its config.
- ``unit``: what its items are (``tokens``, ``sentences``, ``windows``), for rates.
- ``carries_state``: whether the recurrent state flows from one batch to the next (truncated
  BPTT over contiguous streams); the trainer then keeps it, detaches it and checkpoints it.
- ``eval_at_start``: evaluate the freshly built model before the first step, so that its
  starting weights can be the best (a model that starts at a fitted baseline).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rnnkit.bounds import flag
from rnnkit.config import RESUMABLE, LoopConfig
from rnnkit.errors import RunDirError
from rnnkit.registry.runs import RUN_KINDS, RunDoc, run_kind
from rnnkit.train.checkpoint import RunDir


class Task:
    """The base of every task: the methods below without a default are the task's to write."""

    kind: str
    what: str
    config_cls: type[LoopConfig]
    config: LoopConfig
    metric: str
    higher_is_better: bool
    carries_state: bool = False
    eval_at_start: bool = False
    unit: str

    def load(self, echo) -> None:
        """Read and encode the data (rank 0 first under torchrun, so caches fill once)."""

    def build_model(self) -> torch.nn.Module:
        """A freshly initialised model (the global RNG is seeded already)."""

    def num_batches(self, epoch: int) -> int:
        """Batches in ``epoch`` (the same on every rank)."""

    def batches(self, epoch: int, start: int, rank: int, world: int) -> Iterator[Any]:
        """This rank's part of each batch of ``epoch`` from batch ``start`` on, on the CPU.

        Batches depend only on the seed, the epoch and their index, so a run resumed at batch
        ``start`` sees what an uninterrupted one would have seen.
        """

    def to_device(self, batch: Any, device: torch.device) -> Any:
        """``batch`` moved to ``device``: a tensor, a tuple of them, or anything with ``.to``."""
        if isinstance(batch, tuple):
            return tuple(t.to(device, non_blocking=True) for t in batch)
        return batch.to(device)

    def loss(self, model, batch: Any, state) -> tuple[torch.Tensor, int, Any]:
        """``(mean loss over the batch's items, number of items, next state)``."""

    def evaluate(self, model, dist, autocast) -> dict[str, float]:
        """Validation figures (``metric`` among them), the same on every rank."""

    def describe(self, result: dict[str, float]) -> str:
        """One line for an evaluation, e.g. ``valid loss 1.52, ppl 4.57``."""

    def train_row(self, mean_loss: float) -> dict[str, float]:
        """Extra figures of a training log row (e.g. the training perplexity)."""
        return {}

    def write_files(self, run: Path) -> None:
        """The task's own files in the run directory (vocabularies), on rank 0."""

    def model_config(self) -> dict | None:
        """The JSON-able config the model is built from, kept in ``run.json``."""

    def run_doc(self, history: dict) -> RunDoc | None:
        """The run file of this task with ``history`` (``summary_history``); ``None`` writes
        none."""
        return RunDoc(self.kind, self.config.to_dict(), self.model_config(), history)

    def signature(self) -> dict:
        """Values a checkpoint must agree with (e.g. vocabulary sizes) to be resumed."""
        return {}

    def has_valid(self) -> bool:
        """Whether there is validation data to evaluate on."""
        return True

    def title(self) -> str:
        """The title of the run's training curves (model and data)."""

    def state_dict(self) -> dict:
        """The task's own state for a checkpoint (e.g. a random generator it draws from)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back what ``state_dict`` gave."""


def rank_rows(idx, rank: int, world: int):
    """This rank's contiguous share of a batch's row indices ``idx``.

    A batch with fewer rows than ranks is given whole to every rank: the gradients DDP
    averages are then identical, so the update is that of one process.
    """
    n = len(idx)
    if world == 1 or n < world:
        return idx
    return idx[rank * n // world : (rank + 1) * n // world]


def summary_history(history: dict) -> dict:
    """The history a run keeps in ``run.json``, from the trainer's: one row per evaluation
    (``epoch`` is the number of finished epochs), the task's metric and its best value with
    the epoch and step it came at, steps, seconds and why training stopped."""
    keep = ("metric", "best", "best_epoch", "best_step", "steps", "seconds", "stop")
    return {"epochs": history["evaluations"], **{k: history[k] for k in keep}}


def resumed_config(saved, overrides: dict, resumable: frozenset = RESUMABLE - {"data"}):
    """``(config, changed)``: the saved config with the fields given on resume; a change to a
    field outside ``resumable`` raises ``RunDirError`` naming it. By default the data may not
    change (only a language model checks that new data gives its vocabulary)."""
    foreign = sorted(k for k in overrides if not hasattr(saved, k))
    if foreign:
        shown = ", ".join(flag(k) for k in foreign)
        raise RunDirError(
            f"{shown} is not a setting of this run; resume it with its own training command"
        )
    changed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    fixed = sorted(set(changed) - resumable)
    if fixed:
        shown = ", ".join(f"{flag(k)} (run has {getattr(saved, k)!r})" for k in fixed)
        raise RunDirError(f"cannot change {shown} when resuming; start a new run with --out")
    return saved.replace(**changed), changed


# kind -> the module whose ``resumed_task`` rebuilds its task
TASKS = {
    "lm": "rnnkit.train.lm_task",
    "seq2seq": "rnnkit.seq2seq.train",
    "classify": "rnnkit.classify.train",
    "forecast": "rnnkit.forecast.train",
}


def resumed_task(run: RunDir, overrides: dict) -> Task:
    """The task of the run in ``run`` (the kind its run file names), its saved config updated
    with ``overrides`` (only the fields a resumed run may change) and its vocabularies read
    back."""
    kind = run_kind(run.path) or "lm"  # no run (or a damaged one): the LM task says why
    if kind not in TASKS:
        raise RunDirError(
            f"{run.path} is an {RUN_KINDS[kind].what}, counted in one pass: there is nothing to "
            "resume; train it again with --out"
        )
    return importlib.import_module(TASKS[kind]).resumed_task(run, overrides)
