"""Decoding settings: the checks of beam, temperature, top-k and top-p, and the defaults a
command fills in. No torch here, so a command checks its flags (and the numpy generation engine
runs) before torch is imported."""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.bounds import check, flag
from rnnkit.errors import GenerationError

as_flag = flag  # a setting as the command line spells it: ``top_k`` -> ``--top-k``


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
        check(name, value, label=spell(name), error=GenerationError)


def check_beam(beam: int, n_best: int = 1, *, spell: Callable[[str], str] = as_flag) -> None:
    """Raise ``GenerationError`` unless ``1 <= n_best <= beam``; ``spell`` names the settings
    (see ``as_flag``)."""
    check("beam", beam, label=spell("beam"), error=GenerationError)
    if not 1 <= n_best <= beam:
        raise GenerationError(
            f"{spell('n_best')} must be between 1 and {spell('beam')} ({beam}), got {n_best}"
        )


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
