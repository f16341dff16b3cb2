"""Translating raw text with a trained run: each line read as the training data was (case,
whitespace tokens, ``max_len``), batched beam search, hypotheses detokenised; and one
sentence's attention weights for a heatmap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.errors import ConfigError
from rnnkit.seq2seq.data import pad_batch
from rnnkit.seq2seq.search import beam_search, greedy_decode
from rnnkit.seq2seq.train import EOS, PAD, Seq2SeqRunConfig, detok
from rnnkit.text.vocab import Vocab


def source_tokens(text: str, config: Seq2SeqRunConfig) -> list[str]:
    """The tokens of one source sentence as training read them: whitespace-split, lower-cased
    when the run was, cut to ``max_len``."""
    return (text.lower() if config.lowercase else text).split()[: config.max_len]


def source_ids(tokens: list[str], src_vocab: Vocab) -> np.ndarray:
    """Source ids closed by ``<eos>``, as the encoder was trained on them."""
    return np.append(src_vocab.encode(tokens), EOS).astype(np.int64)


def translate_lines(
    model,
    lines: list[str],
    config: Seq2SeqRunConfig,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    beam: int = 5,
    alpha: float = 0.6,
    n_best: int = 1,
    batch_size: int = 32,
    device="cpu",
) -> Iterator[list[str]]:
    """The ``n_best`` translations of each line, best first (``beam=1`` is greedy), line by line.

    Lines are searched ``batch_size`` at a time in their given order, and each batch's results
    are yielded as soon as it is done. A blank line gets ``[]``.

    Raises:
        GenerationError: ``beam < 1`` or ``n_best`` outside ``[1, beam]``.
    """
    for start in range(0, len(lines), batch_size):
        chunk = lines[start : start + batch_size]
        ids = [source_ids(source_tokens(line, config), src_vocab) for line in chunk]
        src, src_len = pad_batch(ids, PAD)
        with torch.no_grad():
            hyps = beam_search(
                model, src.to(device), src_len.to(device), beam=beam, alpha=alpha, n_best=n_best
            )
        for line, h in zip(chunk, hyps, strict=True):
            # A blank line is searched too (the batch stays as given) but says nothing.
            yield [detok(t, tgt_vocab) for t, _ in h[:n_best]] if line.strip() else []


def check_attention(config: Seq2SeqRunConfig) -> None:
    """Raise ``ConfigError`` unless the run's decoder attends (so it has weights to show)."""
    if config.attention == "none":
        raise ConfigError("this run has no attention (--attention none); train with additive/dot")


@dataclass(frozen=True)
class Attention:
    """Where the decoder looked while translating one sentence greedily.

    Attributes:
        source: the source tokens the encoder read, ``<eos>`` last.
        target: the output tokens, without ``<eos>``.
        weights: (len(target), len(source)): row ``i`` is the attention that produced
            ``target[i]``; each row sums to 1.
    """

    source: list[str]
    target: list[str]
    weights: torch.Tensor


def attend(
    model,
    tokens: list[str],
    config: Seq2SeqRunConfig,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    device="cpu",
) -> Attention:
    """Translate the source ``tokens`` (see ``source_tokens``) greedily, keeping the attention.

    Raises:
        ConfigError: the run has no attention, or ``tokens`` is empty.
    """
    check_attention(config)
    if not tokens:
        raise ConfigError("the sentence has no token; give a sentence to translate")
    src, src_len = pad_batch([source_ids(tokens, src_vocab)], PAD)
    out, weights = greedy_decode(model, src.to(device), src_len.to(device))
    return Attention(tokens + ["<eos>"], tgt_vocab.decode(out[0]), weights[0].cpu())
