"""Which task a run directory belongs to, for resuming it: the file each kind writes first."""

from __future__ import annotations

import importlib

from rnnkit.train.checkpoint import RunDir
from rnnkit.train.task import Task

# kind -> (the file that marks it, the module whose ``resumed_task`` rebuilds its task)
TASKS = {
    "lm": ("config.yaml", "rnnkit.train.lm_task"),
    "seq2seq": ("seq2seq.json", "rnnkit.seq2seq.task"),
    "classify": ("classify.json", "rnnkit.classify.task"),
    "forecast": ("forecast.json", "rnnkit.forecast.task"),
}


def resumed_task(run: RunDir, overrides: dict) -> Task:
    """The task of the run in ``run``, its saved config updated with ``overrides`` (only the
    fields a resumed run may change) and its vocabularies read back."""
    kind = next((k for k, (marker, _) in TASKS.items() if (run.path / marker).exists()), "lm")
    return importlib.import_module(TASKS[kind][1]).resumed_task(run, overrides)
