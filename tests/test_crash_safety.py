"""Crash safety: SIGKILL at random moments, crashes inside a checkpoint, signals, full disks.

Each scenario ends with the run finished by resuming, and its final weights compared with those
of a run that was never interrupted (same seed, CPU, one thread: bitwise equal).
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.config import TrainConfig
from rnnkit.errors import StorageError
from rnnkit.train import trainer as trainer_module
from rnnkit.train.checkpoint import RunDir
from rnnkit.train.lm_task import LMTask
from rnnkit.train.trainer import Trainer, resume_trainer
from tests.conftest import cli_env, one_line_error, tiny_lm_config

TEXT = "".join(f"the quick brown fox {i % 7} jumps over the lazy dog {i % 5}\n" for i in range(400))


class Crash(BaseException):
    """Stands for the process dying: nothing in rnnkit catches a BaseException."""


def config(tmp_path, **kw) -> TrainConfig:
    # dropout: the RNG must be restored too
    kw = {"num_layers": 2, "eval_every": 2, "dropout": 0.2, **kw}
    return tiny_lm_config(tmp_path, TEXT, **kw)


def straight(tmp_path, **kw) -> dict:
    Trainer(LMTask(config(tmp_path, **kw)), tmp_path / "straight", echo=None, progress=False).fit()
    return load_file(tmp_path / "straight" / "last.safetensors")


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def finish(run: Path, steps: int) -> dict:
    resume_trainer(run, {"max_steps": steps}, echo=None, progress=False).fit()
    return load_file(run / "last.safetensors")


# ---- a crash at each point of a checkpoint -----------------------------------------------------
def crash_on_call(monkeypatch, owner, name: str, call: int, only=lambda *a: True) -> None:
    """Make ``owner.name`` raise ``Crash`` on its ``call``-th call (1-based) among the calls
    whose arguments pass ``only``."""
    real, count = getattr(owner, name), {"n": 0}

    def patched(*args, **kwargs):
        if only(*args):
            count["n"] += 1
            if count["n"] == call:
                raise Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


# save_weights is called for next then (first checkpoint only) best; save_state; os.replace.
@pytest.mark.parametrize(
    "where",
    ["next weights", "trainer state", "final rename"],
)
def test_crash_inside_a_checkpoint_resumes_exactly(tmp_path, monkeypatch, where):
    want = straight(tmp_path)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        if where == "next weights":
            crash_on_call(m, trainer_module, "save_weights", 5)  # in the 3rd checkpoint
        elif where == "trainer state":
            crash_on_call(m, trainer_module, "save_state", 3)
        else:
            renames_next = lambda src, dst: str(src).endswith("last.next.safetensors")  # noqa: E731
            crash_on_call(m, trainer_module.os, "replace", 3, only=renames_next)
        with pytest.raises(Crash):
            Trainer(LMTask(config(tmp_path)), run, echo=None, progress=False).fit()
    rd = RunDir(run)
    state_step = torch.load(rd.state_path, weights_only=True)["step"]
    # Before the state was replaced the old checkpoint stands; after, the new one is finished.
    assert state_step == (6 if where == "final rename" else 4)
    assert rd.next_path.exists() == (where != "next weights")  # stale or waiting
    assert_same_weights(finish(run, 12), want)
    assert not rd.next_path.exists()


def test_a_stale_next_file_is_discarded(tmp_path):
    want = straight(tmp_path)
    run, other = tmp_path / "run", tmp_path / "other"
    Trainer(LMTask(config(tmp_path, max_steps=4)), run, echo=None, progress=False).fit()
    Trainer(LMTask(config(tmp_path, max_steps=2, seed=1)), other, echo=None, progress=False).fit()
    # Weights the trainer state does not name: left by a crash before the state was written.
    (other / "last.safetensors").rename(RunDir(run).next_path)
    assert_same_weights(finish(run, 12), want)
    assert not RunDir(run).next_path.exists()


# ---- SIGKILL at random moments, in a real process ----------------------------------------------
def _train_cmd(run: Path, data: Path, resume: bool, steps: int = 80) -> list[str]:
    base = [sys.executable, "-m", "rnnkit", "train"]
    if resume:
        return base + ["--resume", str(run), "--quiet"]
    return base + [
        "--data",
        str(data),
        "--tokenizer",
        "char",
        "--hidden-size",
        "64",
        "--num-layers",
        "2",
        "--seq-len",
        "12",
        "--batch-size",
        "4",
        "--max-steps",
        str(steps),
        "--eval-every",
        "2",
        "--eval-batch-size",
        "2",
        "--dropout",
        "0.2",
        "--seed",
        "3",
        "--quiet",
        "--overwrite",
        "--out",
        str(run),
    ]


def _writing(run: Path) -> bool:
    """Whether a temporary file of an atomic write is in ``run``."""
    try:
        return any(name.endswith(".tmp") for name in os.listdir(run))
    except FileNotFoundError:
        return False


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _wait_for_handler(proc: subprocess.Popen, sig: int, timeout: float = 60) -> None:
    """Wait until ``proc`` catches ``sig`` (Linux: the SigCgt mask of /proc/PID/status), so a
    signal sent then meets rnnkit's handler, however slow the interpreter was to start."""
    deadline = time.monotonic() + timeout
    while True:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(
            next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16
        )
        if caught >> (sig - 1) & 1:
            return
        assert time.monotonic() < deadline and proc.poll() is None, "no handler installed"
        time.sleep(0.05)


