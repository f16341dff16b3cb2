"""Corpus preparation at scale: MB/s and peak memory of `rnnkit data prepare`.

What it shows: the streaming path (`rnnkit data prepare`, chunks cut at newlines) encodes a
corpus at a steady rate with a peak memory set by the chunk size, flat from a small corpus to a
5x larger one, while the in-memory path (``read_text`` + ``split_text`` + ``build_vocab`` +
``encode_text``, the reference, run in the same invocation on the small corpus) grows with it.

The corpus is wikitext-2's train split repeated to ``--mb`` MB (and ``--small-mb``), written to
a temporary folder that is deleted at the end. Each measurement is a fresh subprocess; its peak
resident memory comes from ``os.wait4`` (the child's own ``ru_maxrss``, not the maximum over all
children, and started from a bare launcher so that this process's own memory does not leak into
the figure). MB/s counts the source bytes over the time the work took inside the child (start-up
of Python and torch excluded); wall time is saved as well. The start-up RSS of the same command
with ``--help`` is measured too, so the table gives the memory the work itself added.

    python bench/prepare.py                                  # 500 MB and 100 MB, char tokenizer
    python bench/prepare.py --mb 500 --tokenizers char,word --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


# Linux gives a child, as the floor of its peak RSS, the peak of the process it was forked from
# (``hiwater_rss`` travels through fork and exec). This process has torch and the ids of the
# equality check in memory, so each measured command is started by a bare launcher instead,
# whose own peak is a few MB, and which reports the command's ``wait4`` usage.
_LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall_s": wall,
               "maxrss_kib": usage.ru_maxrss}, f)
"""


def run_child(args: list[str]) -> dict:
    """Run ``args``; return its stdout, wall time and peak RSS (MiB), failing loudly."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as usage,
    ):
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, usage.name, *args]
        subprocess.run(launcher, stdout=out, stderr=err, env=_child_env(), check=False)
        result = json.loads(Path(usage.name).read_text() or "{}")
        out.seek(0)
        err.seek(0)
        if result.get("code") != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{err.read().decode(errors='replace')}")
        return {
            "stdout": out.read().decode(),
            "wall_s": result["wall_s"],
            "peak_rss_mib": result["maxrss_kib"] / 1024,  # Linux reports KiB
        }


def _child_env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # encoding uses no torch ops; keep torch's pool out of the way
    return env


def build_corpus(source: Path, path: Path, mb: float) -> int:
    """Write ``source`` repeated to about ``mb`` MB (whole lines) to ``path``; return its size."""
    data = source.read_bytes()
    target = int(mb * 1e6)
    written = 0
    with open(path, "wb") as f:
        while written + len(data) <= target:
            f.write(data)
            written += len(data)
        rest = data[: target - written]
        rest = rest[: rest.rfind(b"\n") + 1]  # end on a whole line
        f.write(rest)
        written += len(rest)
    return written


def prepare(corpus: Path, tok: str, out: Path, chunk_mb: int) -> dict:
    args = [sys.executable, "-m", "rnnkit", "data", "prepare", str(corpus), "--tokenizer", tok]
    args += ["--chunk-mb", str(chunk_mb), "--out", str(out), "--overwrite", "--json"]
    r = run_child(args)
    summary = json.loads(r["stdout"])
    return {**r, "seconds": summary["seconds"], "tokens": sum(summary["tokens"].values())}


def in_memory(corpus: Path, tok: str, out: Path) -> dict:
    r = run_child([sys.executable, __file__, "--reference-child", str(corpus), tok, str(out)])
    summary = json.loads(r["stdout"])
    return {**r, "seconds": summary["seconds"], "tokens": summary["tokens"]}


def reference_child(corpus: str, tok_name: str, out: str) -> None:
    """The in-memory path, as `rnnkit train` takes it for a text file, then saved like prepare."""
    import numpy as np

    from rnnkit.io import read_text
    from rnnkit.registry.datasets import split_text
    from rnnkit.runtime import tune_allocator
    from rnnkit.text.corpus import build_vocab, encode_text
    from rnnkit.text.tokenizers import build_tokenizer

    tune_allocator()  # as the rnnkit command does
    t0 = time.perf_counter()
    tok = build_tokenizer(tok_name)
    train, valid = split_text(read_text(corpus))
    vocab = build_vocab(train, tok)
    Path(out).mkdir(parents=True, exist_ok=True)
    tokens = 0
    for split, text in (("train", train), ("valid", valid)):
        ids = encode_text(text, tok, vocab)
        np.save(Path(out) / f"{split}.npy", ids)
        tokens += len(ids)
    vocab.save(Path(out) / "vocab.json")
    print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": tokens}))


def same_ids(prepared: Path, reference: Path) -> bool:
    """The prepared ids equal the reference's, compared 64 MiB at a time."""
    import numpy as np

    from rnnkit.data.prepared import open_prepared

    corpus = open_prepared(prepared)
    for split in ("train", "valid"):
        a, b = corpus.ids(split), np.load(reference / f"{split}.npy", mmap_mode="r")
        if len(a) != len(b):
            return False
        step = 64 << 20
        if any(
            not np.array_equal(a[i : i + step], b[i : i + step]) for i in range(0, len(a), step)
        ):
            return False
    return True


