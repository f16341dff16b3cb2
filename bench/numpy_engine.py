"""Generation speed of the numpy engine against the torch path, batch 1.

Both write the same tokens (same weights, prompt, settings and seed): the numpy engine's
``rnnkit.infer.numpy_lm.generate_ids`` against ``rnnkit.infer.generate.generate_ids`` (the
packed step of ``rnnkit.decode.packed``), a 2x256 character LSTM (vocab 65, random weights:
speed does not depend on training), a 10-token prompt, then sampling at temperature 1 from the
full softmax, in the same process, alternating. The plain ``nn.LSTM`` loop of
``bench/generation.py`` runs beside them as the reference of that benchmark's target.

    OMP_NUM_THREADS=1 python bench/numpy_engine.py --tokens 1000 --reps 5
    OMP_NUM_THREADS=1 python bench/numpy_engine.py --hidden 512    # generation.py's size
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402
from generation import plain  # noqa: E402

from rnnkit.infer import numpy_lm  # noqa: E402
from rnnkit.infer.generate import generate_ids  # noqa: E402
from rnnkit.models.lm import LMConfig, RNNLanguageModel  # noqa: E402

PROMPT = list(range(1, 11))
SAMPLING = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}


def timed(ids) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    out = list(ids)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = LMConfig(65, "lstm", args.hidden, 2)
    model = RNNLanguageModel(cfg).eval()
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    lm = numpy_lm.NumpyLM.from_tensors("lstm", 2, False, tensors)
    engines = {
        "torch": lambda n, seed: generate_ids(model, PROMPT, n, 1.0, seed=seed),
        "numpy": lambda n, seed: numpy_lm.generate_ids(lm, PROMPT, n, SAMPLING, seed),
    }
    for run in engines.values():
        timed(run(20, 0))  # warm-up
    speed = {name: [] for name in engines}
    speed["plain loop"] = []
    same = True
    for r in range(args.reps):
        speed["plain loop"].append(args.tokens / plain(model, 1, args.tokens, r))
        outs = {}
        for name in list(engines) if r % 2 == 0 else list(engines)[::-1]:
            seconds, outs[name] = timed(engines[name](args.tokens, r))
            speed[name].append(args.tokens / seconds)
        same &= outs["torch"] == outs["numpy"]
    ratio = spread([b / a for a, b in zip(speed["torch"], speed["numpy"], strict=True)])
    s = {name: spread(v) for name, v in speed.items()}
    over_plain = {
        name: spread([b / a for a, b in zip(speed["plain loop"], v, strict=True)])
        for name, v in speed.items()
    }
    print("| engine | tokens/s | / torch path | / plain nn.LSTM loop |")
    print("|---|---|---|---|")
    for name in ["plain loop", *engines]:
        v = s[name]
        r = f"{ratio['median']:.2f}" if name == "numpy" else "1.00" if name == "torch" else ""
        print(
            f"| {name} | {v['median']:,.0f} ({v['min']:,.0f}-{v['max']:,.0f}) | {r} | "
            f"{over_plain[name]['median']:.2f} |"
        )
    print(f"same tokens from both engines: {same}")
    result = {
        "machine": machine(),
        "model": f"lstm 2x{args.hidden}, vocab 65",
        "tokens": args.tokens,
        "tokens_per_s": s,
        "ratio": ratio,
        "over_plain_loop": over_plain,
        "same_tokens": same,
    }
    print("saved", save("numpy-engine", result))


if __name__ == "__main__":
    main()
