"""Precision, compilation and data parallelism on this CPU: what each flag does to speed.

Three parts, each against its float32 / one-process reference measured in the same run:

- ``speed``: training tokens/s of `rnnkit train` for every combination of ``--precision
  fp32|bf16`` and ``--compile`` with both backends, on tinyshakespeare characters (2x512 LSTM,
  batch 64, 100 steps: the char-rnn recipe). Each variant runs as its own fresh process,
  twice, variants interleaved; tokens/s is the trainer's own figure from ``metrics.jsonl``
  over the windows after the first two (compilation happens there), and the compile time is
  the first window's excess over a steady one.
- ``quality``: the validation perplexity after the same number of steps in fp32 and bf16 (same
  seed, same batches): what bf16's 8-bit mantissa costs.
- ``ddp``: `torchrun --nproc_per_node=2` (gloo, one thread each) against one process with one
  and with two threads, at the same global batch.

    python bench/scaling.py                      # all three
    python bench/scaling.py --parts speed --backends scratch --steps 60 --reps 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine, save  # noqa: E402

CHAR_RNN = ["--data", "tinyshakespeare", "--model", "lstm", "--hidden-size", "512"]
CHAR_RNN += ["--num-layers", "2", "--batch-size", "64", "--seq-len", "100", "--dropout", "0"]


def train(args: list[str], out: Path, threads: int = 1, nproc: int = 1) -> list[dict]:
    """Run one `rnnkit train` (under torchrun when ``nproc`` > 1); its metrics rows."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    launch = [sys.executable, "-m", "rnnkit"]
    if nproc > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launch += [f"--nproc_per_node={nproc}", "-m", "rnnkit"]
    cmd = launch + ["train", *args, "--out", str(out), "--overwrite", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def throughput(rows: list[dict], log_every: int) -> dict:
    """Steady tokens/s (windows after the first two) and the first window's extra seconds."""
    train_rows = [r for r in rows if r["kind"] == "train"]
    steady = [r["tokens_per_s"] for r in train_rows[2:]]
    tps = statistics.median(steady)
    tokens = log_every * 64 * 100  # tokens in one window: steps x batch x seq-len
    first_s = tokens / train_rows[0]["tokens_per_s"]
    return {"tokens_per_s": tps, "first_window_extra_s": first_s - tokens / tps}


def part_speed(steps: int, reps: int, work: Path, backends: list[str]) -> list[dict]:
    variants = []
    for backend in backends:
        for precision in ("fp32", "bf16"):
            for compiled in (False, True):
                variants.append((backend, precision, compiled))
    results = {v: [] for v in variants}
    log_every = 10
    for rep in range(reps):
        for backend, precision, compiled in variants:
            args = CHAR_RNN + ["--backend", backend, "--precision", precision]
            args += ["--compile" if compiled else "--no-compile", "--max-steps", str(steps)]
            args += ["--log-every", str(log_every), "--seed", "0"]
            t0 = time.perf_counter()
            rows = train(args, work / "speed")
            r = throughput(rows, log_every)
            r["wall_s"] = time.perf_counter() - t0
            results[(backend, precision, compiled)].append(r)
            print(f"rep {rep} {backend} {precision} compile={compiled}: {r}", flush=True)
    table = []
    for backend, precision, compiled in variants:
        runs = results[(backend, precision, compiled)]
        ref = results[(backend, "fp32", False)]
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        ref_tps = statistics.median(r["tokens_per_s"] for r in ref)
        table.append(
            {
                "backend": backend,
                "precision": precision,
                "compile": compiled,
                "tokens_per_s": tps,
                "tokens_per_s_runs": [r["tokens_per_s"] for r in runs],
                "speedup_vs_fp32_eager": tps / ref_tps,
                "first_window_extra_s": statistics.median(r["first_window_extra_s"] for r in runs),
                "wall_s": statistics.median(r["wall_s"] for r in runs),
            }
        )
    return table


def part_quality(steps: int, work: Path) -> list[dict]:
    table = []
    for precision in ("fp32", "bf16"):
        args = CHAR_RNN + ["--precision", precision, "--max-steps", str(steps)]
        args += ["--log-every", "50", "--seed", "0"]
        rows = train(args, work / f"quality-{precision}")
        evals = [r for r in rows if r["kind"] == "eval"]
        train_rows = [r for r in rows if r["kind"] == "train"]
        table.append(
            {
                "precision": precision,
                "steps": steps,
                "valid_ppl": evals[-1]["valid_ppl"],
                "last_train_loss": train_rows[-1]["train_loss"],
            }
        )
        print(table[-1], flush=True)
    return table


def part_ddp(steps: int, reps: int, work: Path) -> list[dict]:
    setups = [("1 process, 1 thread", 1, 1), ("1 process, 2 threads", 2, 1)]
    setups.append(("torchrun 2 processes (gloo), 1 thread each", 1, 2))
    results = {name: [] for name, _, _ in setups}
    for _ in range(reps):
        for name, threads, nproc in setups:
            args = CHAR_RNN + ["--max-steps", str(steps), "--log-every", "10", "--seed", "0"]
            rows = train(args, work / "ddp", threads=threads, nproc=nproc)
            results[name].append(throughput(rows, 10)["tokens_per_s"])
            print(name, results[name][-1], flush=True)
    ref = statistics.median(results[setups[0][0]])
    return [
        {
            "setup": name,
            "tokens_per_s": statistics.median(v),
            "runs": v,
            "speedup_vs_one_thread": statistics.median(v) / ref,
        }
        for name, v in results.items()
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,quality,ddp")
    p.add_argument("--steps", type=int, default=60, help="steps per speed run")
    p.add_argument("--quality-steps", type=int, default=400)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--backends", default="torch,scratch", help="for the speed part")
    a = p.parse_args()
    parts = a.parts.split(",")
    result = {"machine": machine(), "config": " ".join(CHAR_RNN)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "speed" in parts:
            result["speed"] = part_speed(a.steps, a.reps, work, a.backends.split(","))
        if "quality" in parts:
            result["quality"] = part_quality(a.quality_steps, work)
        if "ddp" in parts:
            result["ddp"] = part_ddp(a.steps, a.reps, work)
    print(json.dumps(result, indent=2))
    name = "scaling-" + "-".join(parts)
    if "speed" in parts and a.backends != "torch,scratch":
        name += "-" + "-".join(a.backends.split(","))
    print("saved", save(name, result))


if __name__ == "__main__":
    main()
