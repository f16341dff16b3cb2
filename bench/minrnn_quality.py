"""minGRU / minLSTM against the LSTM at equal CPU time: validation loss after the same budget.

    python bench/minrnn_quality.py --data tinyshakespeare --cpu-minutes 15   # char level
    python bench/minrnn_quality.py --data ptb --cpu-minutes 30               # word level

Each model trains through ``rnnkit train`` in its own process, on one thread, with the same
flags except ``--model``. The process's CPU time is the clock of its ``Trainer``: the budget,
the ``elapsed_s`` of ``metrics.jsonl`` and so the curves count CPU seconds, not wall-clock
seconds, so that other work on the machine neither shortens one run nor favours one model
(``--jobs 2`` then runs two models at once without changing what each gets). Evaluation is
part of the budget, as in a wall-clock run.

Recipes: tinyshakespeare is the char-level LSTM 2x512 row of BENCHMARKS.md (``quality.py
char``'s flags); PTB is one Adam recipe for all cells (2x256, dropout 0.3, seq 35, batch 32),
since Zaremba's plain SGD at lr 20 is tuned for the LSTM alone. Writes
``bench/results/minrnn-quality-<data>.json`` and the curves (validation loss against CPU
minutes) to ``docs/minrnn-curves-<data>.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from common import machine, save  # noqa: E402
from quality import CHAR  # noqa: E402

MODELS = ("lstm", "mingru", "minlstm")
PTB = [
    "--data", "ptb", "--tokenizer", "word", "--hidden-size", "256", "--num-layers", "2",
    "--dropout", "0.3", "--seq-len", "35", "--batch-size", "32", "--sampling", "sequential",
    "--optimizer", "adam", "--lr", "2e-3", "--clip", "1.0", "--eval-every", "500",
    "--eval-batch-size", "10", "--epochs", "100",
]  # fmt: skip


def recipe(data: str, model: str) -> list[str]:
    """The training flags of ``data`` with ``model`` as the cell."""
    flags = list(CHAR if data == "tinyshakespeare" else PTB)
    if "--model" in flags:
        i = flags.index("--model")
        del flags[i : i + 2]
    return [*flags, "--model", model]


def child(argv: list[str]) -> None:
    """``rnnkit train`` with the Trainer reading CPU time where it reads the wall clock."""
    import rnnkit.train.trainer as trainer
    from rnnkit.cli import main

    class CpuClock:  # the ``time`` module, but perf_counter is this process's CPU time
        perf_counter = staticmethod(time.process_time)

        def __getattr__(self, name):
            return getattr(time, name)

    trainer.time = CpuClock()
    main(argv)


def run(cmd: list[str], log: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print("$", " ".join(cmd), flush=True)
    with log.open("w") as f:
        done = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"command failed (see {log}):\n{log.read_text()[-2000:]}")


def train_and_eval(data: str, model: str, minutes: float, root: Path) -> dict:
    out = root / f"{data}-{model}"
    flags = [*recipe(data, model), "--max-minutes", str(minutes), "--out", str(out)]
    t0 = time.time()
    run(
        [sys.executable, __file__, "--child", "train", *flags, "--overwrite", "--quiet"],
        root / f"{data}-{model}.train.log",
    )
    wall = time.time() - t0
    rnnkit = [sys.executable, "-m", "rnnkit"]
    scores = {}
    for split in ("valid", "test") if data == "ptb" else ("valid",):
        log = root / f"{data}-{model}.eval-{split}.log"
        run([*rnnkit, "eval", str(out), "--split", split, "--json"], log)
        scores[split] = json.loads(log.read_text().strip().splitlines()[-1])
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval" and "valid_loss" in r]
    return {
        "model": model,
        "valid_loss": scores["valid"]["loss"],
        "valid_perplexity": scores["valid"]["perplexity"],
        **({"test_perplexity": scores["test"]["perplexity"]} if "test" in scores else {}),
        "steps": evals[-1]["step"],
        "epochs_completed": evals[-1]["epoch"],
        "cpu_seconds": evals[-1]["elapsed_s"],
        "wall_seconds": wall,
        "curve": [(r["elapsed_s"] / 60, r["valid_loss"], r["step"]) for r in evals],
        "train_command": ["rnnkit", "train", *flags],
    }


def plot(data: str, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in rows:
        minutes, loss, _ = zip(*r["curve"], strict=True)
        ax.plot(minutes, loss, marker=".", label=f"{r['model']} ({r['valid_loss']:.4f})")
    unit = "nats/char" if data == "tinyshakespeare" else "nats/word"
    ax.set(xlabel="CPU minutes (one thread)", ylabel=f"validation loss ({unit})")
    ax.set_title(f"{data}: validation loss at equal CPU time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["tinyshakespeare", "ptb"], default="tinyshakespeare")
    ap.add_argument("--cpu-minutes", type=float, default=15.0, help="training budget per model")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated cells")
    ap.add_argument("--jobs", type=int, default=2, help="models trained at once")
    ap.add_argument("--runs", default="runs/minrnn-quality", help="where the runs go")
    args = ap.parse_args()
    root = Path(args.runs)
    root.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    t0 = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(
            pool.map(lambda m: train_and_eval(args.data, m, args.cpu_minutes, root), models)
        )
    lstm = next((r for r in rows if r["model"] == "lstm"), None)
    for r in rows:
        if lstm:
            r["valid_loss_minus_lstm"] = r["valid_loss"] - lstm["valid_loss"]
        print(
            f"{r['model']:8s} valid loss {r['valid_loss']:.4f} "
            f"({r['valid_loss'] / math.log(2):.3f} bits) after {r['steps']} steps, "
            f"{r['cpu_seconds'] / 60:.1f} CPU min"
        )
    png = Path("docs") / f"minrnn-curves-{args.data}.png"
    plot(args.data, rows, png)
    save(
        f"minrnn-quality-{args.data}",
        {
            "cpu_minutes": args.cpu_minutes,
            "threads_per_model": 1,
            "rows": rows,
            "plot": str(png),
            "wall_seconds": time.time() - t0,
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
