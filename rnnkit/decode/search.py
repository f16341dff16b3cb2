"""One entry point for every decoding: greedy search, sampling and beam search.

``search`` picks the search from its settings, so a command offers ``--beam``,
``--temperature``, ``--top-k`` and ``--top-p`` the same way whatever model it drives.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch

from rnnkit.decode.beam import Hypothesis, beam_search
from rnnkit.decode.processors import Processor
from rnnkit.decode.sample import make_generator, sample
from rnnkit.decode.steppers import Stepper
from rnnkit.infer.settings import check_search


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
            generator=make_generator(seed) if generator is None else generator,
            **common,
        )
    return [[Hypothesis(tokens, None)] for tokens in rows]
