"""Corpus encoding speed: rnnkit's ``encode_text`` vs a plain per-token dict lookup.

Measures tokenize + encode of a whole training split to an int32 array. The reference is what
most tutorials do: ``[vocab[t] for t in tokens]``. Same process, alternating.

    python bench/encoding.py --reps 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.registry.datasets import load_split_text  # noqa: E402
from rnnkit.text.corpus import build_vocab, encode_text  # noqa: E402
from rnnkit.text.tokenizers import build_tokenizer  # noqa: E402

CASES = [("tinyshakespeare", "char"), ("ptb", "word"), ("wikitext-2", "word")]


def reference(text, tokenizer, vocab) -> np.ndarray:
    stoi, unk = vocab.stoi, vocab.unk_id
    return np.array([stoi.get(t, unk) for t in tokenizer.tokenize(text)], dtype=np.int32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rows = {}
    for name, tok_name in CASES:
        text = load_split_text(name, "train")
        tok = build_tokenizer(tok_name)
        vocab = build_vocab(text, tok)
        mb = len(text.encode("utf-8")) / 1e6
        ref, ours = [], []
        n = len(encode_text(text, tok, vocab))
        assert np.array_equal(encode_text(text, tok, vocab), reference(text, tok, vocab))
        for r in range(args.reps):
            for who in [0, 1] if r % 2 == 0 else [1, 0]:
                t0 = time.perf_counter()
                (reference if who == 0 else encode_text)(text, tok, vocab)
                (ref if who == 0 else ours).append(time.perf_counter() - t0)
        rows[name] = {
            "tokenizer": tok_name,
            "megabytes": mb,
            "tokens": n,
            "reference_s": spread(ref),
            "rnnkit_s": spread(ours),
            "rnnkit_mb_per_s": mb / spread(ours)["median"],
            "rnnkit_tokens_per_s": n / spread(ours)["median"],
            "speedup": spread([a / b for a, b in zip(ref, ours, strict=True)]),
        }
        r = rows[name]
        print(
            f"| {name} ({tok_name}) | {mb:.2f} MB, {n:,} tokens | "
            f"{r['reference_s']['median']:.3f} s | {r['rnnkit_s']['median']:.3f} s | "
            f"{r['rnnkit_mb_per_s']:.1f} MB/s | {r['speedup']['median']:.1f}x |"
        )
    print("saved", save("encoding", {"machine": machine(), "results": rows}))


if __name__ == "__main__":
    main()
