"""Generation speed at batch 1: rnnkit's ``generate_ids`` vs a plain PyTorch sampling loop.

Char config: vocab 65, embedding 512, 2x512 LSTM (weights random: speed does not depend on
training). Both sample with temperature 1 from the full softmax, one token per call with the
state carried, in the same process, alternating.

    python bench/generation.py --tokens 1000 --reps 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.infer.generate import generate_ids  # noqa: E402
from rnnkit.models.lm import LMConfig, RNNLanguageModel  # noqa: E402


@torch.no_grad()
def plain(model: RNNLanguageModel, context: list[int], n: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    x = torch.tensor(context)[:, None]  # (T, 1)
    out, hidden = model.rnn(model.embedding(x), None)
    logits = model.decoder(out[-1])
    for _ in range(n):
        tok = torch.multinomial(logits.softmax(-1), 1, generator=gen)  # (1, 1)
        out, hidden = model.rnn(model.embedding(tok), hidden)
        logits = model.decoder(out[-1])
    return time.perf_counter() - t0


def ours(model: RNNLanguageModel, context: list[int], n: int, seed: int) -> float:
    t0 = time.perf_counter()
    for _ in generate_ids(model, context, n, temperature=1.0, seed=seed):
        pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    ap.add_argument(
        "--backend",
        choices=["torch", "scratch"],
        default="torch",
        help="rnnkit's recurrent layers (the plain loop always uses torch.nn)",
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(65, args.model, 512, 2)).eval()
    ours_model = RNNLanguageModel(LMConfig(65, args.model, 512, 2, backend=args.backend)).eval()
    ours_model.load_state_dict(model.state_dict())
    context = list(range(1, 11))
    plain(model, context, 20, 0)  # warm-up
    a, b = [], []
    for r in range(args.reps):
        for who in [0, 1] if r % 2 == 0 else [1, 0]:
            if who == 0:
                a.append(args.tokens / plain(model, context, args.tokens, r))
            else:
                b.append(args.tokens / ours(ours_model, context, args.tokens, r))
    ratio = [y / x for x, y in zip(a, b, strict=True)]
    result = {
        "machine": machine(),
        "model": f"{args.model} 2x512, vocab 65, batch 1",
        "tokens": args.tokens,
        "plain_tokens_per_s": spread(a),
        "rnnkit_tokens_per_s": spread(b),
        "ratio": spread(ratio),
    }
    pa, pb, q = spread(a), spread(b), spread(ratio)
    print(
        f"| {args.model} 2x512 | {args.backend} | "
        f"{pa['median']:.0f} ({pa['min']:.0f}-{pa['max']:.0f}) | "
        f"{pb['median']:.0f} ({pb['min']:.0f}-{pb['max']:.0f}) | {q['median']:.3f} |"
    )
    print("saved", save(f"generation-{args.model}-{args.backend}", result))


if __name__ == "__main__":
    main()
