"""Sampling settings: temperature, top-k and top-p (nucleus) as logits processors.

A warper has the processor signature ``(history, logits) -> logits``, to chain with other
processors or filter logits (``filter_logits``). Sampling itself warps each row as
``rnnkit.infer.draw.warped_probs`` does (the same rules, in numpy, shared by both generation
engines).
"""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.decode.search import choose_rows, make_generator
from rnnkit.infer.settings import check_sampling


class Temperature:
    """``logits / temperature``, in float32 (the bounds are float32's)."""

    def __init__(self, temperature: float):
        self.temperature = temperature

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return logits.float() / self.temperature


class TopK:
    """Every logit below the k-th largest of its row set to -inf (ties with the k-th stay)."""

    def __init__(self, k: int):
        self.k = k

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if not self.k or self.k >= logits.size(-1):
            return logits
        kth = torch.topk(logits, self.k, dim=-1).values[..., -1:]  # (N, 1)
        return logits.masked_fill(logits < kth, float("-inf"))


class TopP:
    """Every token outside the smallest set of probability mass ``p`` set to -inf; the most
    likely token always stays."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if self.p >= 1.0:
            return logits
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the mass before it already reaches p.
        drop_sorted = (probs.cumsum(-1) - probs) >= self.p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the top-p nucleus.

    Shape: logits (N, V) -> (N, V). The most likely token always survives.
    """
    return TopP(top_p)(None, TopK(top_k)(None, logits))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: np.random.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row as sampling does (``rnnkit.decode.search.choose_rows``), from
    ``generator`` (``make_generator``; ``None``: a fresh one). Shape: logits (N, V) -> (N,).
    Temperature 0 is greedy."""
    check_sampling(temperature, top_k, top_p)
    return choose_rows(logits, (temperature, top_k, top_p), generator or make_generator(None))
