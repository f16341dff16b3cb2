"""Shared helpers for benchmarks: machine description, timing statistics, result files.

Importing this module applies ``rnnkit.tune_allocator()`` as the ``rnnkit`` command does, for
rnnkit and its reference alike (both run in one process), and points ``RNNKIT_DATA`` at the
shared datasets beside the checkout when it is not set. ``RNNKIT_ALLOCATOR=system`` measures
with glibc's default instead; the result files record which one ran.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from rnnkit.runtime import tune_allocator

ALLOCATOR = "tuned" if tune_allocator() else "system"

# The shared datasets beside the checkout, as the Makefile sets them.
_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("RNNKIT_DATA") and _SHARED_DATA.is_dir():
    os.environ["RNNKIT_DATA"] = str(_SHARED_DATA)

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    model = platform.processor()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "cpu": model,
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "commit": commit,
        "cuda": torch.cuda.is_available(),
        "allocator": ALLOCATOR,
    }


def threads_option(ap) -> None:
    """``--threads N``: the torch threads the benchmark runs with (speed figures depend on it)."""
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


def use_threads(n: int) -> None:
    """Run torch on ``n`` threads and say so: the printed line belongs with every speed figure."""
    if n < 1:
        raise SystemExit(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    print(f"threads: {torch.get_num_threads()} (--threads {n})", flush=True)


def spread(values: list[float]) -> dict:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
    }


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path
