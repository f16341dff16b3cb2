"""minGRU / minLSTM against nn.LSTM and nn.GRU: training throughput, the scan's forms, generation.

Training: the tinyshakespeare character LM (2 layers of 512, batch 64, Adam 2e-3, clip 5), the
four cells in the same process through rnnkit's one ``Trainer``. ``--part step`` (the headline)
interleaves single ``Trainer.train_step`` calls (forward, backward, clip, Adam) of the four
models, one of each per round in a rotated order, and gives each round's ratio against nn.LSTM:
load from other processes falls on every cell alike. ``--part train`` runs ``Trainer.fit`` per
cell (``log_every=1``; the first ``--warm`` steps dropped, the median of the rest), the cells'
order rotated each repetition; whole runs are minutes apart, so it is noisier on a shared
machine. Ratios are against nn.LSTM of the same round or repetition.

Scan: forward + backward of ``h_t = a_t h_{t-1} + b_t`` alone on (T=256, N=64, H=512), in the
forms the ``rnnkit.nn.minrnn`` docstring compares: the layer's fused function (step by step, and
chunked), a Hillis-Steele doubling scan and a log-space scan on ``torch.logcumsumexp``, the
last two differentiated by autograd.

Generation: batch 1, tokens/s of the language model's one-token ``step`` (what
``rnnkit generate`` runs for a minRNN) against the LSTM of the same width through the packed
fast path.

    python bench/minrnn.py                          # all parts, seq 256 and 1024
    python bench/minrnn.py --part step --seq-len 256 1024 --steps 8
    python bench/minrnn.py --part train --seq-len 256 --reps 3 --steps 6
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread, threads_option, use_threads  # noqa: E402

from rnnkit.config import TrainConfig  # noqa: E402
from rnnkit.decode.packed import packed_step  # noqa: E402
from rnnkit.models.lm import LMConfig, RNNLanguageModel  # noqa: E402
from rnnkit.nn.minrnn import MinRNNSequence  # noqa: E402
from rnnkit.train.data import load_lm_data  # noqa: E402
from rnnkit.train.lm_task import LMTask  # noqa: E402
from rnnkit.train.trainer import Trainer  # noqa: E402

CELLS = ("lstm", "gru", "mingru", "minlstm")
MODEL = dict(
    data="tinyshakespeare",
    tokenizer="char",
    hidden_size=512,
    num_layers=2,
    batch_size=64,
    optimizer="adam",
    lr=2e-3,
    clip=5.0,
)


# ---- training ----------------------------------------------------------------------------------
def train_rate(data, cell: str, seq_len: int, steps: int, warm: int, out: Path) -> float:
    """Median tokens/s over the trainer's steps after ``warm``."""
    config = TrainConfig(
        **MODEL, model=cell, seq_len=seq_len, max_steps=warm + steps, log_every=1, epochs=1000
    )
    Trainer(LMTask(config, data=data), out, echo=None, progress=False).fit()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in rows if r["kind"] == "train" and r["step"] > warm]
    return statistics.median(rates)


