"""Recurrent layer speed: rnnkit's scratch layers vs the fused torch.nn kernels.

For each shape, in one process, alternating: forward + backward of a 2-layer layer stack
(time-major input, loss = sum of outputs), for

- ``torch``: ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (oneDNN on CPU);
- ``scratch``: ``rnnkit.nn`` layers with the hand-written BPTT (the default);
- ``scratch-autograd``: the same layers with autograd through the loop over cells.

Reported: milliseconds per forward+backward, the ratio to torch.nn, achieved GFLOP/s (the
matrix-product FLOPs of forward and backward: 3 x 2 x T x N x G*H x (I_l + H) per layer), and
the GFLOP/s of one plain fp32 ``torch.mm`` of the same total shape on this machine.
Also batch-1 generation steps per second (one time step at a time, state carried).

    python bench/layers.py --reps 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

import rnnkit.nn as rnn_scratch  # noqa: E402

SHAPES = {  # name: (batch N, seq T, input I, hidden H, layers)
    "char": (64, 100, 128, 512, 2),
    "ptb-small": (20, 35, 200, 200, 2),
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def build(kind: str, impl: str, I: int, H: int, L: int) -> nn.Module:
    if impl == "torch":
        return {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](I, H, L)
    layer = {"lstm": rnn_scratch.LSTM, "gru": rnn_scratch.GRU, "rnn": rnn_scratch.RNN}[kind](
        I, H, L
    )
    layer.bptt = "autograd" if impl == "scratch-autograd" else "manual"
    return layer


def train_flops(kind: str, N: int, T: int, I: int, H: int, L: int) -> float:
    G = GATES[kind]
    per_layer = [2 * T * N * G * H * ((I if k == 0 else H) + H) for k in range(L)]
    return 3 * sum(per_layer)  # forward + about twice that for backward


def time_train(model: nn.Module, x: torch.Tensor, iters: int) -> float:
    for p in model.parameters():
        p.grad = None
    t0 = time.perf_counter()
    for _ in range(iters):
        out, _ = model(x)
        out.sum().backward()
    return (time.perf_counter() - t0) / iters


@torch.no_grad()
def time_generate(model: nn.Module, I: int, steps: int) -> float:
    x = torch.randn(1, 1, I)
    state = None
    t0 = time.perf_counter()
    for _ in range(steps):
        _, state = model(x, state)
    return steps / (time.perf_counter() - t0)


def gemm_gflops(N: int, T: int, I: int, H: int, G: int, iters: int = 20) -> float:
    a, b = torch.randn(T * N, I + H), torch.randn(I + H, G * H)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(iters):
        torch.mm(a, b)
    return 2 * T * N * (I + H) * G * H * iters / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=3, help="forward+backward passes per timing")
    ap.add_argument("--kinds", default="lstm,gru,rnn")
    ap.add_argument("--gen-steps", type=int, default=500)
    args = ap.parse_args()
    impls = ["torch", "scratch", "scratch-autograd"]
    results = {}
    for shape_name, (N, T, I, H, L) in SHAPES.items():
        for kind in args.kinds.split(","):
            torch.manual_seed(0)
            models = {i: build(kind, i, I, H, L) for i in impls}
            for m in models.values():
                m.load_state_dict(models["torch"].state_dict())
            x = torch.randn(T, N, I)
            times = {i: [] for i in impls}
            for m in models.values():
                time_train(m, x, 1)  # warm-up
            for r in range(args.reps):
                order = impls if r % 2 == 0 else impls[::-1]
                for i in order:
                    times[i].append(time_train(models[i], x, args.iters))
            flops = train_flops(kind, N, T, I, H, L)
            gen = {i: time_generate(models[i], I, args.gen_steps) for i in impls[:2]}
            row = {
                "shape": {"N": N, "T": T, "I": I, "H": H, "layers": L},
                "ms": {i: spread([t * 1e3 for t in times[i]]) for i in impls},
                "ratio_to_torch": {
                    i: spread([a / b for a, b in zip(times[i], times["torch"], strict=True)])
                    for i in impls[1:]
                },
                "gflops": {i: flops / spread(times[i])["median"] / 1e9 for i in impls},
                "gemm_gflops": gemm_gflops(N, T, I, H, GATES[kind]),
                "generate_steps_per_s": gen,
            }
            results[f"{shape_name}/{kind}"] = row
            ms, q, g = row["ms"], row["ratio_to_torch"], row["gflops"]
            print(
                f"| {shape_name} | {kind} | {ms['torch']['median']:.1f} | "
                f"{ms['scratch']['median']:.1f} ({q['scratch']['median']:.2f}x) | "
                f"{ms['scratch-autograd']['median']:.1f} "
                f"({q['scratch-autograd']['median']:.2f}x) | {g['torch']:.0f} / "
                f"{g['scratch']:.0f} / {row['gemm_gflops']:.0f} | "
                f"{gen['torch']:.0f} / {gen['scratch']:.0f} |",
                flush=True,
            )
    print("saved", save("layers", {"machine": machine(), "results": results}))


if __name__ == "__main__":
    main()
