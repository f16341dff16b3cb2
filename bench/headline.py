"""The headline quality figures of BENCHMARKS.md, rerun in one go with their stated budgets.

    python bench/headline.py                  # every benchmark (about 4 hours on 2 cores)
    python bench/headline.py --only ptb,snips # some of them
    python bench/headline.py --collect        # no training: read the bench/results files
                                              # the benchmark commands last wrote

Each benchmark is its own command (``bench/quality.py ptb-small``, ``bench/seq2seq.py``,
``bench/classify.py``, ``bench/forecast.py``), run here with the arguments of its table; this
script then reads the figures from the result files they write and puts them, beside the
figures BENCHMARKS.md states, in ``bench/headline.json`` (kept in the repository, so a later
change is compared number for number: ``git diff bench/headline.json``). A figure worse than
the stated one by more than its tolerance is marked and makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
OUT = HERE / "headline.json"


@dataclass(frozen=True)
class Figure:
    """One stated figure: where its benchmark writes it and what BENCHMARKS.md says."""

    name: str
    result: str  # bench/results/<result>.json
    path: tuple[str | int, ...]  # keys (and list indices) into that file
    stated: float
    higher_is_better: bool
    tolerance: float  # relative: run-to-run spread of the benchmark (threads, seeds of order)
    scale: float = 1.0  # the file's unit -> the table's (fractions -> %)


# benchmark -> (its command, the figures it gives)
BENCHES: dict[str, tuple[list[str], list[Figure]]] = {
    "ptb": (
        ["quality.py", "ptb-small"],
        [Figure("PTB test perplexity, LSTM 2x200", "quality-ptb-small", ("test_perplexity",),
                110.99, False, 0.01)],
    ),
    "multi30k": (
        ["seq2seq.py", "--attention", "additive", "--minutes", "55"],
        [Figure("Multi30k test BLEU, additive attention, beam 5", "seq2seq-additive",
                ("row", "beam5", "bleu"), 34.68, True, 0.03)],
    ),
    "snips": (
        ["classify.py", "--variants", "joint-crf"],
        [
            Figure("SNIPS intent accuracy %, joint CRF", "classify-joint-crf",
                   ("row", "intent_accuracy"), 98.29, True, 0.005, 100.0),
            Figure("SNIPS slot F1, joint CRF", "classify-joint-crf", ("row", "slot_f1"),
                   93.70, True, 0.01, 100.0),
        ],
    ),
    "etth1": (
        ["forecast.py", "--only", "etth1", "--horizons", "96,336,720", "--seeds", "1"],
        [
            Figure(f"ETTh1 test MSE, default forecaster (LSTM on NLinear), {h} h", "forecast",
                   ("results", "ETTh1", str(h), 0, "models", "lstm (direct, nlinear skip)",
                    "mse"), stated, False, 0.05)
            for h, stated in ((96, 0.0547), (336, 0.0866), (720, 0.0833))
        ],
    ),
}  # fmt: skip


def read(figure: Figure) -> float | None:
    path = RESULTS / f"{figure.result}.json"
    if not path.is_file():
        return None
    value = json.loads(path.read_text())
    for key in figure.path:
        in_list = isinstance(key, int) and isinstance(value, list) and key < len(value)
        if not (in_list or (isinstance(value, dict) and key in value)):
            return None
        value = value[key]
    return float(value) * figure.scale


def verdict(figure: Figure, value: float | None) -> str:
    if value is None:
        return "missing"
    worse = (figure.stated - value) if figure.higher_is_better else (value - figure.stated)
    return "worse" if worse > figure.tolerance * abs(figure.stated) else "holds"


def run(bench: str) -> float:
    command, _ = BENCHES[bench]
    print(f"$ python bench/{' '.join(command)}", flush=True)
    t0 = time.time()
    done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]])
    if done.returncode != 0:
        sys.exit(f"bench/{command[0]} failed with exit code {done.returncode}")
    return time.time() - t0


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    ap.add_argument("--collect", action="store_true", help="read the results, train nothing")
    args = ap.parse_args()
    chosen = args.only.split(",")
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    figures = {}
    for bench in chosen:
        seconds = None if args.collect else run(bench)
        command, wanted = BENCHES[bench]
        for figure in wanted:
            value = read(figure)
            figures[figure.name] = {
                "value": None if value is None else round(value, 4),
                "stated": figure.stated,
                "verdict": verdict(figure, value),
                "command": "python bench/" + " ".join(command),
                "commit": commit(),
                "wall_seconds_of_its_command": seconds,
            }
    # read only now: two of these commands may run side by side, each adding its figures
    kept = json.loads(OUT.read_text())["figures"] if OUT.is_file() else {}
    figures = kept | figures
    OUT.write_text(json.dumps({"figures": figures}, indent=1) + "\n")
    print("\n| figure | stated | now | |\n|---|---|---|---|")
    for name, f in figures.items():
        now = "-" if f["value"] is None else f"{f['value']:g}"
        print(f"| {name} | {f['stated']:g} | {now} | {f['verdict']} |")
    print("saved", OUT)
    if any(f["verdict"] != "holds" for f in figures.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
