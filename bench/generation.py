"""Generation speed: rnnkit's sampling loop against a plain PyTorch loop, batch 1, 8 and 64.

Char config: vocab 65, embedding 512, 2x512 LSTM or GRU (random weights: speed does not depend
on training). Both warm up on a 10-token prompt, then sample with temperature 1 from the full
softmax, one token per call with the state carried, in the same process, alternating. The
plain loop calls ``nn.LSTM`` / ``nn.GRU`` + embedding + decoder + softmax + multinomial;
rnnkit's is ``sample_steps`` over a ``LanguageModelStepper`` (the packed step of
``rnnkit.decode.packed``; ``generate_ids`` at batch 1).

    python bench/generation.py --model lstm --reps 5
    python bench/generation.py --model gru --reps 5
    python bench/generation.py --model lstm --after-scratch   # a scratch model runs first

``--after-scratch`` first generates with a scratch-backend model in the same process, the
case where the fused ``nn.LSTM`` loop once fell to 79 tokens/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.decode import LanguageModelStepper, make_generator, sample_steps  # noqa: E402
from rnnkit.infer.generate import generate_ids  # noqa: E402
from rnnkit.models.lm import LMConfig, RNNLanguageModel  # noqa: E402

PROMPT = list(range(1, 11))


@torch.no_grad()
def plain(model: RNNLanguageModel, batch: int, n: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    x = torch.tensor(PROMPT)[:, None].expand(-1, batch)  # (T, N)
    out, hidden = model.rnn(model.embedding(x), None)
    logits = model.decoder(out[-1])  # (N, V)
    for _ in range(n):
        tok = torch.multinomial(logits.softmax(-1), 1, generator=gen)  # (N, 1)
        out, hidden = model.rnn(model.embedding(tok.t()), hidden)
        logits = model.decoder(out[-1])
    return time.perf_counter() - t0


def ours(model: RNNLanguageModel, batch: int, n: int, seed: int) -> float:
    t0 = time.perf_counter()
    if batch == 1:  # the path of `rnnkit generate`: one token streamed at a time
        for _ in generate_ids(model, PROMPT, n, temperature=1.0, seed=seed):
            pass
    else:
        stepper = LanguageModelStepper(model, torch.tensor([PROMPT]).expand(batch, -1))
        gen = make_generator(seed)
        for _ in sample_steps(stepper, max_len=n, temperature=1.0, generator=gen):
            pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument(
        "--backend",
        choices=["torch", "scratch"],
        default="torch",
        help="rnnkit's recurrent layers (the plain loop always uses torch.nn)",
    )
    ap.add_argument("--after-scratch", action="store_true", help="run a scratch model first")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(65, args.model, 512, 2)).eval()
    ours_model = RNNLanguageModel(LMConfig(65, args.model, 512, 2, backend=args.backend)).eval()
    ours_model.load_state_dict(model.state_dict())
    if args.after_scratch:
        scratch = RNNLanguageModel(LMConfig(65, args.model, 512, 2, backend="scratch")).eval()
        scratch.load_state_dict(model.state_dict())
        with torch.no_grad():
            scratch(torch.tensor([PROMPT] * 4))  # the scratch layer's own forward, as training
        ours(scratch, 1, 200, 0)
    plain(model, 1, 20, 0)  # warm-up
    ours(ours_model, 1, 20, 0)
    rows = {}
    print("| model | batch | plain loop, tokens/s (total) | rnnkit, tokens/s (total) | ratio |")
    print("|---|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        a, b = [], []
        for r in range(args.reps):
            for who in [0, 1] if r % 2 == 0 else [1, 0]:
                if who == 0:
                    a.append(batch * args.tokens / plain(model, batch, args.tokens, r))
                else:
                    b.append(batch * args.tokens / ours(ours_model, batch, args.tokens, r))
        ratio = spread([y / x for x, y in zip(a, b, strict=True)])
        pa, pb = spread(a), spread(b)
        rows[batch] = {"plain_tokens_per_s": pa, "rnnkit_tokens_per_s": pb, "ratio": ratio}
        print(
            f"| {args.model} 2x512 | {batch} | {pa['median']:,.0f} ({pa['min']:,.0f}-"
            f"{pa['max']:,.0f}) | {pb['median']:,.0f} ({pb['min']:,.0f}-{pb['max']:,.0f}) | "
            f"{ratio['median']:.2f} |",
            flush=True,
        )
    result = {
        "machine": machine(),
        "model": f"{args.model} 2x512, vocab 65",
        "backend": args.backend,
        "after_scratch": args.after_scratch,
        "tokens": args.tokens,
        "batches": rows,
    }
    name = f"generation-{args.model}-{args.backend}" + ("-after-scratch" * args.after_scratch)
    print("saved", save(name, result))


if __name__ == "__main__":
    main()
