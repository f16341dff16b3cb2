"""Start-up time of the command line: `rnnkit --help` and a 100-token generation from a small
run, each in fresh processes, against `python -c "import torch"` in the same run.

Targets: `rnnkit --help` <= 0.3 s (it imports no torch) and `rnnkit generate RUN --length 100`
on a 2x256 character LSTM <= 1.0 s wall-clock. The generation is timed as the user runs it
(the numpy engine, which imports no torch) and with `--engine torch`, whose floor is the torch
import. The commands alternate, so a busy machine slows each alike.

    python bench/startup.py --reps 5            # trains bench/results/startup-run once
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, save, spread  # noqa: E402

PY = sys.executable
COMMANDS = {
    "import torch": [PY, "-c", "import torch"],
    "rnnkit --help": [PY, "-m", "rnnkit", "--help"],
    "rnnkit generate --length 100": None,  # filled in with the run
    "rnnkit generate --length 100 --engine torch": None,
}


def small_run(root: Path) -> Path:
    """A 2x256 character LSTM, trained for 20 steps on made-up text (start-up does not depend
    on what it learned); reused when it is there."""
    run = root / "startup-run"
    if (run / "model.safetensors").exists():
        return run
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "that",
        "a",
        "is",
        "was",
        "he",
        "for",
        "it",
        "with",
        "as",
        "his",
        "on",
        "be",
        "at",
        "by",
    ]
    text = root / "startup-text.txt"
    lines = (" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000))
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["--hidden-size", "256", "--num-layers", "2", "--max-steps", "20", "--quiet"]
    subprocess.run(
        [PY, "-m", "rnnkit", "train", "--data", str(text), "--out", str(run), "--overwrite", *args],
        check=True,
    )
    return run


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="Fresh processes per command.")
    args = ap.parse_args()
    run = small_run(RESULTS)
    generate = [PY, "-m", "rnnkit", "generate", str(run), "--length", "100", "--seed", "0"]
    COMMANDS["rnnkit generate --length 100"] = generate
    COMMANDS["rnnkit generate --length 100 --engine torch"] = [*generate, "--engine", "torch"]
    for cmd in COMMANDS.values():
        wall(cmd)  # warm the file cache once
    times = {name: [] for name in COMMANDS}
    for _ in range(args.reps):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd))
    torch_median = statistics.median(times["import torch"])
    print(f"{'command':44} {'median s':>9} {'min-max s':>13} {'/ import torch':>15}")
    for name, values in times.items():
        s = spread(values)
        ratio = s["median"] / torch_median
        print(
            f"{name:44} {s['median']:9.3f} {s['min']:6.3f}-{s['max']:.3f} {ratio:15.2f}",
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"load average (1 min) at the end: {load:.2f}" if load is not None else "")
    save(
        "startup",
        {
            "machine": machine(),
            "reps": args.reps,
            "seconds": {name: spread(v) for name, v in times.items()},
            "load_average": load,
        },
    )


if __name__ == "__main__":
    main()