def train_part(seq_len: int, reps: int, steps: int, warm: int) -> dict:
    data = load_lm_data(TrainConfig(**MODEL, seq_len=seq_len))
    data.valid = None  # measure training, not evaluation
    rates = {c: [] for c in CELLS}
    ratios = {c: [] for c in CELLS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            order = CELLS[r % len(CELLS) :] + CELLS[: r % len(CELLS)]
            got = {}
            for cell in order:
                got[cell] = train_rate(data, cell, seq_len, steps, warm, Path(tmp) / f"{cell}{r}")
                rates[cell].append(got[cell])
            for cell in CELLS:
                ratios[cell].append(got[cell] / got["lstm"])
            shown = ", ".join(f"{c} {got[c]:.0f} ({got[c] / got['lstm']:.2f}x)" for c in CELLS)
            print(f"seq {seq_len} rep {r}: tokens/s {shown}", flush=True)
    return {
        "seq_len": seq_len,
        "steps": steps,
        "warm": warm,
        "tokens_per_s": {c: spread(v) for c, v in rates.items()},
        "ratio_vs_lstm": {c: spread(v) for c, v in ratios.items()},
    }


def step_part(seq_len: int, rounds: int, warm: int) -> dict:
    """The four cells' ``Trainer.train_step`` interleaved: one step of each per round, in a
    rotated order, so that load from other processes falls on all of them alike."""
    data = load_lm_data(TrainConfig(**MODEL, seq_len=seq_len))
    data.valid = None
    times = {c: [] for c in CELLS}
    ratios = {c: [] for c in CELLS}
    with tempfile.TemporaryDirectory() as tmp:
        trainers, batches, states = {}, {}, {}
        for cell in CELLS:
            config = TrainConfig(**MODEL, model=cell, seq_len=seq_len, epochs=1000)
            trainer = Trainer(LMTask(config, data=data), Path(tmp) / cell, echo=None)
            trainers[cell], states[cell] = trainer, None
            batches[cell] = iter(trainer.task.batches(0, 0, 0, 1))
        for r in range(warm + rounds):
            got = {}
            for cell in CELLS[r % len(CELLS) :] + CELLS[: r % len(CELLS)]:
                trainer = trainers[cell]
                batch = trainer.task.to_device(next(batches[cell]), trainer.device)
                t0 = time.perf_counter()
                _, _, items, states[cell] = trainer.train_step(batch, states[cell])
                got[cell] = items / (time.perf_counter() - t0)
            if r < warm:
                continue
            for cell in CELLS:
                times[cell].append(got[cell])
                ratios[cell].append(got[cell] / got["lstm"])
            shown = ", ".join(f"{c} {got[c]:.0f} ({got[c] / got['lstm']:.2f}x)" for c in CELLS)
            print(f"seq {seq_len} round {r - warm}: tokens/s {shown}", flush=True)
    return {
        "seq_len": seq_len,
        "rounds": rounds,
        "warm": warm,
        "tokens_per_s": {c: spread(v) for c, v in times.items()},
        "ratio_vs_lstm": {c: spread(v) for c, v in ratios.items()},
    }


# ---- the scan's forms --------------------------------------------------------------------------
def doubling(a, b, h0):
    """Hillis-Steele: after the level of stride k, (a_t, b_t) covers steps t-2k+1..t."""
    b = torch.cat([b[:1] + a[:1] * h0, b[1:]])
    k = 1
    while k < a.size(0):
        b = torch.cat([b[:k], torch.addcmul(b[k:], a[k:], b[:-k])])
        a = torch.cat([a[:k], a[k:] * a[:-k]])
        k *= 2
    return b


def log_space(a, b, h0):
    """log h_t = log A_t + logcumsumexp(log b_s - log A_s), b > 0 (the paper's form)."""
    log_a = torch.cumsum(a.log(), 0)
    log_b = torch.cat([h0.log().unsqueeze(0), b.log()])
    log_a = torch.cat([torch.zeros_like(h0).unsqueeze(0), log_a])
    return torch.logcumsumexp(log_b - log_a, 0)[1:].add(log_a[1:]).exp()


def scan_part(reps: int, T: int = 256, N: int = 64, H: int = 512) -> dict:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(T, N, H, generator=g)
    h_tilde = torch.rand(T, N, H, generator=g) + 0.1  # positive, for the log-space form
    h0 = torch.rand(N, H, generator=g) + 0.1

    def fused(chunked):
        def run(gates, h0):
            return MinRNNSequence.apply(gates, h0, None, chunked, False)

        return run

    def autograd_form(form):
        def run(gates, h0):
            k_z, h_t = gates.chunk(2, -1)
            z = torch.sigmoid(k_z)
            return form(1 - z, z * h_t, h0)

        return run

    forms = {
        "sequential (fused, default)": fused(False),
        "chunked (fused)": fused(True),
        "doubling (autograd)": autograd_form(doubling),
        "log-space logcumsumexp (autograd)": autograd_form(log_space),
    }
    times = {name: [] for name in forms}
    reference = None
    for _ in range(reps):
        for name, fn in forms.items():
            gates = torch.cat([u, h_tilde], -1).requires_grad_()
            t0 = time.perf_counter()
            out = fn(gates, h0)
            out.sum().backward()
            times[name].append(time.perf_counter() - t0)
            if reference is None:
                reference = out.detach()
            err = (out.detach() - reference).abs().max().item()
            assert err < 1e-3, f"{name} differs from the sequential scan by {err}"
    base = statistics.median(times["sequential (fused, default)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"scan {name}: {med * 1e3:.0f} ms ({med / base:.1f}x the sequential)", flush=True)
    return {
        "shape": [T, N, H],
        "seconds": {n: spread(v) for n, v in times.items()},
        "vs_sequential": {n: statistics.median(v) / base for n, v in times.items()},
    }


# ---- generation --------------------------------------------------------------------------------
def generate_part(reps: int, tokens: int = 300) -> dict:
    rates = {c: [] for c in CELLS}
    for _ in range(reps):
        for cell in CELLS:
            torch.manual_seed(0)
            model = RNNLanguageModel(LMConfig(65, cell, 512, 2)).eval()
            with torch.no_grad():
                stepper = packed_step(model) or model  # the LSTM and GRU's packed fast path
                y, state = torch.zeros(1, dtype=torch.long), None
                t0 = time.perf_counter()
                for _ in range(tokens):
                    logits, state = stepper.step(y, state)
                    y = logits.argmax(-1)
                rates[cell].append(tokens / (time.perf_counter() - t0))
    for c in CELLS:
        med = statistics.median(rates[c])
        print(f"generate {c}: {med:.0f} tokens/s ({med / statistics.median(rates['lstm']):.2f}x)")
    return {"tokens": tokens, "tokens_per_s": {c: spread(v) for c, v in rates.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["step", "train", "scan", "generate", "all"], default="all")
    ap.add_argument("--seq-len", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6, help="timed training steps per run")
    ap.add_argument("--warm", type=int, default=2, help="training steps dropped per run")
    threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    result: dict = {"machine": machine(), "args": vars(args)}
    if args.part in ("scan", "all"):
        result["scan"] = scan_part(args.reps)
    if args.part in ("generate", "all"):
        result["generate"] = generate_part(args.reps)
    if args.part in ("step", "all"):
        result["step"] = [
            step_part(T, max(3, math.ceil(args.steps * 256 / T)), args.warm) for T in args.seq_len
        ]
    if args.part in ("train", "all"):
        result["train"] = [
            train_part(T, args.reps, max(2, math.ceil(args.steps * 256 / T)), args.warm)
            for T in args.seq_len
        ]
    for part in result.get("step", []) + result.get("train", []):
        for c in CELLS:
            t, q = part["tokens_per_s"][c], part["ratio_vs_lstm"][c]
            print(
                f"| {part['seq_len']} | {c} | {t['median']:.0f} ({t['min']:.0f}-{t['max']:.0f})"
                f" | {q['median']:.2f} ({q['min']:.2f}-{q['max']:.2f}) |"
            )
    print("saved", save(f"minrnn-{args.part}", result))


if __name__ == "__main__":
    main()
