"""Which task a run directory belongs to, for resuming it: the kind its run file names."""

from __future__ import annotations

import importlib

from rnnkit.errors import RunDirError
from rnnkit.registry.runs import RUN_KINDS, run_kind
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
    kind = run_kind(run.path) or "lm"  # no run (or a damaged one): the LM task says why
    if kind not in TASKS:
        raise RunDirError(
            f"{run.path} is an {RUN_KINDS[kind].what}, counted in one pass: there is nothing to "
            "resume; train it again with --out"
        )
    return importlib.import_module(TASKS[kind]).resumed_task(run, overrides)
