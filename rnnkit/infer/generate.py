"""Text generation: warm up on a prompt, then sample one token at a time (or search with a
beam), with ``rnnkit.decode``; and the text helpers around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from rnnkit.bounds import check
from rnnkit.decode import (
    BanTokens,
    LanguageModelStepper,
    make_generator,
    sample_steps,
    search,
    search_settings,
)
from rnnkit.errors import GenerationError

# prompt_ids and unseen_reserved are imported from here too: their old home
from rnnkit.infer.lines import prompt_ids, unseen_reserved, write_text  # noqa: F401


def generate_ids(
    model,
    context: list[int],
    length: int,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_id: int | None = None,
    device="cpu",
    banned: list[int] | None = None,
    beam: int = 1,
) -> Iterator[int]:
    """Yield up to ``length`` token ids after ``context``, sampled (or, ``beam > 1``, the most
    likely continuation beam search finds).

    The context is fed through the model in one call to set the state (it is not predicted).
    Each further step feeds one token and keeps only the state: memory stays constant.
    ``banned`` ids are never produced (reserved tokens the training text never had);
    ``stop_id`` ends the text and is not yielded. Sampling settings left ``None`` take their
    defaults (temperature 1); a beam takes none. ``seed=None`` draws a fresh seed; the global
    RNG is never used.
    """
    check("length", length, label="--length", error=GenerationError)
    if not context:
        raise GenerationError("generation needs at least one context token")
    beam, sampling = search_settings(beam, temperature, top_k, top_p)
    stepper = LanguageModelStepper(model, torch.tensor([context], dtype=torch.long, device=device))
    settings = dict(max_len=length, eos=stop_id, processors=[BanTokens(banned or [])])
    if beam > 1:
        yield from search(stepper, beam=beam, **settings)[0][0].tokens
        return
    was_training = model.training
    model.eval()
    try:
        for y in sample_steps(stepper, **settings, **sampling, generator=make_generator(seed)):
            if int(y) == stop_id:
                return
            yield int(y)
    finally:
        model.train(was_training)


def generate_text(
    model,
    tokenizer,
    vocab,
    prompt: str,
    length: int,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_token: str | None = None,
    stream: Callable[[str], None] | None = None,
    device="cpu",
    beam: int = 1,
) -> str:
    """Prompt plus up to ``length`` generated tokens, as text (see ``generate_ids``).

    ``stream`` receives the prompt and then each new piece, once every setting has been checked
    (with a beam, the pieces come once the search is done).
    """
    search_settings(beam, temperature, top_k, top_p)

    def ids(ctx: list[int], stop_id: int | None, banned: list[int]) -> Iterator[int]:
        return generate_ids(
            model, ctx, length, temperature, top_k, top_p, seed, stop_id, device, banned, beam
        )

    return write_text(ids, tokenizer, vocab, prompt, length, stop_token, stream)
