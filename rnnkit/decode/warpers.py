"""Sampling settings: temperature, top-k and top-p (nucleus) as logits processors.

A warper has the processor signature ``(history, logits) -> logits``; ``warpers`` checks the
settings once and returns the ones that are on, in the order the maths needs them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rnnkit.bounds import problem
from rnnkit.errors import GenerationError


def as_flag(name: str) -> str:
    """A setting as the command line spells it: ``top_k`` -> ``--top-k``."""
    return "--" + name.replace("_", "-")


def as_field(name: str) -> str:
    """A setting as a JSON request spells it: ``top_k``."""
    return name


def check_sampling(
    temperature: float, top_k: int, top_p: float, *, spell: Callable[[str], str] = as_flag
) -> None:
    """Raise ``GenerationError`` unless the settings are ones the sampler can follow.

    The ranges are ``rnnkit.bounds.BOUNDS``'s, as on the command line: temperature 0 (greedy)
    or in [``MIN_TEMPERATURE``, ``MAX_TEMPERATURE``], top-k >= 0 (0 = off), top-p in
    [``MIN_TOP_P``, 1] (1 = off); NaN fails every range. ``spell`` names the settings in the
    message (``as_flag``, or ``as_field`` for the HTTP API).
    """
    for name, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p)):
        why = problem(name, value)
        if why:
            raise GenerationError(f"{spell(name)} {why}")


class Temperature:
    """``logits / temperature``, in float32 (the bounds above are float32's)."""

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


def warpers(temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> list:
    """The checked warpers for these settings; ``[]`` for temperature 0 (greedy: the argmax
    does not depend on them)."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return []
    return [Temperature(temperature), TopK(top_k), TopP(top_p)]


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
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row. Shape: logits (N, V) -> (N,). Temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(-1)
    for warp in (Temperature(temperature), TopK(top_k), TopP(top_p)):
        logits = warp(None, logits)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