def main() -> None:
    from common import machine, save

    from rnnkit.registry.datasets import resolve_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=500, help="size of the large corpus (MB)")
    ap.add_argument(
        "--small-mb", type=float, default=None, help="size of the small corpus [default: mb / 5]"
    )
    ap.add_argument("--tokenizers", default="char", help="comma-separated: char,word")
    ap.add_argument("--reps", type=int, default=3, help="runs of each measurement")
    ap.add_argument("--chunk-mb", type=int, default=16)
    ap.add_argument("--tmp", default=None, help="folder for the temporary corpus [default: TMP]")
    args = ap.parse_args()
    small_mb = args.small_mb or args.mb / 5
    tokenizers = [t for t in args.tokenizers.split(",") if t]
    source = resolve_file("wikitext-2", "train")

    work = Path(tempfile.mkdtemp(prefix="rnnkit-bench-prepare-", dir=args.tmp))
    prepared, reference, chunk = work / "prepared", work / "reference", args.chunk_mb
    rows = []
    try:
        sizes = {}
        for mb in sorted({small_mb, args.mb}):
            sizes[mb] = work / f"wikitext2x{mb:g}MB.txt"
            build_corpus(source, sizes[mb], mb)
        startup = run_child([sys.executable, "-m", "rnnkit", "data", "prepare", "--help"])
        startup_rss = startup["peak_rss_mib"]
        for tok in tokenizers:
            for mb, corpus in sizes.items():
                cases = {"prepare (streaming)": partial(prepare, corpus, tok, prepared, chunk)}
                if mb == small_mb:
                    cases["in-memory encode_text"] = partial(in_memory, corpus, tok, reference)
                results = {name: [] for name in cases}
                for r in range(args.reps):  # alternate the order between repetitions
                    for name in list(cases) if r % 2 == 0 else list(cases)[::-1]:
                        results[name].append(cases[name]())
                match = same_ids(prepared, reference) if len(cases) > 1 else None
                size = corpus.stat().st_size
                for name, runs in results.items():
                    rows.append(_row(tok, size, name, runs, startup_rss, match))
                    print(_line(rows[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(HEADER)
    for row in rows:
        print(_line(row))
    result = {"machine": machine(), "chunk_mb": args.chunk_mb, "startup_rss_mib": startup_rss}
    print("saved", save("prepare", {**result, "results": rows}))


HEADER = (
    "| tokenizer | corpus | path | time s (min/med/max) | MB/s | peak RSS MiB "
    "| over start-up MiB | tokens | ids equal |\n|---|---|---|---|---|---|---|---|---|"
)


def _row(tok: str, size: int, name: str, runs: list[dict], startup_rss: float, match) -> dict:
    from common import spread

    seconds = spread([r["seconds"] for r in runs])
    rss = spread([r["peak_rss_mib"] for r in runs])
    return {
        "tokenizer": tok,
        "megabytes": size / 1e6,
        "path": name,
        "seconds": seconds,
        "wall_s": spread([r["wall_s"] for r in runs]),
        "mb_per_s": size / 1e6 / seconds["median"],
        "peak_rss_mib": rss,
        "over_startup_mib": rss["median"] - startup_rss,
        "tokens": runs[0]["tokens"],
        "ids_equal_reference": match,
    }


def _line(row: dict) -> str:
    s = row["seconds"]
    return (
        f"| {row['tokenizer']} | {row['megabytes']:.0f} MB | {row['path']} | "
        f"{s['min']:.2f} / {s['median']:.2f} / {s['max']:.2f} | {row['mb_per_s']:.1f} | "
        f"{row['peak_rss_mib']['median']:.0f} | {row['over_startup_mib']:.0f} | "
        f"{row['tokens']:,} | {_yes_no(row['ids_equal_reference'])} |"
    )


def _yes_no(match: bool | None) -> str:
    return "n/a" if match is None else ("yes" if match else "NO")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--reference-child":
        reference_child(*sys.argv[2:])
    else:
        main()
