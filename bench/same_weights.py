"""Do two versions of rnnkit train to the same weights, bit for bit?

A change that only reorganises code must leave every number it computes alone; then every
quality figure in BENCHMARKS.md still holds without retraining. This trains each task of the
one-trainer table test (language model, translation, tagging, forecasting; tiny data made on
the spot) for a few steps with the same seed, once with the code of ``--against REV`` (checked
out in a temporary git worktree) and once with this checkout, and compares the sha256 of every
weight file the runs write.

    python bench/same_weights.py --against 5d801c8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the checkout under test, with its own rnnkit and tests on sys.path.
TRAIN = """
import hashlib, sys, tempfile
from pathlib import Path
from tests.conftest import call_cli
from tests.test_one_trainer import TASKS

root = Path(tempfile.mkdtemp())
for task, build in TASKS.items():
    d = root / task
    d.mkdir()
    extra = [] if task == "forecast" else ["--dropout", "0.2"]
    args = [*map(str, build(d)), *extra, "--max-steps", sys.argv[1], "--seed", "3", "--quiet"]
    code, out, err = call_cli([*args, "--out", str(d / "run")])
    assert code == 0, err
    for f in sorted((d / "run").rglob("*.safetensors")):
        print(task, f.name, hashlib.sha256(f.read_bytes()).hexdigest())
"""


def hashes(checkout: Path, steps: int) -> list[str]:
    """Lines ``task file sha256`` for the runs trained with ``checkout``'s code."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(steps)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"training with {checkout} failed:\n{done.stderr}")
    return done.stdout.splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--steps", type=int, default=25, help="training steps per task")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(
            ["git", "-C", ROOT, "worktree", "add", "-q", "--detach", old, args.against], check=True
        )
        try:
            before = hashes(old, args.steps)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old])
    after = hashes(ROOT, args.steps)
    for a, b in zip(before, after, strict=True):
        print(("same " if a == b else "DIFFERENT ") + b[:80])
    same = before == after
    print(f"{args.against} -> working tree: {'identical' if same else 'different'} weights")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
