"""Drawing ids one at a time from an n-gram model's next-token distribution."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rnnkit.bounds import check
from rnnkit.errors import GenerationError


def sample_ids(
    distribution: Callable[[list[int]], np.ndarray],
    vocab_size: int,
    banned: Sequence[int],
    history: Sequence[int],
    length: int,
    *,
    end: int,
    keep: int,
    temperature: float,
    seed: int | None,
    stuck: str,
) -> list[int]:
    """``length`` ids drawn from ``distribution(context)`` (V,), never one of ``banned``, with
    the ``length`` and ``temperature`` (0: greedy) checked against ``BOUNDS``.

    The context is the last ``keep`` ids of the history; after ``end`` it starts over.
    ``stuck`` is the error message when no allowed id has any probability.
    """
    check("length", length, error=GenerationError)
    check("temperature", temperature, error=GenerationError)
    rng = np.random.default_rng(seed)
    history = [int(t) for t in history]
    out: list[int] = []
    mask = np.ones(vocab_size, bool)
    mask[list(banned)] = False
    for _ in range(length):
        p = np.where(mask, distribution(history[len(history) - keep :] if keep else []), 0.0)
        if not p.max() > 0:
            raise GenerationError(stuck)
        w = int(p.argmax()) if temperature == 0 else _draw(p, temperature, rng)  # 0: greedy
        out.append(w)
        history = [] if w == end else history + [w]
    return out


def _draw(p: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One id drawn from the probabilities ``p`` (V,) sharpened or flattened by ``temperature``."""
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logp = np.log(p) / temperature
        p = np.exp(logp - logp.max())
    return int(rng.choice(len(p), p=p / p.sum()))
