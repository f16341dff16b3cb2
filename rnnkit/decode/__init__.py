"""Decoding: one step protocol, logits processors, and greedy, sampling and beam search.

- ``steppers``: what a search drives (a language model after a context, an encoder-decoder).
- ``processors``: constraints on the next token, ``(history, logits) -> logits``.
- ``warpers``: temperature, top-k and top-p as processors (ranges: ``rnnkit.infer.settings``).
- ``beam``: batched beam search with a length penalty and distinct n-best lists.
- ``search``: greedy search and sampling from a local generator (the choice of each token is
  ``rnnkit.infer.draw``'s, shared with the numpy generation engine), and ``search(stepper,
  ...)``, the one entry point, in eval mode without grad.
"""

from rnnkit.bounds import MAX_TEMPERATURE, MIN_TEMPERATURE, MIN_TOP_P
from rnnkit.decode.beam import Hypothesis, beam_search, check_beam, length_penalty
from rnnkit.decode.processors import (
    AllowTokens,
    BanTokens,
    ForceTokens,
    Processor,
    SameGroup,
    reserved_ids,
)
from rnnkit.decode.search import decoding, greedy, make_generator, sample, sample_steps, search
from rnnkit.decode.steppers import LanguageModelStepper, Seq2SeqStepper, Stepper
from rnnkit.decode.warpers import Temperature, TopK, TopP, filter_logits, sample_next
from rnnkit.infer.settings import (
    as_field,
    as_flag,
    check_sampling,
    check_search,
    search_settings,
)

__all__ = [
    "MAX_TEMPERATURE",
    "MIN_TEMPERATURE",
    "MIN_TOP_P",
    "AllowTokens",
    "BanTokens",
    "as_field",
    "as_flag",
    "ForceTokens",
    "Hypothesis",
    "LanguageModelStepper",
    "Processor",
    "SameGroup",
    "Seq2SeqStepper",
    "Stepper",
    "Temperature",
    "TopK",
    "TopP",
    "beam_search",
    "check_beam",
    "check_sampling",
    "check_search",
    "decoding",
    "filter_logits",
    "greedy",
    "length_penalty",
    "make_generator",
    "reserved_ids",
    "sample",
    "sample_next",
    "sample_steps",
    "search",
    "search_settings",
]
