"""Fuzzing every file loader: inputs per target, how many were accepted, refused, or crashed.

The targets are those of ``tests/fuzz_targets.py`` (one per loader of a user file: text,
vocab.json, config YAML, forecast CSV, parallel text, Tang poem JSON, ARPA, classification
TSV/CSV/CoNLL, prepared.json, an n-gram run's files). Each gets ``--examples`` inputs, half
from a seeded mutation loop over its valid seed files (bit flips, interesting bytes, deleted,
duplicated or repeated blocks, tokens of the formats, splices of two seeds), half from
hypothesis (random bytes and the target's near-valid files). An input is *accepted*,
*refused* (an ``RnnkitError`` with a one-line message) or a *crash*: any other exception, a
message of several lines, or more than ``--timeout`` seconds. Crashes are grouped by exception
type and place, with the shortest input kept for each.

    OMP_NUM_THREADS=1 python bench/fuzz_loaders.py                  # 2000 inputs per target
    OMP_NUM_THREADS=1 python bench/fuzz_loaders.py --examples 200 --targets arpa vocab-json
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fuzz_targets
from common import machine, save  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz_targets import SEP, TARGETS, Target, outcome  # noqa: E402

# Bytes that mean something to one format or another.
TOKENS = [
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b" ",
    b",",
    b";",
    b":",
    b'"',
    b"'",
    b"\\",
    b"[",
    b"]",
    b"{",
    b"}",
    b"#",
    b"=",
    b"-",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"NaN",
    b"-inf",
    b"9" * 5000,
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"\xff",
    b"\xc3",
    b"\x00",
    b"<unk>",
    b"<eos>",
    b"<s>",
    b"</s>",
    b"\\data\\",
    b"ngram 1=",
    b"\\1-grams:",
    b"\\2-grams:",
    b"\\end\\",
    b"# label:",
    "床".encode(),
    "\u2028".encode(),
    SEP,
    b"!!int x",
    b"&a [*a]",
    b"- ",
    b"2020-13-45",
    b"NA",
    b'"tokens"',
    b'"reserved"',
    b'"counts"',
    b'"splits"',
    b'"order"',
    b'"paragraphs"',
    b"[" * 5000,
]
INTERESTING = [0x00, 0x0A, 0x0D, 0x09, 0x20, 0x22, 0x2C, 0x5C, 0x7F, 0x80, 0xC3, 0xED, 0xFF]


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    """``data`` after 1 to 8 random mutations."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(8)
        i = rng.randint(0, len(b))
        j = min(len(b), i + rng.choice([1, 2, 4, 16, 64, 256]))
        if op == 0 and i < len(b):  # flip a bit
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and i < len(b):  # an interesting byte
            b[i] = rng.choice(INTERESTING)
        elif op == 2:  # delete a block
            del b[i:j]
        elif op == 3:  # copy a block somewhere else
            k = rng.randint(0, len(b))
            b[k:k] = b[i:j]
        elif op == 4:  # a token of some format
            b[i:i] = rng.choice(TOKENS)
        elif op == 5:  # a block repeated: long lines, deep nesting
            b[i:i] = bytes(b[i:j]) * rng.choice([2, 10, 1000])
        elif op == 6:  # splice with another seed
            other = rng.choice(seeds)
            k = rng.randint(0, len(other))
            b = b[:i] + bytearray(other[k:])
        else:  # cut short
            del b[i:]
    return bytes(b)


class Timeout(Exception):
    """A loader ran past its time limit on one input."""


def _alarm(signum, frame):
    raise Timeout()


class Tally:
    """Counts of one target, and its crashes grouped by signature."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.crashes: dict[str, dict] = {}

    def run(self, target: Target, data: bytes, source: str, timeout: float) -> None:
        self.counts["executions"] += 1
        self.counts[f"from_{source}"] += 1
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            self.counts[outcome(target, data)] += 1
        except Exception as e:  # a crash: anything but a one-line RnnkitError
            self.counts["crashed"] += 1
            frames = traceback.extract_tb(e.__traceback__)
            ours = [f for f in frames if "/rnnkit/" in f.filename] or frames
            where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
            key = f"{type(e).__name__} at {where}"
            crash = self.crashes.setdefault(key, {"count": 0, "message": str(e)[:300]})
            crash["count"] += 1
            if "input" not in crash or len(data) < crash["input_bytes"]:
                crash["input"], crash["input_bytes"] = repr(data[:400]), len(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def fuzz_target(target: Target, examples: int, seed: int, timeout: float) -> dict:
    tally = Tally()
    seeds = target.seeds()
    rng = random.Random(f"{seed}:{target.name}")
    t0 = time.perf_counter()
    for _ in range(examples - examples // 2):
        tally.run(target, mutate(rng.choice(seeds), seeds, rng), "mutation", timeout)

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples // 2,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.binary(max_size=2000) | target.near_valid())
    def generated(data: bytes) -> None:
        tally.run(target, data, "hypothesis", timeout)

    if examples // 2:
        generated()
    counts = tally.counts
    return {
        "executions": counts["executions"],
        "from_mutation": counts["from_mutation"],
        "from_hypothesis": counts["from_hypothesis"],
        "accepted": counts["accepted"],
        "refused": counts["refused"],
        "crashed": counts["crashed"],
        "seconds": round(time.perf_counter() - t0, 2),
        "crash_kinds": tally.crashes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="inputs per target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before an input hangs")
    ap.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--out", default="fuzz-loaders", help="name of the result file")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    rows = {}
    print(f"{'target':26} {'runs':>6} {'accepted':>9} {'refused':>8} {'crashed':>8} {'s':>7}")
    for name in args.targets:
        row = fuzz_target(TARGETS[name], args.examples, args.seed, args.timeout)
        rows[name] = row
        print(
            f"{name:26} {row['executions']:6d} {row['accepted']:9d} {row['refused']:8d} "
            f"{row['crashed']:8d} {row['seconds']:7.1f}",
            flush=True,
        )
        for kind, crash in row["crash_kinds"].items():
            print(f"    {crash['count']:5d} x {kind}: {crash['message'][:120]}")
    total = {k: sum(r[k] for r in rows.values()) for k in ("executions", "accepted", "refused")}
    total["crashed"] = sum(r["crashed"] for r in rows.values())
    print(
        f"{'total':26} {total['executions']:6d} {total['accepted']:9d} {total['refused']:8d} "
        f"{total['crashed']:8d}"
    )
    command = "OMP_NUM_THREADS=1 python bench/fuzz_loaders.py " + " ".join(sys.argv[1:])
    result = {
        "what": "inputs per file loader accepted, refused with a one-line RnnkitError, or crashed",
        "command": command.strip(),
        "machine": machine(),
        "examples_per_target": args.examples,
        "seed": args.seed,
        "total": total,
        "targets": rows,
    }
    print(f"saved {save(args.out, result)}")


if __name__ == "__main__":
    main()
