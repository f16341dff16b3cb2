"""`rnnkit forecast`: plots of the end of a split (--last, --from), the step budget of the
defaults, and the line that says when a baseline beat the model."""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import call_cli, write_csv

from rnnkit.forecast.pipeline import ForecastConfig


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A linear-AR run (fitted in closed form) on 1,500 daily rows: 300 test rows."""
    root = tmp_path_factory.mktemp("fcplot")
    data = write_csv(root / "sales.csv", n=1500)
    out = root / "run"
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--model", "linear"]
    code, _, stderr = call_cli([*args, "--tau", "14", "--horizon", "7", "--out", out])
    assert code == 0, stderr
    return out


def test_plot_shows_the_last_rows_with_the_horizon_by_default(long_run, tmp_path):
    png = tmp_path / "p.png"
    code, stdout, stderr = call_cli(["forecast", "plot", long_run, "--out", png])
    assert code == 0, stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # test rows 1,200-1,499 are 2023-04-15 to 2024-02-08; the last window forecasts 7 days
    assert "the last 200 of 300 test rows (2023-07-24 to 2024-02-08)" in stdout
    assert "with the 7-step forecast from 2024-02-02" in stdout


def test_plot_last_and_from(long_run, tmp_path):
    png = tmp_path / "p.png"
    code, stdout, _ = call_cli(["forecast", "plot", long_run, "--out", png, "--last", "30"])
    assert code == 0 and "the last 30 of 300 test rows (2024-01-10 to 2024-02-08)" in stdout
    code, stdout, _ = call_cli(["forecast", "plot", long_run, "--out", png, "--last", "0"])
    assert code == 0 and "all 300 test rows" in stdout
    code, stdout, _ = call_cli(["forecast", "plot", long_run, "--out", png, "--from", "2024-01-01"])
    assert code == 0 and "the last 39 of 300 test rows (2024-01-01 to 2024-02-08)" in stdout
    # too few rows for the horizon: the plot still holds the whole 7-step forecast
    code, stdout, _ = call_cli(["forecast", "plot", long_run, "--out", png, "--last", "2"])
    assert code == 0 and "the last 7 of 300" in stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--from", "2030-01-01"], "after the test split's last row (2024-02-08)"),
        (["--from", "yesterday"], "is not a time of this series"),
        (["--from", "2024-01-01", "--last", "10"], "not both"),
        (["--last", "-1"], "-1"),
    ],
)
def test_plot_bad_range_is_one_line(long_run, tmp_path, extra, message):
    code, _, stderr = call_cli(["forecast", "plot", long_run, "--out", tmp_path / "p.png", *extra])
    assert code == 2 and message in stderr
    assert "Traceback" not in stderr


def test_defaults_are_a_step_budget_that_a_short_series_uses_up(tmp_path):
    defaults = ForecastConfig(data="sine")
    assert defaults.max_steps == 1000 and defaults.epochs * 1 >= defaults.max_steps
    code, stdout, _ = call_cli(["forecast", "train", "--help"])
    entry = stdout.split("\n  --max-steps ", 1)[1].split("\n  --", 1)[0]  # its help lines
    assert code == 0 and "[default: 1000]" in entry
    # 120 rows give 2 batches an epoch: a budget of 40 steps is 20 epochs, not cut at 10
    data = write_csv(tmp_path / "short.csv", n=120)
    out = tmp_path / "run"
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--tau", "7"]
    args += ["--hidden-size", "4", "--max-steps", "40", "--out", out]
    code, _, stderr = call_cli(args)
    assert code == 0, stderr
    history = json.loads((out / "run.json").read_text())["history"]
    assert history["steps"] == 40 and history["stop"] == "max_steps"


def _trend_csv(path, n=200):
    """A straight line rising out of the range of its training rows."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "y"])
        for i in range(n):
            w.writerow([i, f"{10 + 0.5 * i + (i % 3) * 0.01:.4f}"])
    return path


def test_train_and_eval_say_when_a_baseline_wins(tmp_path):
    data = _trend_csv(tmp_path / "trend.csv")
    out = tmp_path / "run"
    args = ["forecast", "train", "--csv", data, "--target", "y", "--tau", "8"]
    net = ["--hidden-size", "4", "--max-steps", "5", "--skip", "none"]
    code, stdout, stderr = call_cli([*args, *net, "--out", out])
    assert code == 0, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1
    # on a straight line linear AR and NLinear are both exact, to rounding
    assert re.match(
        r"warning: lstm \(direct\) is worse than the n?linear baseline on test", lines[0]
    )
    assert "--skip nlinear" in lines[0] and "linear" in stdout
    code, _, stderr = call_cli(["forecast", "eval", out, "--split", "valid", "--json"])
    assert code == 0 and "linear baseline on valid" in stderr
    # a model that beats every baseline printed gets no warning
    best = tmp_path / "linear"
    code, _, stderr = call_cli([*args, "--model", "linear", "--out", best])
    assert code == 0 and "warning" not in stderr
