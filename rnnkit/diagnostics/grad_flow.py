"""Gradient flow through time: how much of the loss at the last step reaches each earlier state.

For a loss ``L`` placed at the last time step ``T``, the norm ``||dL/dh_t||`` for ``t = 1..T``
shows how far back a recurrent network can assign credit. For a plain tanh RNN the product of
Jacobians ``prod_k dh_{k+1}/dh_k`` shrinks geometrically (vanishing gradients); the LSTM's
additive cell update ``c_t = f * c_{t-1} + i * g`` and the GRU's interpolation
``h_t = (1 - z) * n + z * h_{t-1}`` give the gradient a path that need not shrink. The gates
of a minGRU / minLSTM read the input alone, so ``dh_t/dh_{t-1}`` is the diagonal of its keep
gate ``1 - z_t`` (``f'_t`` for the minLSTM): the gradient shrinks by exactly that per step back.

The model is stepped one time step per call, so the state passed between steps is an ordinary
tensor whose gradient can be kept; this works for every backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.models.lm import LMConfig, RNNLanguageModel


@dataclass
class GradFlow:
    cell: str
    norms: list[float]  # ||dL/dh_t|| for t = 1..T (mean over the batch), top layer

    @property
    def ratio_first_to_last(self) -> float:
        """||dL/dh_1|| / ||dL/dh_T||: below 1 means the gradient shrank going back."""
        return self.norms[0] / self.norms[-1] if self.norms[-1] else float("nan")


def gradient_norms(model: RNNLanguageModel, idx: torch.Tensor, target: torch.Tensor) -> list[float]:
    """``||dL/dh_t||`` for every step of ``idx`` (N, T), the loss at the last step only.

    Returns T floats: the norm over the hidden units of the top layer's state, averaged over the
    batch. Dropout is off (eval mode) so the measurement is of the network, not of the noise.
    """
    model.eval()
    N, T = idx.shape
    state = model.init_state(N)
    kept: list[torch.Tensor] = []
    for t in range(T):
        _, _, state = model(idx[:, t : t + 1], None, state)
        h = state[0] if isinstance(state, tuple) else state  # (num_layers, N, H)
        h.retain_grad()
        kept.append(h)
    # The top layer's last state is its last output, so the loss reads it from the state.
    loss = F.cross_entropy(model.decoder(kept[-1][-1]), target)
    loss.backward()
    return [k.grad[-1].norm(dim=-1).mean().item() for k in kept]


def measure(
    cell: str,
    vocab_size: int = 65,
    hidden_size: int = 128,
    num_layers: int = 1,
    seq_len: int = 100,
    batch_size: int = 16,
    seed: int = 0,
    backend: str = "torch",
    forget_bias: float = 0.0,
) -> GradFlow:
    """Gradient flow of a freshly initialised language model on random tokens."""
    torch.manual_seed(seed)
    fb = forget_bias if cell in ("lstm", "lnlstm", "minlstm") else 0.0
    cfg = LMConfig(vocab_size, cell, hidden_size, num_layers, backend=backend, forget_bias=fb)
    model = RNNLanguageModel(cfg)
    model.double()  # float32 underflows (below 1e-38) long before a tanh RNN's gradient stops
    idx = torch.randint(0, vocab_size, (batch_size, seq_len))
    target = torch.randint(0, vocab_size, (batch_size,))
    label = f"{cell} (forget bias {fb:g})" if fb else cell
    return GradFlow(label, gradient_norms(model, idx, target))


def run_flow(run_dir, seq_len: int, batch_size: int, seed: int = 0) -> GradFlow:
    """Gradient flow of a trained run on ``seq_len`` tokens of its validation text."""
    from rnnkit.errors import DataError
    from rnnkit.train.checkpoint import load_for_inference
    from rnnkit.train.data import encode_split

    config, tokenizer, vocab, model = load_for_inference(run_dir)
    ids = encode_split(config.data, "valid", tokenizer, vocab)
    need = batch_size * (seq_len + 1)
    if len(ids) < need:
        raise DataError(
            f"{config.data} has {len(ids)} tokens; grad-flow needs {need}: lower "
            "--seq-len or --batch-size"
        )
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - seq_len - 1, (batch_size,), generator=gen)
    rows = torch.stack([torch.from_numpy(ids[s : s + seq_len + 1].astype("int64")) for s in starts])
    model.double()
    return GradFlow(config.model, gradient_norms(model, rows[:, :-1], rows[:, -1]))


def clipping_summary(run_dir) -> dict | None:
    """Global gradient norm over a run's training, before and after clipping.

    ``metrics.jsonl`` logs the norm before clipping (``grad_norm``) every ``log_every`` steps;
    after clipping it is ``min(grad_norm, clip)``.
    """
    from rnnkit.train.checkpoint import RunDir

    run = RunDir(run_dir)
    clip = run.load_config().clip
    norms = [r["grad_norm"] for r in run.read_metrics() if r.get("kind") == "train"]
    if not norms:
        return None
    after = [min(n, clip) for n in norms] if clip > 0 else norms
    ordered = sorted(norms)
    return {
        "clip": clip,
        "logged_steps": len(norms),
        "before": {"median": ordered[len(ordered) // 2], "max": ordered[-1]},
        "after": {"median": sorted(after)[len(after) // 2], "max": max(after)},
        "clipped_fraction": sum(n > clip for n in norms) / len(norms) if clip > 0 else 0.0,
    }


def plot(flows: list[GradFlow], path, title: str = "") -> None:
    """``||dL/dh_t||`` against ``t`` on a log scale, one line per cell type."""
    from rnnkit.figures import new_figure, save_figure

    fig, ax = new_figure(7, 4.2)
    for f in flows:
        ts = range(1, len(f.norms) + 1)
        ax.plot(ts, [max(n, 1e-300) for n in f.norms], label=f.cell, lw=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (loss at the last step)")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.set_title(title or "gradient flow through time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path, dpi=100)


def summary(flow: GradFlow) -> dict:
    n = flow.norms
    return {
        "cell": flow.cell,
        "norms": n,
        "first": n[0],
        "last": n[-1],
        "ratio_first_to_last": flow.ratio_first_to_last,
        "log10_decay_per_step": (math.log10(n[-1]) - math.log10(n[0])) / (len(n) - 1)
        if n[0] > 0 and n[-1] > 0 and len(n) > 1
        else None,
    }
