"""How long one invocation of a training command trains, and the words for it.

``--epochs`` and ``--max-steps`` count the whole run (a resumed run stops at the same step an
uninterrupted one would); ``--max-minutes`` counts the training time of this invocation. On
resume the limits given on the command line replace the earlier ones; of those not given, the
earlier time budget is dropped and a step or epoch limit is kept while the run has not reached
it. Every decision is said in the line that starts the resumed run.
"""

from __future__ import annotations

import dataclasses

from rnnkit.bounds import flag
from rnnkit.errors import ConfigError

BUDGETS = ("epochs", "max_steps", "max_minutes")


@dataclasses.dataclass(frozen=True)
class Resumed:
    """The limits of a resumed invocation: ``changes`` to the config, ``notes`` saying them."""

    changes: dict
    notes: list[str]


def resumed_budgets(config, given, step: int, epoch: int) -> Resumed:
    """The limits a run resumed at ``step`` (``epoch`` epochs done) trains to.

    Args:
        config: the run's config with the flags given on resume applied.
        given: names of the config fields given on the command line.

    Raises ``ConfigError`` when a limit given is already behind the run, or when the run has
    reached a limit that nothing given replaces (it would stop at once).
    """
    given = set(given) & set(BUDGETS)
    changes, notes = {}, []
    for name, done, unit in (("max_steps", step, "steps"), ("epochs", epoch, "epochs")):
        limit = getattr(config, name)
        if name in given and limit and limit <= done:
            raise ConfigError(
                f"{flag(name)} {limit} counts the whole run, which has done {done} {unit}; "
                f"give more than {done}"
            )
    if config.max_minutes and "max_minutes" not in given:
        notes.append(f"the earlier --max-minutes {config.max_minutes:g} is not carried over")
        changes["max_minutes"] = 0.0
    if config.max_steps and "max_steps" not in given and config.max_steps <= step:
        if not given:
            raise ConfigError(
                f"the run stopped at step {step}, its --max-steps {config.max_steps}; give a new "
                "limit to go on: --max-steps N, --epochs N or --max-minutes N"
            )
        notes.append(f"the earlier --max-steps {config.max_steps} (reached) is lifted")
        changes["max_steps"] = 0
    if "epochs" not in given and config.epochs <= epoch:
        raise ConfigError(
            f"the run has done its {config.epochs} epochs (--epochs {config.epochs}); give "
            f"--epochs N with N > {config.epochs} to go on"
        )
    return Resumed(changes, notes)


def describe_limits(config) -> str:
    """The limits in force, e.g. ``until step 640 (--max-steps 640) or epoch 10 (--epochs 10)``."""
    parts = []
    if config.max_steps:
        parts.append(f"step {config.max_steps} (--max-steps {config.max_steps})")
    parts.append(f"epoch {config.epochs} (--epochs {config.epochs})")
    if config.max_minutes:
        parts.append(
            f"{_minutes(config.max_minutes)} of training (--max-minutes {config.max_minutes:g})"
        )
    return "until " + " or ".join(parts)


def bar_total(step_limit: int, config, step: int, steps_done: int, seconds: float) -> int:
    """What a progress bar counts to: ``step_limit`` (epochs and --max-steps), or, when the time
    budget ends the run first, the step it will have reached by then at the pace of this
    invocation so far (``steps_done`` steps in ``seconds``), so the bar's ETA is the budget's.
    """
    budget = 60 * config.max_minutes
    if not budget or steps_done <= 0 or seconds <= 0:
        return step_limit
    return min(step_limit, step + max(0, round((budget - seconds) * steps_done / seconds)))


def stop_message(reason: str, step: int, config, run, command: str, best: str = "") -> str:
    """The line printed when training ends: which limit ended it (``reason``, as the history
    names it), ``best`` (e.g. ``; best valid ppl 4.57``) and the command that continues it."""
    resume = f"{command} --resume {run}"
    if reason == "time budget":
        minutes = config.max_minutes
        what = f"stopped after {_minutes(minutes)} (--max-minutes {minutes:g}) at step {step}"
        more = f"{resume} --max-minutes N"
    elif reason == "max_steps":
        what = f"stopped at step {step} (--max-steps {config.max_steps})"
        more = f"{resume} --max-steps N (N > {step})"
    elif reason == "early stopping":
        what = (
            f"stopped early at step {step}: {config.patience} evaluations without improvement "
            f"(--patience {config.patience})"
        )
        more = f"{resume} --patience N (N > {config.patience})"
    else:  # epochs
        what = f"stopped after {config.epochs} epochs (--epochs {config.epochs}) at step {step}"
        more = f"{resume} --epochs N (N > {config.epochs})"
    return f"{what}{best}; run saved in {run}; continue with `{more}`"


def _minutes(m: float) -> str:
    return f"{m:g} minute" + ("" if m == 1 else "s")