def _freeze_inside_a_write(proc: subprocess.Popen, run: Path, deadline: float) -> None:
    """Stop ``proc`` (SIGSTOP) while a temporary file shows a write under way; a write that
    ended between the look and the stop lets it go on to the next one."""
    while proc.poll() is None:
        while proc.poll() is None and not _writing(run):
            assert time.monotonic() < deadline, "no checkpoint write seen"
        proc.send_signal(signal.SIGSTOP)
        if _writing(run):
            return  # frozen inside the write: the kill lands there
        proc.send_signal(signal.SIGCONT)


def kill_and_resume(run: Path, data: Path, kills: int, seed: int, steps: int) -> dict:
    """Start training; SIGKILL it ``kills`` times, each time resuming from what is on disk;
    let it finish. Each attempt is let write one checkpoint of its own (so the run moves on);
    then even kills come at a random moment, odd ones while a temporary file shows that a
    write is under way (the process is stopped there first, so the kill is inside it).

    Returns counts: kills, resumes, restarts, kills that left a checkpoint half written.
    """
    rng = random.Random(seed)
    stats = {"kills": 0, "resumed": 0, "restarted": 0, "mid_write": 0}
    resume = False
    while True:
        state_before = _mtime(run / "trainer_state.pt")
        proc = subprocess.Popen(
            _train_cmd(run, data, resume, steps),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        if stats["kills"] < kills:
            deadline = time.monotonic() + 60
            while _mtime(run / "trainer_state.pt") == state_before and proc.poll() is None:
                assert time.monotonic() < deadline, "no checkpoint written"
                time.sleep(0.005)
            if stats["kills"] % 2:
                _freeze_inside_a_write(proc, run, deadline)
            else:
                time.sleep(rng.uniform(0.0, 0.3))
        if stats["kills"] < kills and proc.poll() is None:
            proc.kill()
            proc.wait()
            stats["kills"] += 1
            if _writing(run) or RunDir(run).next_path.exists():
                stats["mid_write"] += 1  # the kill cut a checkpoint short
            rd = RunDir(run)
            resume = rd.state_path.exists() and (rd.last_path.exists() or rd.next_path.exists())
            stats["resumed" if resume else "restarted"] += 1
            continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        return stats


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    ref = tmp_path / "ref"
    kills = int(os.environ.get("RNNKIT_KILLS", "10"))
    steps = 8 * kills  # 4 checkpoints per attempt, so every kill finds the run still going
    subprocess.run(_train_cmd(ref, data, False, steps), env=cli_env(), check=True)
    run = tmp_path / "run"
    stats = kill_and_resume(run, data, kills, seed=0, steps=steps)
    print(json.dumps(stats))
    assert stats["kills"] == kills and stats["resumed"] == kills
    assert stats["mid_write"] >= kills // 2  # every other kill lands inside a write
    assert_same_weights(load_file(run / "last.safetensors"), load_file(ref / "last.safetensors"))
    assert_same_weights(load_file(run / "model.safetensors"), load_file(ref / "model.safetensors"))
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in rows if r["kind"] == "train"]
    assert logged == list(range(10, steps + 1, 10))  # replayed steps are logged once


