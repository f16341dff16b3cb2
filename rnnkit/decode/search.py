"""Greedy search, sampling, and ``search``: one entry point for every decoding.

``search`` picks greedy search, sampling or beam search (``rnnkit.decode.beam``) from its
settings, so a command offers ``--beam``, ``--temperature``, ``--top-k`` and ``--top-p`` the
same way whatever model it drives.

Greedy search and sampling choose one token per row and step, after the processors. Both run
every row for at most its ``max_len`` steps and stop a row at ``eos``, which is not returned.
Each token is chosen by ``rnnkit.infer.draw.choose`` (the numpy engine's choice too), from a
local generator (``make_generator``): the global RNGs are never read nor seeded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from rnnkit.decode.beam import Hypothesis, beam_search
from rnnkit.decode.processors import Processor, apply
from rnnkit.decode.steppers import Stepper, max_lens
from rnnkit.infer.draw import choose, make_rng
from rnnkit.infer.settings import check_sampling, check_search

# The generator sampling draws from (``None``: a fresh seed). Draws are made on the CPU from
# the logits' values, whatever device the model is on.
make_generator = make_rng


def choose_rows(
    logits: torch.Tensor, settings: tuple[float, int, float], generator: np.random.Generator
) -> torch.Tensor:
    """One token per row, (N, V) -> (N,): ``rnnkit.infer.draw.choose`` row by row, with
    ``settings`` (temperature, top_k, top_p); temperature 0 is the argmax."""
    if settings[0] == 0:
        return logits.argmax(-1)
    n = logits.size(0)
    return torch.tensor(choose_each(logits, [settings] * n, [generator] * n), device=logits.device)


def choose_each(
    logits: torch.Tensor,
    settings: Sequence[tuple[float, int, float]],
    generators: Sequence[np.random.Generator | None],
) -> list[int]:
    """One token per row of (N, V) logits, row ``i`` chosen by ``rnnkit.infer.draw.choose``
    from its values alone, with ``settings[i]`` and ``generators[i]``."""
    rows = logits.detach().float().cpu().numpy()
    return [choose(row, *s, g) for row, s, g in zip(rows, settings, generators, strict=True)]


@torch.no_grad()
def sample_steps(
    stepper: Stepper,
    *,
    max_len: int | Sequence[int],
    eos: int | None = None,
    processors: Sequence[Processor] = (),
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: np.random.Generator | None = None,
    prefix: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the tokens (N,) of each step until every row has met ``eos`` or its max length.

    Rows that are done still get a token each step (the caller cuts them), so a row's samples
    do not depend on when the others end. ``temperature`` 0 is greedy search; ``prefix``
    (N, P) is what the processors see before the first new token (say, a poem's opening).
    The caller's model mode is not changed here: see ``decoding``.
    """
    check_sampling(temperature, top_k, top_p)
    settings = (temperature, top_k, top_p)
    if generator is None and temperature != 0:
        generator = make_generator(None)
    lens = max_lens(max_len, stepper.batch)
    longest = max(lens, default=0)
    if longest == 0:
        return
    logits, state = stepper.start(1)  # (N, V)
    device = logits.device
    history = torch.empty(stepper.batch, 0, dtype=torch.long, device=device)
    if prefix is not None:
        history = prefix.to(device)
    done = torch.zeros(stepper.batch, dtype=torch.bool, device=device)
    last = torch.tensor(lens, device=device)
    for t in range(longest):
        y = choose_rows(apply(processors, history, logits), settings, generator)  # (N,)
        yield y
        done |= t + 1 >= last
        if eos is not None:
            done |= y == eos
        if bool(done.all()):
            return
        history = torch.cat([history, y[:, None]], 1)  # (N, t+1)
        logits, state = stepper.step(y, state)


def sample(stepper: Stepper, *, max_len: int | Sequence[int], eos: int | None = None, **kw):
    """Per row its sampled token ids (without ``eos``): ``sample_steps`` run to the end, each
    row cut at its max length and before ``eos``.

    Keywords as ``sample_steps``; ``temperature=0`` is ``greedy``.
    """
    steps = list(sample_steps(stepper, max_len=max_len, eos=eos, **kw))
    n = stepper.batch
    rows = torch.stack(steps, 1).tolist() if steps else [[] for _ in range(n)]  # (N, t)
    out = []
    for row, m in zip(rows, max_lens(max_len, n), strict=True):
        row = row[:m]
        if eos is not None and eos in row:
            row = row[: row.index(eos)]
        out.append(row)
    return out


def greedy(stepper: Stepper, *, max_len: int | Sequence[int], eos: int | None = None, **kw):
    """Per row the most likely token at every step (after the processors), without ``eos``."""
    return sample(stepper, max_len=max_len, eos=eos, temperature=0, **kw)


@contextmanager
def decoding(model: torch.nn.Module):
    """Dropout off and no autograd while decoding; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def search(
    stepper: Stepper,
    *,
    max_len: int | Sequence[int],
    eos: int | None = None,
    processors: Sequence[Processor] = (),
    beam: int = 1,
    alpha: float = 0.6,
    n_best: int = 1,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    generator: np.random.Generator | None = None,
    keep_greedy: bool = True,
    prefix: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Decode every item of ``stepper`` under ``processors``, in eval mode and without grad.

    ``beam > 1`` is beam search (``alpha``, ``n_best``, ``keep_greedy``: see
    ``rnnkit.decode.beam.beam_search``); otherwise ``temperature`` 0 is greedy
    search and above 0 sampling with ``top_k`` / ``top_p``, from ``generator`` (a numpy
    ``Generator``, see ``make_generator``) or, without one, a generator seeded with ``seed``
    (``None``: a fresh seed; the global RNGs are never used).

    Outputs: per item up to ``n_best`` ``Hypothesis(tokens, score)``, best first; sampled
    and greedy outputs have one, with score ``None`` (it is not computed).

    Raises:
        GenerationError: settings outside their ranges, or a beam with sampling settings.
    """
    check_search(beam, temperature, top_k, top_p, n_best)
    common = dict(max_len=max_len, eos=eos, processors=processors, prefix=prefix)
    with decoding(stepper.model):
        if beam > 1:
            return beam_search(
                stepper, beam=beam, alpha=alpha, n_best=n_best, keep_greedy=keep_greedy, **common
            )
        rows = sample(
            stepper,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            # greedy search draws nothing: no generator to seed
            generator=make_generator(seed) if generator is None and temperature else generator,
            **common,
        )
    return [[Hypothesis(tokens, None)] for tokens in rows]
