"""Quality runs through the CLI: train, then evaluate, and record the budget that was spent.

    python bench/quality.py char --minutes 15      # tinyshakespeare char LSTM, valid nats/char
    python bench/quality.py ptb-small             # Zaremba "small" on PTB, test perplexity

Each writes bench/results/quality-<name>.json with the figures, the training budget (steps,
epochs, wall time) and the commands that were run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save  # noqa: E402

RNNKIT = [sys.executable, "-m", "rnnkit"]

CHAR = [
    "--data",
    "tinyshakespeare",
    "--tokenizer",
    "char",
    "--model",
    "lstm",
    "--hidden-size",
    "512",
    "--num-layers",
    "2",
    "--batch-size",
    "64",
    "--seq-len",
    "100",
    "--dropout",
    "0.2",
    "--lr",
    "2e-3",
    "--eval-every",
    "250",
    "--epochs",
    "100",
]


def sh(args: list[str]) -> str:
    print("$ rnnkit", " ".join(args), flush=True)
    done = subprocess.run(RNNKIT + args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"command failed:\n{done.stderr[-2000:]}")
    return done.stdout


def budget(run: Path) -> dict:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    last = evals[-1]
    return {
        "steps": last["step"],
        "epochs_completed": last["epoch"],
        "train_seconds": last["elapsed_s"],
        "evaluations": len(evals),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["char", "ptb-small"])
    ap.add_argument("--minutes", type=float, default=15.0, help="char: time budget (0: none)")
    ap.add_argument("--steps", type=int, default=0, help="char: step budget (0: none)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or f"runs/bench-{args.which}")
    t0 = time.time()
    if args.which == "char":
        train = [
            *CHAR,
            "--max-minutes",
            str(args.minutes),
            "--max-steps",
            str(args.steps),
            "--out",
            str(out),
            "--overwrite",
            "--quiet",
        ]
        sh(["train", *train])
        res = json.loads(sh(["eval", str(out), "--split", "valid", "--json"]))
        result = {
            "valid_nats_per_char": res["loss"],
            "valid_bits_per_char": res["loss"] / math.log(2),
            "valid_perplexity": res["perplexity"],
            "split": "tinyshakespeare valid (last 10%)",
            "train_command": train,
        }
    else:
        train = ["--config", "configs/ptb-small.yaml", "--out", str(out), "--overwrite", "--quiet"]
        sh(["train", *train])
        res = json.loads(
            sh(
                [
                    "eval",
                    str(out),
                    "--data",
                    "ptb",
                    "--split",
                    "test",
                    "--batch-size",
                    "1",
                    "--json",
                ]
            )
        )
        val = json.loads(
            sh(
                [
                    "eval",
                    str(out),
                    "--data",
                    "ptb",
                    "--split",
                    "valid",
                    "--batch-size",
                    "1",
                    "--json",
                ]
            )
        )
        result = {
            "test_perplexity": res["perplexity"],
            "valid_perplexity": val["perplexity"],
            "published": "114.5 (Zaremba et al. 2014, small, non-regularized)",
            "train_command": train,
        }
    result |= {"budget": budget(out), "wall_seconds": time.time() - t0, "machine": machine()}
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    print("saved", save(f"quality-{args.which}", result))


if __name__ == "__main__":
    main()
