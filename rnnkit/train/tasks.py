"""Which task a run directory belongs to, for resuming it: the file each kind writes first."""

from __future__ import annotations

import importlib

from rnnkit.registry.runs import RUN_KINDS
from rnnkit.train.checkpoint import RunDir
from rnnkit.train.task import Task

# kind -> the module whose ``resumed_task`` rebuilds its task
TASKS = {
    "lm": "rnnkit.train.lm_task",
    "seq2seq": "rnnkit.seq2seq.task",
    "classify": "rnnkit.classify.task",
    "forecast": "rnnkit.forecast.task",
}


def resumed_task(run: RunDir, overrides: dict) -> Task:
    """The task of the run in ``run``, its saved config updated with ``overrides`` (only the
    fields a resumed run may change) and its vocabularies read back."""
    marked = (k for k in TASKS if (run.path / RUN_KINDS[k].marker).exists())
    return importlib.import_module(TASKS[next(marked, "lm")]).resumed_task(run, overrides)
