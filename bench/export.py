"""Exported step functions against rnnkit itself: time to first token and tokens/s, batch 1.

A 2x512 character LSTM (or GRU) run (random weights after one training step: speed does not
depend on training) is exported to every format; each file then generates greedily the way a
consumer without rnnkit would: load the file, feed a 10-token prompt in one call, then one
token per call with the state carried, argmax of the last logits. rnnkit's side is
``load_for_inference`` + ``generate_ids`` (temperature 0), the path of ``rnnkit generate``.
All in one process, alternating, so the figures are ratios measured side by side.

    python bench/export.py --model lstm --tokens 300 --reps 3
    python bench/export.py --model gru --tokens 300 --reps 3

"first token" is load + prompt + the first generated token (median, seconds); "tokens/s" is
the rest of the generation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread, threads_option, use_threads  # noqa: E402

from rnnkit.cli import main as rnnkit_main  # noqa: E402
from rnnkit.export import export_run  # noqa: E402
from rnnkit.export.formats import FORMATS  # noqa: E402
from rnnkit.infer.generate import generate_ids  # noqa: E402
from rnnkit.train.checkpoint import load_for_inference  # noqa: E402

PROMPT = list(range(1, 11))


def make_run(root: Path, cell: str) -> Path:
    text = root / "text.txt"
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'\n-"))
    text.write_text("".join(rng.choice(letters, 20_000)))
    out = root / "run"
    args = ["train", "--data", str(text), "--model", cell, "--hidden-size", "512"]
    args += ["--num-layers", "2", "--seq-len", "16", "--batch-size", "2", "--max-steps", "1"]
    try:
        rnnkit_main([*args, "--out", str(out), "--quiet"])
    except SystemExit as e:
        if e.code:
            raise
    return out


def rnnkit_side(run: Path, n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    _, _, _, model = load_for_inference(run)
    ids = generate_ids(model, PROMPT, n, temperature=0.0)
    next(ids)
    t1 = time.perf_counter()
    for _ in ids:
        pass
    return t1 - t0, (n - 1) / (time.perf_counter() - t1)


def loader(fmt: str, path: Path, threads: int):
    """A function ``(tokens (1, T) int64 array, state list) -> (logits, state)`` for the file."""
    if fmt in ("pt2", "torchscript"):
        pt2 = fmt == "pt2"
        module = torch.export.load(str(path)).module() if pt2 else torch.jit.load(str(path))

        def run(tokens, state):
            with torch.no_grad():
                out = module(torch.from_numpy(tokens), *state)
            return out[0].numpy(), list(out[1:])

        return run
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(tokens, state):
        out = session.run(None, dict(zip(names, [tokens, *state], strict=True)))
        return out[0], out[1:]

    return run


def file_side(fmt: str, path: Path, layers: int, hidden: int, lstm: bool, n: int, threads: int):
    t0 = time.perf_counter()
    run = loader(fmt, path, threads)
    zeros = np.zeros((layers, 1, hidden), np.float32)
    state = [zeros, zeros] if lstm else [zeros]
    if fmt in ("pt2", "torchscript"):
        state = [torch.from_numpy(s) for s in state]
    logits, state = run(np.array([PROMPT], np.int64), state)
    token = int(np.argmax(logits[0, -1]))
    t1 = time.perf_counter()
    for _ in range(n - 1):
        logits, state = run(np.array([[token]], np.int64), state)
        token = int(np.argmax(logits[0, -1]))
    return t1 - t0, (n - 1) / (time.perf_counter() - t1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = make_run(root, args.model)
        files = {}
        for fmt in formats:
            files[fmt] = root / f"m.{fmt}"
            export_run(run, fmt, files[fmt])
        sides = ["rnnkit", *formats]
        first = {s: [] for s in sides}
        speed = {s: [] for s in sides}
        for r in range(args.reps):
            for side in sides if r % 2 == 0 else sides[::-1]:
                if side == "rnnkit":
                    t, v = rnnkit_side(run, args.tokens)
                else:
                    lstm = args.model == "lstm"
                    t, v = file_side(side, files[side], 2, 512, lstm, args.tokens, args.threads)
                first[side].append(t)
                speed[side].append(v)
    rows = {}
    print(f"| {args.model} 2x512, batch 1 | first token s | tokens/s | tokens/s / rnnkit's |")
    print("|---|---|---|---|")
    for side in sides:
        ratio = spread([v / b for v, b in zip(speed[side], speed["rnnkit"], strict=True)])
        rows[side] = {"first_token_s": spread(first[side]), "tokens_per_s": spread(speed[side])}
        rows[side]["ratio"] = ratio
        f, v = rows[side]["first_token_s"], rows[side]["tokens_per_s"]
        print(
            f"| {side} | {f['median']:.3f} ({f['min']:.3f}-{f['max']:.3f}) | "
            f"{v['median']:,.0f} ({v['min']:,.0f}-{v['max']:,.0f}) | {ratio['median']:.2f} |",
            flush=True,
        )
    result = {"machine": machine(), "model": f"{args.model} 2x512, vocab ~64", "rows": rows}
    result["tokens"] = args.tokens
    print("saved", save(f"export-{args.model}", result))


if __name__ == "__main__":
    main()
