"""Data-parallel training: batch sharding, and 2 CPU processes (gloo) against one process."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.data.lm_batches import LMBatches, eval_batches
from rnnkit.errors import DataError
from rnnkit.train.distributed import Dist
from tests.conftest import call_cli, cli_env, one_line_error

IDS = np.arange(5_000) % 97


@pytest.mark.parametrize("sampling", ["sequential", "random"])
@pytest.mark.parametrize("world", [2, 4])
def test_rank_shards_make_up_the_global_batch(sampling, world):
    whole = list(LMBatches(IDS, 8, 10, sampling, seed=3).epoch(1))
    shards = [list(LMBatches(IDS, 8, 10, sampling, 3, r, world).epoch(1)) for r in range(world)]
    assert all(len(s) == len(whole) for s in shards)
    for b, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([s[b][0] for s in shards]), x)
        assert torch.equal(torch.cat([s[b][1] for s in shards]), y)
        assert all(s[b][0].shape == (8 // world, 10) for s in shards)


def test_sequential_shards_stay_contiguous_per_rank():
    batches = list(LMBatches(IDS, 8, 10, "sequential", 0, rank=1, world_size=2).epoch(0))
    for (x0, _), (x1, _) in zip(batches, batches[1:], strict=False):
        # Every row of the next batch starts where the same row of this one ended.
        assert torch.equal(x1[:, 0], (x0[:, -1] + 1) % 97)


def test_resume_mid_epoch_with_shards():
    full = list(LMBatches(IDS, 6, 10, "random", 1, rank=2, world_size=3).epoch(0))
    tail = list(LMBatches(IDS, 6, 10, "random", 1, rank=2, world_size=3).epoch(0, start=5))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[5:], tail, strict=True))


def test_batch_size_must_divide_by_processes():
    msg = one_line_error(DataError, LMBatches, IDS, 6, 10, "sequential", 0, 0, 4)
    assert "--batch-size 6" in msg and "multiple of 4" in msg


@pytest.mark.parametrize("world", [2, 3, 7])
def test_eval_shards_cover_the_same_tokens(world):
    whole = list(eval_batches(IDS[:997], 5, 7))
    shards = [list(eval_batches(IDS[:997], 5, 7, r, world)) for r in range(world)]
    for b, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([s[b][0] for s in shards if s]), x)
        assert torch.equal(torch.cat([s[b][1] for s in shards if s]), y)
    assert sum(len(s) == 0 for s in shards) == max(0, world - 5)  # more ranks than streams


def test_single_process_helpers_are_identities():
    d = Dist()
    state = (torch.randn(2, 4, 3), torch.randn(2, 4, 3))
    assert d.gather_rows(state) is state and d.own_rows(state, 4) is state
    assert d.sum([1.5, 2.0]) == [1.5, 2.0]
    assert d.stack(torch.arange(3)).shape == (1, 3)
    two = Dist(rank=1, world_size=2)
    assert two.rows(8) == slice(4, 8)
    assert torch.equal(two.own_rows(state, 4)[0], state[0][:, 2:])


def test_commands_other_than_train_refuse_torchrun(monkeypatch, trained_run):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    code, _, err = call_cli(["generate", trained_run, "--length", "3"])
    assert code == 2
    assert err.strip().splitlines() == [
        "[rank 1] error: `rnnkit generate "
        + str(trained_run)
        + "` runs in one process; only the training commands (`rnnkit train`, "
        "`rnnkit poem|seq2seq|classify|tag|forecast train`) run under torchrun with several "
        "processes"
    ]


# ---- two processes -----------------------------------------------------------------------------
def _corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    rng = np.random.default_rng(0)
    lines = [f"the quick brown fox {i % 7} jumps over {rng.random():.3f}\n" for i in range(300)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _args(tmp_path, out, sampling, steps):
    return [
        "train",
        "--data",
        _corpus(tmp_path),
        "--tokenizer",
        "char",
        "--hidden-size",
        "16",
        "--num-layers",
        "2",
        "--seq-len",
        "12",
        "--batch-size",
        "4",
        "--sampling",
        sampling,
        "--max-steps",
        str(steps),
        "--log-every",
        "1",
        "--eval-every",
        "3",
        "--quiet",
        "--out",
        out,
    ]


def _torchrun(args, nproc=2):
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        + [f"--nproc_per_node={nproc}", "-m", "rnnkit", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _curve(run, kind="train"):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    key = "train_loss" if kind == "train" else "valid_loss"
    return [(r["step"], r[key]) for r in rows if r["kind"] == kind]


def _same_run(a, b, extra_evals=()):
    """Same losses at every step, same evaluations (``b`` may have more at ``extra_evals``:
    the run that stopped there evaluated before saving), same final weights."""
    for kind in ("train", "eval"):
        skip = extra_evals if kind == "eval" else ()
        ca, cb = _curve(a, kind), [r for r in _curve(b, kind) if r[0] not in skip]
        assert [s for s, _ in ca] == [s for s, _ in cb]  # one row per step: rank 0 alone logs
        np.testing.assert_allclose([v for _, v in ca], [v for _, v in cb], rtol=1e-5)
    wa, wb = load_file(a / "last.safetensors"), load_file(b / "last.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sampling", ["sequential", "random"])
def test_two_gloo_processes_match_one_with_the_same_global_batch(tmp_path, sampling):
    single, two = tmp_path / "single", tmp_path / "two"
    assert call_cli(_args(tmp_path, single, sampling, 8))[0] == 0
    _torchrun(_args(tmp_path, two, sampling, 8))
    _same_run(single, two)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in single.iterdir())
    state = torch.load(two / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng_torch_ranks"]) == 2
    if sampling == "sequential":  # the saved hidden state is the global one
        assert state["hidden"][0].shape == (2, 4, 16)


def test_resume_with_another_number_of_processes(tmp_path):
    straight, moved = tmp_path / "straight", tmp_path / "moved"
    assert call_cli(_args(tmp_path, straight, "sequential", 8))[0] == 0
    _torchrun(_args(tmp_path, moved, "sequential", 4))  # 2 processes for 4 steps ...
    code, _, err = call_cli(["train", "--resume", moved, "--max-steps", "8", "--quiet"])
    assert code == 0, err  # ... then one process to step 8
    _same_run(straight, moved, extra_evals={4})


def test_sigterm_stops_every_process_at_the_same_step(tmp_path):
    """torchrun forwards SIGTERM to its processes; they agree on the step to stop at, rank 0
    saves the checkpoint, and one process resumes it to the uninterrupted weights."""
    import signal
    import time

    straight, run = tmp_path / "straight", tmp_path / "run"
    assert call_cli(_args(tmp_path, straight, "sequential", 400))[0] == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.Popen(
        cmd + ["-m", "rnnkit", *map(str, _args(tmp_path, run, "sequential", 400))],
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    deadline = time.monotonic() + 120
    while not (run / "trainer_state.pt").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0  # torchrun reports its workers' 143
    stops = [line for line in err.splitlines() if line.startswith("SIGTERM at step ")]
    assert len(stops) == 1, err  # rank 0 alone speaks
    step = int(stops[0].split(" at step ")[1].split(":")[0])
    assert torch.load(run / "trainer_state.pt", weights_only=True)["step"] == step < 400
    code, _, err = call_cli(["train", "--resume", run, "--quiet"])
    assert code == 0, err
    _same_run(straight, run, extra_evals={step})
