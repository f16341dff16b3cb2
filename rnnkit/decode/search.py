"""One entry point for every decoding: greedy search, sampling and beam search.

``search`` picks the search from its settings, so a command offers ``--beam``,
``--temperature``, ``--top-k`` and ``--top-p`` the same way whatever model it drives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch

from rnnkit.decode.beam import Hypothesis, beam_search, check_beam
from rnnkit.decode.processors import Processor
from rnnkit.decode.sample import make_generator, sample
from rnnkit.decode.steppers import Stepper
from rnnkit.decode.warpers import as_flag, check_sampling
from rnnkit.errors import GenerationError


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


def check_search(
    beam: int,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    n_best: int = 1,
    *,
    spell: Callable[[str], str] = as_flag,
):
    """Raise ``GenerationError`` unless the settings name one search.

    Beam search looks for the most likely output and draws nothing, so it takes no sampling
    setting; sampling and greedy search write one output per item. Messages name the settings
    as ``spell`` does: command-line flags (``as_flag``) or JSON fields (``as_field``).
    """
    check_beam(beam, n_best, spell=spell)
    check_sampling(temperature, top_k, top_p, spell=spell)
    on = {"temperature": temperature != 0, "top_k": top_k, "top_p": top_p != 1}
    _refuse_sampling_with_beam(beam, [name for name, value in on.items() if value], spell)
    if beam == 1 and n_best > 1:
        raise GenerationError(f"{spell('n_best')} {n_best} needs a beam of at least {n_best}")


def _refuse_sampling_with_beam(beam: int, asked: list[str], spell: Callable[[str], str]):
    if beam > 1 and asked:
        raise GenerationError(
            f"{spell('beam')} {beam} searches for the most likely output and samples nothing: "
            f"drop {' and '.join(map(spell, asked))}, or use {spell('beam')} 1 to sample"
        )


def search_settings(
    beam: int | None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    *,
    beam_default: int = 1,
    temperature_default: float = 1.0,
    spell: Callable[[str], str] = as_flag,
) -> tuple[int, dict]:
    """The beam and sampling settings a command runs with; ``None`` is a setting not given.

    A sampling setting given makes the beam 1 unless one is given too (then it is an error:
    beam search samples nothing). Settings not given take their defaults: temperature
    ``temperature_default`` with beam 1 (1 when another sampling setting is given), top-k and
    top-p off; beam search runs with none. Outputs ``(beam, {"temperature", "top_k",
    "top_p"})``, checked; messages name the settings as ``spell`` does.

    Raises:
        GenerationError: a beam with a sampling setting, or a value out of its range.
    """
    given = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    given = {name: value for name, value in given.items() if value is not None}
    if beam is None:
        beam = 1 if given else beam_default
    _refuse_sampling_with_beam(beam, list(given), spell)
    # A sampling flag asks for sampling: the temperature is then 1 unless given.
    temperature = (1.0 if given else temperature_default) if beam == 1 else 0.0
    sampling = {"temperature": temperature, "top_k": 0, "top_p": 1.0, **given}
    check_search(beam, **sampling, spell=spell)
    return beam, sampling


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
    generator: torch.Generator | None = None,
    keep_greedy: bool = True,
    prefix: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Decode every item of ``stepper`` under ``processors``, in eval mode and without grad.

    ``beam > 1`` is beam search (``alpha``, ``n_best``, ``keep_greedy``: see
    ``rnnkit.decode.beam.beam_search``); otherwise ``temperature`` 0 is greedy
    search and above 0 sampling with ``top_k`` / ``top_p``, from ``generator`` or, without
    one, a generator seeded with ``seed`` (``None``: a fresh seed; the global RNG is never
    used).

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
        if generator is None and temperature != 0:
            generator = make_generator(seed, _device(stepper.model))
        rows = sample(
            stepper,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
            **common,
        )
    return [[Hypothesis(tokens, None)] for tokens in rows]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device
