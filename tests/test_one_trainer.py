"""Every training command runs on the one Trainer: the same flags mean the same thing, and what
the loop gives one task (exact resume after SIGKILL, --clip 0, --precision, torchrun) it gives
them all. One small run of each kind, on data made here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import cli_env, toy_pairs, write_conll, write_csv

TEXT = "".join(f"the quick brown fox {i % 7} jumps over the lazy dog {i % 5}\n" for i in range(300))


def _lm(root: Path) -> list:
    data = root / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    return ["train", "--data", data, "--tokenizer", "char", "--hidden-size", "16"]


def _seq2seq(root: Path) -> list:
    for name, n, seed in (("train", 120, 0), ("valid", 12, 1)):
        src, tgt = toy_pairs(n, seed)
        (root / f"{name}.src").write_text("\n".join(src) + "\n")
        (root / f"{name}.tgt").write_text("\n".join(tgt) + "\n")
    return [
        *("seq2seq", "train", "--src", root / "train.src", "--tgt", root / "train.tgt"),
        *("--valid-src", root / "valid.src", "--valid-tgt", root / "valid.tgt", "--min-freq", "1"),
        *("--embed-size", "8", "--hidden-size", "16", "--batch-size", "16"),
    ]


def _classify(root: Path) -> list:
    train, valid = write_conll(root / "train.conll", 120, 0), write_conll(root / "v.conll", 20, 1)
    return [
        *("tag", "train", "--data", train, "--valid", valid, "--task", "joint"),
        *("--embed-size", "8", "--hidden-size", "8", "--char-embed", "4", "--char-filters", "4"),
        *("--batch-size", "16"),
    ]


def _forecast(root: Path) -> list:
    data = write_csv(root / "sales.csv")
    return [
        *("forecast", "train", "--csv", data, "--target", "sales", "--model", "lstm"),
        *("--tau", "14", "--horizon", "3", "--hidden-size", "8", "--batch-size", "16"),
    ]


TASKS = {"lm": _lm, "seq2seq": _seq2seq, "classify": _classify, "forecast": _forecast}


def _cmd(args: list) -> list[str]:
    return [sys.executable, "-m", "rnnkit", *map(str, args)]


def _run(args: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        _cmd(args), capture_output=True, text=True, env=cli_env(), timeout=300, **kw
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _same(a: Path, b: Path) -> None:
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def _dropout(task: str) -> list:
    # Dropout on, so the RNG has to be restored too (the forecaster of one layer has none).
    return [] if task == "forecast" else ["--dropout", "0.2"]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_clip_0_means_no_clipping(tmp_path, task):
    """--clip 0 once zeroed every gradient in some trainers: the weights never moved."""
    base = TASKS[task](tmp_path)
    runs = {}
    for steps in (1, 3):
        out = tmp_path / f"s{steps}"
        _run(
            [*base, "--clip", "0", "--max-steps", steps, "--log-every", 1, "--quiet", "--out", out]
        )
        runs[steps] = load_file(out / "last.safetensors")
    assert any(not torch.equal(runs[1][k], runs[3][k]) for k in runs[1])
    rows = [json.loads(x) for x in (tmp_path / "s3" / "metrics.jsonl").read_text().splitlines()]
    norms = [r["grad_norm"] for r in rows if r["kind"] == "train"]
    assert norms and all(n > 0 for n in norms)


def _state_step(run: Path) -> int:
    try:
        return int(torch.load(run / "trainer_state.pt", weights_only=True)["step"])
    except Exception:  # not written yet, or being replaced
        return -1


@pytest.mark.parametrize("task", sorted(TASKS))
def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, task):
    base = [*TASKS[task](tmp_path), *_dropout(task), "--seed", "3", "--eval-every", "2"]
    steps = 24
    straight = tmp_path / "straight"
    _run([*base, "--max-steps", steps, "--quiet", "--out", straight])
    run = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd([*base, "--max-steps", steps, "--quiet", "--out", run]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    deadline = time.monotonic() + 120
    while _state_step(run) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _state_step(run) < steps
    _run(_resume(base, run))
    _same(run / "last.safetensors", straight / "last.safetensors")
    _same(run / "model.safetensors", straight / "model.safetensors")


def _resume(base: list, run: Path) -> list:
    command = base[:1] if base[0] == "train" else base[:2]
    return [*command, "--resume", run, "--quiet"]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_bf16_trains_every_task(tmp_path, task):
    out = tmp_path / "bf16"
    _run([*TASKS[task](tmp_path), "--precision", "bf16", "--max-steps", 3, "--quiet", "--out", out])
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert state["step"] == 3
    assert all(torch.isfinite(t).all() for t in load_file(out / "last.safetensors").values())


def test_translation_on_two_processes_matches_one(tmp_path):
    """torchrun with 2 gloo processes: each reads half of every batch; the update is that of
    the whole batch (dropout off: the ranks draw their own masks)."""
    base = [*_seq2seq(tmp_path), "--dropout", "0", "--max-steps", "4", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    _run([*base, "--out", one])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        + ["-m", "rnnkit", *map(str, [*base, "--out", two])],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_every_training_command_takes_the_shared_flags():
    from click.testing import CliRunner

    from rnnkit.cli import cli

    shared = ["--batch-size", "--lr", "--clip", "--epochs", "--max-steps", "--max-minutes"]
    shared += ["--patience", "--seed", "--device", "--precision", "--out", "--resume"]
    shared += ["--overwrite", "--config", "--lr-schedule", "--eval-every", "--compile"]
    commands = [["train"], ["poem", "train"], ["seq2seq", "train"], ["classify", "train"]]
    commands += [["tag", "train"], ["forecast", "train"]]
    for command in commands:
        text = CliRunner().invoke(cli, [*command, "--help"]).output
        missing = [f for f in shared if f not in text]
        assert not missing, (command, missing)
