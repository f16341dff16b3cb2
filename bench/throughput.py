"""Training throughput: rnnkit's trainer loop vs a plain hand-written PyTorch loop.

The plain loop is written the pytorch/examples word_language_model way: batchify into
(T_total, N) columns, get_batch slices, repackage the hidden state, zero_grad, forward,
cross-entropy, backward, clip_grad_norm_, optimizer step. The rnnkit side runs
``Trainer.fit`` (batch iterator, state carry and detach, clipping, metrics, progress
bookkeeping) on the same model shape, data and optimizer. The one-off costs of a run
(building the model, writing config, checkpoint and plot at the end) are taken out by timing
every run at ``steps + W`` and at ``W`` steps and dividing the extra tokens by the extra time;
the plain loop is measured the same way. Both run in the same process, alternating, so
machine noise hits both alike.

    python bench/throughput.py                 # char and ptb-small configs
    python bench/throughput.py --config char --reps 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.config import TrainConfig  # noqa: E402
from rnnkit.train.data import load_lm_data  # noqa: E402
from rnnkit.train.lm_task import LMTask
from rnnkit.train.trainer import Trainer  # noqa: E402

CONFIGS = {
    # char: hidden 512, 2 layers, batch 64, seq 100, Adam
    "char": dict(
        data="tinyshakespeare",
        tokenizer="char",
        hidden_size=512,
        num_layers=2,
        batch_size=64,
        seq_len=100,
        optimizer="adam",
        lr=2e-3,
        clip=5.0,
        steps=25,
    ),
    # PTB "small": 2x200, batch 20, bptt 35, SGD lr 20, clip 0.25
    "ptb-small": dict(
        data="ptb",
        tokenizer="word",
        hidden_size=200,
        num_layers=2,
        batch_size=20,
        seq_len=35,
        optimizer="sgd",
        lr=20.0,
        clip=0.25,
        steps=150,
    ),
}


class PlainLM(nn.Module):
    def __init__(self, ntoken, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = nn.LSTM(nhid, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)
        return self.decoder(out), hidden


def plain_loop(ids: np.ndarray, vocab: int, cfg: dict, steps: int, seed: int) -> float:
    """Seconds for ``steps`` training steps of the plain loop."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    B, T = cfg["batch_size"], cfg["seq_len"]
    data = torch.from_numpy(ids.astype(np.int64))
    nb = data.size(0) // B
    data = data[: nb * B].view(B, -1).t().contiguous()  # batchify: (T_total, B)
    model = PlainLM(vocab, cfg["hidden_size"], cfg["num_layers"])
    if cfg["optimizer"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    crit = nn.CrossEntropyLoss()
    hidden = None
    for step in range(steps):
        i = (step * T) % (data.size(0) - T - 1)
        x, y = data[i : i + T], data[i + 1 : i + 1 + T].reshape(-1)
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        out, hidden = model(x, hidden)
        loss = crit(out.view(-1, vocab), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        loss.item()  # the plain loop also reads the loss, as it logs it
    return time.perf_counter() - t0


def rnnkit_loop(data, cfg: dict, steps: int, seed: int, out: Path) -> float:
    fields = {k: v for k, v in cfg.items() if k != "steps"}
    config = TrainConfig(**fields, max_steps=steps, seed=seed, log_every=10, epochs=1000)
    data.valid = None  # measure training, not evaluation
    t0 = time.perf_counter()
    Trainer(LMTask(config, data=data), out, echo=None, progress=False).fit()
    return time.perf_counter() - t0


WARM = 5  # steps of the short run whose time is subtracted


def marginal(fn, steps: int) -> float:
    """Seconds for ``steps`` more steps, without the run's fixed costs."""
    return fn(steps + WARM) - fn(WARM)


def run(name: str, reps: int) -> dict:
    cfg = CONFIGS[name]
    fields = {k: v for k, v in cfg.items() if k != "steps"}
    data = load_lm_data(TrainConfig(**fields))
    vocab, steps = len(data.vocab), cfg["steps"]
    tokens = steps * cfg["batch_size"] * cfg["seq_len"]
    plain_loop(data.train, vocab, cfg, 3, 0)  # warm-up: allocator, oneDNN primitives
    plain, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            order = [0, 1] if r % 2 == 0 else [1, 0]  # alternate who goes first
            for who in order:
                if who == 0:
                    t = marginal(lambda n, r=r: plain_loop(data.train, vocab, cfg, n, r), steps)
                    plain.append(tokens / t)
                else:
                    out = Path(tmp) / f"run{r}"
                    t = marginal(lambda n, r=r, o=out: rnnkit_loop(data, cfg, n, r, o), steps)
                    ours.append(tokens / t)
            print(
                f"{name} rep {r}: plain {plain[-1]:.0f} tok/s, rnnkit {ours[-1]:.0f} tok/s",
                flush=True,
            )
    ratios = [o / p for o, p in zip(ours, plain, strict=True)]
    return {
        "config": cfg,
        "vocab": vocab,
        "steps_per_rep": steps,
        "plain_tokens_per_s": spread(plain),
        "rnnkit_tokens_per_s": spread(ours),
        "ratio": spread(ratios),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="steps per repetition (0: preset)")
    ap.add_argument(
        "--backend",
        choices=["torch", "scratch"],
        default="torch",
        help="rnnkit's recurrent layers; scratch vs the plain nn.LSTM loop gives the "
        "whole-training-step cost of the from-scratch layers",
    )
    args = ap.parse_args()
    for cfg in CONFIGS.values():
        cfg["backend"] = args.backend
    if args.steps:
        for cfg in CONFIGS.values():
            cfg["steps"] = args.steps
    names = list(CONFIGS) if args.config == "all" else [args.config]
    result = {"machine": machine(), "results": {n: run(n, args.reps) for n in names}}
    for n, r in result["results"].items():
        p, o, q = r["plain_tokens_per_s"], r["rnnkit_tokens_per_s"], r["ratio"]
        print(
            f"| {n} | {p['median']:.0f} ({p['min']:.0f}-{p['max']:.0f}) | "
            f"{o['median']:.0f} ({o['min']:.0f}-{o['max']:.0f}) | {q['median']:.3f} "
            f"({q['min']:.3f}-{q['max']:.3f}) |"
        )
    suffix = "" if args.backend == "torch" else f"-{args.backend}"
    print("saved", save(f"throughput{suffix}", result))


if __name__ == "__main__":
    main()
