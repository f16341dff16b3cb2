"""Budgets on the command line: what a resumed run trains to, the line that says which limit
ended a run and how to continue it, and a progress bar that counts to the binding limit."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_cli, write_tiny_text

from rnnkit.train.budgets import bar_total, resumed_budgets, stop_message

SMALL = ["--hidden-size", "16", "--num-layers", "1", "--seq-len", "16", "--batch-size", "8"]
SMALL += ["--eval-every", "1000", "--epochs", "100"]


def _steps(run) -> int:
    return json.loads((run / "run.json").read_text())["history"]["steps"]


@pytest.fixture
def timed_run(tmp_path):
    """A run stopped by a time budget of 0.01 minutes, and its stderr."""
    text = write_tiny_text(tmp_path / "tiny.txt")
    run = tmp_path / "run"
    args = ["train", "--data", text, "--out", run, "--max-minutes", "0.01", *SMALL]
    code, _, err = run_cli(args, env={"RNNKIT_PROGRESS": "1"})  # the bar, though not a terminal
    assert code == 0, err
    return run, err


def test_the_stop_line_names_the_time_budget_and_how_to_continue(timed_run):
    run, err = timed_run
    assert "stopped after 0.01 minutes (--max-minutes 0.01)" in err
    assert f"continue with `rnnkit train --resume {run} --max-minutes N`" in err


def test_resume_with_max_steps_trains_to_it_after_a_time_budget(timed_run):
    run, _ = timed_run
    target = _steps(run) + 25
    code, _, err = run_cli(["train", "--resume", run, "--max-steps", target])
    assert code == 0, err
    assert _steps(run) == target  # the earlier time budget does not stop it after one step
    assert "the earlier --max-minutes 0.01 is not carried over" in err
    assert f"stopped at step {target} (--max-steps {target})" in err


def test_max_minutes_on_resume_counts_this_invocation(timed_run):
    run, _ = timed_run
    before = _steps(run)
    code, _, err = run_cli(["train", "--resume", run, "--max-minutes", "0.01"])
    assert code == 0, err
    assert _steps(run) > before + 1  # the first run's 0.6 s are not counted again


def test_a_limit_already_behind_the_run_is_refused(timed_run):
    run, _ = timed_run
    code, _, err = run_cli(["train", "--resume", run, "--max-steps", "1", "--quiet"])
    assert code == 2
    assert "--max-steps 1 counts the whole run" in err and len(err.strip().splitlines()) == 1


def test_resuming_a_run_that_reached_its_steps_asks_for_a_new_limit(tmp_path):
    text = write_tiny_text(tmp_path / "tiny.txt")
    run = tmp_path / "run"
    args = ["train", "--data", text, "--out", run, "--max-steps", "5", *SMALL, "--quiet"]
    assert run_cli(args)[0] == 0
    code, _, err = run_cli(["train", "--resume", run, "--quiet"])
    assert code == 2 and "give a new limit" in err and "--max-steps 5" in err


def test_the_bar_counts_to_the_step_the_time_budget_ends_at(timed_run):
    run, err = timed_run
    counts = re.findall(r"(\d+)/(\d+) \[", err)
    done, total = counts[-1]
    assert done == total == str(_steps(run))  # not 94/18700 with an ETA of the epochs


class _Config:
    def __init__(self, **kw):
        self.epochs, self.max_steps, self.max_minutes, self.patience = 10, 0, 0.0, 0
        self.__dict__.update(kw)


def test_bar_total_is_the_step_limit_or_the_steps_that_fit_in_the_time():
    assert bar_total(1000, _Config(), 5, 5, 1.0) == 1000
    # 10 steps/s, 60 s budget, 6 s spent at step 60: 540 more steps fit
    assert bar_total(10_000, _Config(max_minutes=1.0), 60, 60, 6.0) == 600
    assert bar_total(300, _Config(max_minutes=1.0), 60, 60, 6.0) == 300


def test_resumed_budgets_keep_limits_ahead_and_drop_the_time_budget():
    config = _Config(max_steps=500, max_minutes=2.0)
    r = resumed_budgets(config, set(), step=100, epoch=0)
    assert r.changes == {"max_minutes": 0.0} and "not carried over" in r.notes[0]
    r = resumed_budgets(_Config(max_steps=100), {"max_minutes"}, step=100, epoch=0)
    assert r.changes == {"max_steps": 0}  # reached, and a new limit was given


@pytest.mark.parametrize(
    ("reason", "flag"),
    [("epochs", "--epochs N"), ("max_steps", "--max-steps N"), ("early stopping", "--patience N")],
)
def test_every_stop_line_says_how_to_continue(reason, flag):
    line = stop_message(reason, 40, _Config(max_steps=40, patience=3), "runs/x", "rnnkit tag train")
    assert f"continue with `rnnkit tag train --resume runs/x {flag}" in line
