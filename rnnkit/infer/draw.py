"""Choosing the next token from one row of logits: the argmax, or a draw by inverse CDF.

Both generation engines (the torch model and ``rnnkit.infer.numpy_lm``) choose every token
here, from one uniform number per draw taken from numpy's PCG64 seeded with the seed, so the
same run, prompt, settings and seed give the same text whichever engine computes the logits.
numpy only: importing this module imports no torch.

A row whose constraints leave one token takes it without a draw, so forcing a token does not
shift the random numbers of the steps after it.
"""

from __future__ import annotations

import secrets

import numpy as np


def make_rng(seed: int | None) -> np.random.Generator:
    """A PCG64 generator seeded with ``seed``; ``None`` draws a fresh seed from the OS, so that
    unseeded runs differ. The global RNGs (numpy's, torch's) are never read nor seeded."""
    return np.random.Generator(np.random.PCG64(secrets.randbits(63) if seed is None else seed))


def warped_probs(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Unnormalised probabilities (V,) float64 of one row of logits (V,) after temperature,
    top-k (ties with the k-th stay) and top-p (a token is dropped when the mass before it
    already reaches p; the most likely always stays). -inf logits get probability 0."""
    z = logits.astype(np.float64) / temperature
    if 0 < top_k < z.size:
        z[z < np.partition(z, -top_k)[-top_k]] = -np.inf
    p = np.exp(z - z.max())
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        sorted_p = p[order]
        before = (np.cumsum(sorted_p) - sorted_p) / sorted_p.sum()  # mass before each token
        p[order[before >= top_p]] = 0.0
    return p


def choose(
    logits: np.ndarray,
    temperature: float,
    top_k: int,
    top_p: float,
    rng: np.random.Generator,
) -> int:
    """The token of one row of logits (V,): the argmax at temperature 0 or when one token is
    left, else the token whose interval of the cumulative distribution holds ``u * total``,
    ``u`` one uniform number from ``rng``. Settings as ``rnnkit.infer.settings``, checked."""
    if temperature == 0 or np.count_nonzero(np.isfinite(logits)) == 1:
        return int(np.argmax(logits))
    p = warped_probs(logits, temperature, top_k, top_p)
    cdf = np.cumsum(p)
    pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    # u * total rounds up to the total once in ~2**53 draws: take the last possible token
    return min(pick, int(np.flatnonzero(p)[-1]))