# ---- SIGINT / SIGTERM --------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_train_cmd(ref, data, False), env=cli_env(), check=True)
    proc = subprocess.Popen(
        _train_cmd(run, data, False), stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    deadline = time.monotonic() + 60
    while not (run / "trainer_state.pt").exists():  # a first checkpoint, then the signal
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"{sig.name} at step ") and "--resume" in lines[0]
    step = int(lines[0].split(" at step ")[1].split(":")[0])
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    assert state["step"] == step  # the checkpoint is the step it stopped at
    assert step < 80, "the signal came after training ended"
    code = subprocess.run(_train_cmd(run, data, True), env=cli_env()).returncode
    assert code == 0
    assert_same_weights(load_file(run / "last.safetensors"), load_file(ref / "last.safetensors"))


# ---- disk full, read-only ----------------------------------------------------------------------
def fail_on_call(monkeypatch, owner, name, call, err):
    real, count = getattr(owner, name), {"n": 0}

    def patched(*args, **kwargs):
        count["n"] += 1
        if count["n"] >= call:
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


@pytest.mark.parametrize(
    "where,err",
    [("fsync", errno.ENOSPC), ("mkstemp", errno.EROFS), ("mkstemp", errno.EACCES)],
)
def test_full_or_read_only_disk_is_one_line_and_keeps_the_checkpoint(
    tmp_path, monkeypatch, where, err
):
    from rnnkit import io

    want = straight(tmp_path)
    run = tmp_path / "run"
    t = Trainer(LMTask(config(tmp_path)), run, echo=None, progress=False)
    # The first checkpoint (step 2) writes config, vocab, next, best, state: let it through.
    calls_before = {"fsync": 6, "mkstemp": 6}[where]
    with monkeypatch.context() as m:
        owner = io.os if where == "fsync" else io.tempfile
        fail_on_call(m, owner, where, calls_before + 1, err)
        msg = one_line_error(StorageError, t.fit)
    assert os.strerror(err) in msg and "free disk space" in msg
    rd = RunDir(run)
    assert torch.load(rd.state_path, weights_only=True)["step"] == 2
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert_same_weights(finish(run, 12), want)


def test_metrics_log_on_a_full_disk(tmp_path, monkeypatch):
    from rnnkit.train.metrics import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.write({"step": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("builtins.open", full)
    assert "No space left" in one_line_error(StorageError, log.write, {"step": 2})
    monkeypatch.undo()
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_weight_files_carry_their_checksum(tmp_path):
    from rnnkit.integrity import stored_digest, tensors_digest

    run = tmp_path / "r"
    Trainer(LMTask(config(tmp_path, max_steps=2)), run, echo=None, progress=False).fit()
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    assert stored_digest(run / "last.safetensors") == state["weights_sha256"]
    for name in ("model.safetensors", "last.safetensors"):
        assert stored_digest(run / name) == tensors_digest(load_file(run / name))


def test_sigterm_checkpoints_every_task_and_stops_other_commands_like_ctrl_c(tmp_path, seq2seq_run):
    """Every training command checkpoints on SIGTERM (here a translation model's) and says how
    to continue; a command without checkpoints (here translate, waiting on its input) ends
    with one line. Both exit with 143, their saved files whole."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"a b {i % 9}\tB A {i % 9}\n" for i in range(400)), encoding="utf-8")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "rnnkit", "seq2seq", "train", "--tsv", str(pairs)]
    cmd += ["--epochs", "10000", "--quiet", "--out", str(run)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=cli_env())
    deadline = time.monotonic() + 60
    while not (run / "model.safetensors").exists():  # an epoch has been saved
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("SIGTERM at step ") and "Traceback" not in err
    assert f"rnnkit seq2seq train --resume {run}" in last
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    from rnnkit.integrity import digest_mismatch

    for weights in (run / "model.safetensors", run / "last.safetensors"):
        assert digest_mismatch(weights, load_file(weights)) is None

    _, model, _, _ = seq2seq_run
    cmd = [sys.executable, "-m", "rnnkit", "translate", str(model)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    _wait_for_handler(proc, signal.SIGTERM)  # rnnkit is running (Python alone dies of it)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "terminated" and "Traceback" not in err
