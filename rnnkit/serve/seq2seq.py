"""The translation adapter: runs of ``rnnkit seq2seq train``.

``/translate`` calls the functions ``rnnkit translate`` and ``rnnkit seq2seq attention`` call,
so its translations and attention weights are the command line's.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.decode import as_field
from rnnkit.seq2seq.train import load_run
from rnnkit.seq2seq.translate import (
    Attention,
    attend,
    source_tokens,
    translate_lines,
    unknown_warning,
)
from rnnkit.serve.registry import ServedModel, register_kind


@register_kind
class Translator(ServedModel):
    """An encoder-decoder with its source and target vocabularies."""

    kind = "seq2seq"
    runs = "translation runs (written by `rnnkit seq2seq train`)"
    task = "translation"
    endpoints = ("/translate",)
    read = staticmethod(load_run)  # config, src_vocab, tgt_vocab, model

    def __init__(self, name: str, path: Path, config, src_vocab, tgt_vocab, model, device):
        super().__init__(name, path)
        self.config, self.model, self.device = config, model, device
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab

    def translate(self, lines: list[str], beam: int, alpha: float, n_best: int) -> list[list[str]]:
        """The ``n_best`` translations of each line, best first (``[]`` for a blank line), as
        ``rnnkit translate`` writes them. Blocks: call it from a worker thread."""
        with self.lock:
            return list(
                translate_lines(
                    self.model,
                    lines,
                    self.config,
                    self.src_vocab,
                    self.tgt_vocab,
                    beam=beam,
                    alpha=alpha,
                    n_best=n_best,
                    device=self.device,
                    spell=as_field,
                )
            )

    def warnings(self, lines: list[str]) -> list[str]:
        """A warning per line whose source tokens are mostly unknown to the model, as
        ``rnnkit translate`` prints them."""
        found = (
            unknown_warning(i, line, self.config, self.src_vocab) for i, line in enumerate(lines, 1)
        )
        return [w for w in found if w]

    def attention(self, sentence: str) -> Attention:
        """The greedy translation of one sentence with its attention weights, as
        ``rnnkit seq2seq attention`` draws them. Blocks: call it from a worker thread.

        Raises:
            ConfigError: the run has no attention, or the sentence no token.
        """
        tokens = source_tokens(sentence, self.config)
        with self.lock:
            return attend(
                self.model, tokens, self.config, self.src_vocab, self.tgt_vocab, self.device
            )
