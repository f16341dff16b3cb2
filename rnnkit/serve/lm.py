"""The language-model adapter: runs of ``rnnkit train`` and ``rnnkit poem train``.

Generation and scoring call the same functions as ``rnnkit generate`` and ``rnnkit score``, so
a request with a seed writes what the command line writes with that seed. A poem run is a
language model that can also write poems (``/poem``) as ``rnnkit poem RUN_DIR`` does: it is
loaded, generated from and scored like any other, so it stays one kind with one more endpoint.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.decode import as_field, search_settings
from rnnkit.infer.generate import generate_ids
from rnnkit.infer.lines import prompt_ids, text_pieces, unseen_reserved
from rnnkit.infer.scoring import LineScore, score_lines
from rnnkit.poetry.run import is_poem_run
from rnnkit.serve.registry import ServedModel, register_kind
from rnnkit.train.checkpoint import load_for_inference

SEED_RANGE = 2**31  # seeds drawn for requests without one; small enough for any JSON client


@dataclass(frozen=True)
class GenerationPlan:
    """A checked ``/generate`` request: the context ids, the beam and, with beam 1, the sampling
    settings (``temperature``, ``top_k``, ``top_p``: keywords of ``generate_ids``)."""

    prompt: str
    context: list[int]
    length: int
    beam: int
    sampling: dict[str, Any]
    seed: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    text: str  # what the model wrote after the prompt
    tokens: int
    seconds: float


@register_kind
class LanguageModel(ServedModel):
    """A recurrent language model with its tokenizer and vocabulary.

    ``task`` is ``poem`` for a run of ``rnnkit poem train`` (which also answers ``/poem``) and
    ``text`` otherwise.
    """

    kind = "lm"
    runs = "language-model runs (written by `rnnkit train` or `rnnkit poem train`)"
    read = staticmethod(load_for_inference)  # config, tokenizer, vocab, model

    def __init__(self, name: str, path: Path, config, tokenizer, vocab, model, device):
        super().__init__(name, path)
        self.config, self.tokenizer, self.vocab, self.model = config, tokenizer, vocab, model
        self.device = device
        self.banned = unseen_reserved(vocab)
        self.task = "poem" if is_poem_run(path) else "text"
        self.endpoints = ("/generate", "/score") + (("/poem",) if self.task == "poem" else ())
        self._poem_decoder = None  # built on the first /poem request

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "vocab_size": len(self.vocab),
            "tokenizer": self.tokenizer.name,
        }

    def plan(
        self,
        prompt: str,
        length: int,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        beam: int = 1,
    ) -> GenerationPlan:
        """Check a request and encode its prompt; cheap, so it runs before a slot is taken.

        Sampling settings left ``None`` take their defaults; a beam takes none.

        Raises:
            GenerationError: bad sampling values or beam, or a prompt with no known token.
        """
        beam, sampling = search_settings(beam, temperature, top_k, top_p, spell=as_field)
        warnings: list[str] = []
        context = prompt_ids(
            prompt,
            self.tokenizer,
            self.vocab,
            warn=lambda m: warnings.append(m.removeprefix("warning: ")),
        )
        seed = random.randrange(SEED_RANGE) if seed is None else seed
        sampling = sampling if beam == 1 else {}  # a beam takes no sampling setting
        return GenerationPlan(prompt, context, length, beam, sampling, seed, warnings)

    def generate(self, plan: GenerationPlan, emit: Callable[[str], None] | None = None):
        """Sample ``plan.length`` tokens (or search them with ``plan.beam``); ``emit`` gets each
        piece of text as it is made (with a beam, once the search is done).

        Blocks: call it from a worker thread. Raising in ``emit`` stops the generation.
        """
        with self.lock:
            start = time.perf_counter()
            ids = generate_ids(
                self.model,
                plan.context,
                plan.length,
                seed=plan.seed,
                device=self.device,
                banned=self.banned,
                beam=plan.beam,
                **plan.sampling,
            )
            pieces = []
            for piece in text_pieces(ids, self.tokenizer, self.vocab, plan.prompt):
                pieces.append(piece)
                if emit:
                    emit(piece)
            return Generation("".join(pieces), len(pieces), time.perf_counter() - start)

    def score(self, lines: list[str]) -> list[LineScore]:
        """Score each line on its own (as ``rnnkit score``). Blocks: call it from a thread."""
        with self.lock:
            return score_lines(self.model, self.tokenizer, self.vocab, lines, self.device)

    def poems(self, num: int, seed: int, script: str = "as-trained", **settings) -> list[str]:
        """``num`` poems, as ``rnnkit poem RUN_DIR --num NUM --seed SEED`` prints them.

        Args:
            script: ``as-trained``, ``simplified`` or ``traditional``.
            settings: the keyword arguments of ``PoemDecoder.generate`` (form, start, acrostic,
                style, rhyme, temperature, top_k, top_p, beam).

        Blocks: call it from a worker thread.

        Raises:
            ConfigError, GenerationError: settings the decoder cannot follow, or a vocabulary
                that was not trained on punctuated poems.
        """
        from rnnkit.poetry.data import to_script
        from rnnkit.poetry.decoding import PoemDecoder

        with self.lock:
            if self._poem_decoder is None:
                self._poem_decoder = PoemDecoder(self.model, self.vocab, device=self.device)
            written = self._poem_decoder.generate_each(num, seed=seed, **settings)
            return [to_script(text, script) for text in written]
