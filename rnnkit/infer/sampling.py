"""Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus)."""

from __future__ import annotations

import torch

from rnnkit.errors import GenerationError

# Sampling runs in float32. Logits divided by a temperature below about 1e-38 overflow to inf
# (then inf - inf is NaN in the softmax), one above float32's largest becomes inf, and a top-p
# that rounds to 0 drops every token. Well inside float32's range: below a temperature of 1e-3
# sampling is greedy in all but name, above 10 it is close to uniform, and any top-p below the
# best token's probability keeps that token alone.
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 10.0
MIN_TOP_P = 1e-6


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    """Raise ``GenerationError`` unless the settings are ones ``sample_next`` can follow.

    Temperature is 0 (greedy) or in [``MIN_TEMPERATURE``, ``MAX_TEMPERATURE``]; top-k is
    >= 0 (0 = off); top-p is in [``MIN_TOP_P``, 1] (1 = off). NaN fails every range.
    """
    if not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise GenerationError(
            f"--temperature must be 0 (greedy) or in [{MIN_TEMPERATURE:g}, "
            f"{MAX_TEMPERATURE:g}], got {temperature}"
        )
    if top_k < 0:
        raise GenerationError(f"--top-k must be >= 0 (0 = off), got {top_k}")
    if not MIN_TOP_P <= top_p <= 1:
        raise GenerationError(f"--top-p must be in [{MIN_TOP_P:g}, 1] (1 = off), got {top_p}")


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the top-p nucleus.

    Shape: logits (N, V) -> (N, V). The most likely token always survives.
    """
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the mass before it already reaches top_p.
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


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
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
