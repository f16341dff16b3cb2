"""Translating raw text with a trained run: each line read as the training data was (case,
whitespace or Moses tokens, ``max_len``), batched beam search (or sampling), hypotheses
detokenised; a warning for a line the model mostly does not know; and one sentence's attention
weights for a heatmap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.data.padding import pad_batch
from rnnkit.decode import BanTokens, Hypothesis, Seq2SeqStepper, decoding, reserved_ids, search
from rnnkit.errors import ConfigError
from rnnkit.seq2seq.data import source_ids, split_words
from rnnkit.seq2seq.train import Seq2SeqRunConfig, detok
from rnnkit.text import vocab as special
from rnnkit.text.vocab import Vocab, mostly_unknown


def search_batch(
    model,
    src: torch.Tensor,
    src_len: torch.Tensor,
    tgt_vocab: Vocab,
    *,
    beam: int = 5,
    max_len_a: float = 1.5,
    max_len_b: int = 10,
    banned: Sequence[int] | None = None,
    **settings,
) -> list[list[Hypothesis]]:
    """Decode a batch of source sentences with ``rnnkit.decode.search``.

    Each sentence runs for at most ``max_len = floor(a * src_len + b)`` decoder steps and stops
    at ``<eos>``, which is scored but not returned. ``banned`` tokens are never produced
    (``None``: the target vocabulary's reserved tokens but ``<eos>``), so
    ``beam=1`` is greedy search and equals beam search with one beam and ``alpha=0``.

    Inputs: ``src`` (N, S), ``src_len`` (N,).

    Args:
        settings: the other keywords of ``rnnkit.decode.search`` (alpha, n_best, temperature,
            top_k, top_p, seed, generator, keep_greedy).

    Outputs: per sentence up to ``n_best`` hypotheses, best first.
    """
    stepper = Seq2SeqStepper(model, src, src_len, tgt_vocab.id_of(special.BOS))
    if banned is None:
        banned = reserved_ids(tgt_vocab, keep=[special.EOS])
    lens = [max(0, math.floor(max_len_a * n + max_len_b)) for n in src_len.tolist()]
    eos = tgt_vocab.id_of(special.EOS)
    return search(
        stepper, max_len=lens, eos=eos, processors=[BanTokens(banned)], beam=beam, **settings
    )


def search_ids(model, ids: list[np.ndarray], src_vocab: Vocab, tgt_vocab: Vocab, device, **search):
    """``search_batch`` on source id arrays, padded into one batch on ``device``."""
    src, src_len = pad_batch(ids, src_vocab.id_of(special.PAD))
    return search_batch(model, src.to(device), src_len.to(device), tgt_vocab, **search)


def attention_weights(model, src, src_len, tokens: list[list[int]], bos: int) -> list:
    """Where the decoder looks while it writes ``tokens``: per sentence (L_i, S_i), row ``j``
    the attention of the step that produced ``tokens[i][j]`` (fed the tokens before it)."""
    rows = [torch.tensor([bos, *t], dtype=torch.long) for t in tokens]
    tgt_in = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True).to(src.device)  # (N, T)
    with decoding(model):
        _, attn = model(src, src_len, tgt_in)  # (N, T, S)
    lens = src_len.tolist()
    return [attn[i, : len(t), : lens[i]] for i, t in enumerate(tokens)]


def source_tokens(text: str, config: Seq2SeqRunConfig) -> list[str]:
    """The tokens of one raw source sentence as training read its data: lower-cased when the
    run was, split as its data was (``config.tokenize``: whitespace, or Moses tokens in the
    source language), cut to ``max_len``."""
    return split_words(text, config.tokenize, config.src_lang, config.lowercase)[: config.max_len]


def unknown_warning(
    number: int, text: str, config: Seq2SeqRunConfig, src_vocab: Vocab
) -> str | None:
    """A one-line warning when most source tokens of line ``number`` (from 1) are unknown to
    the model (read as ``<unk>``), so that its translation cannot be trusted; else ``None``."""
    tokens = source_tokens(text, config)
    unknown = [t for t in tokens if t not in src_vocab]
    if not mostly_unknown(len(unknown), len(tokens)):
        return None
    shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
    return (
        f"line {number}: {len(unknown)} of {len(tokens)} source tokens are unknown to the model "
        f"({shown}); its translation is unreliable"
    )


def translate_lines(
    model,
    lines: list[str],
    config: Seq2SeqRunConfig,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    beam: int = 5,
    alpha: float = 0.6,
    seed: int | None = None,
    batch_size: int = 32,
    device="cpu",
    spell=None,
    **settings,
) -> Iterator[list[str]]:
    """The ``n_best`` translations of each line, best first (``beam=1`` is greedy), line by line.

    ``settings`` are the others of ``rnnkit.decode.check_search`` (n_best 1, temperature 0,
    top_k 0, top_p 1 unless given). With ``beam=1`` and a ``temperature`` above 0 each
    translation is sampled (``top_k``, ``top_p``), from one generator seeded with ``seed`` for
    all lines: the same seed, lines and batch size give the same translations.

    ``spell`` names the settings in errors (``rnnkit.decode.as_flag``, the default, or
    ``as_field`` for a JSON request).

    Lines are searched ``batch_size`` at a time in their given order, and each batch's results
    are yielded as soon as it is done. A blank line gets ``[]``. The translations of a line are
    distinct (``unique_translations``), so a line may get fewer than ``n_best``.

    Raises:
        GenerationError: ``beam < 1``, ``n_best`` outside ``[1, beam]``, sampling settings
            out of range or given with ``beam > 1``.
    """
    from rnnkit.decode import as_flag, check_search, make_generator

    check_search(beam, **settings, spell=spell or as_flag)
    if beam == 1 and settings.get("temperature", 0) != 0:
        settings["generator"] = make_generator(seed)
    for start in range(0, len(lines), batch_size):
        chunk = lines[start : start + batch_size]
        ids = [source_ids(source_tokens(line, config), src_vocab) for line in chunk]
        hyps = search_ids(
            model, ids, src_vocab, tgt_vocab, device, beam=beam, alpha=alpha, **settings
        )
        for line, h in zip(chunk, hyps, strict=True):
            # A blank line is searched too (the batch stays as given) but says nothing.
            yield unique_translations(h, tgt_vocab) if line.strip() else []


def unique_translations(hyps: Sequence[Hypothesis], tgt_vocab: Vocab) -> list[str]:
    """The hypotheses as text, best first, each text once: two hypotheses are the same
    translation when their tokens are equal once ``<pad>``, ``<bos>`` and ``<eos>`` are removed
    (beam search already keeps each token sequence once; this holds for what is printed)."""
    return list(dict.fromkeys(detok(h.tokens, tgt_vocab) for h in hyps))


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
    src, src_len = pad_batch([source_ids(tokens, src_vocab)], src_vocab.id_of(special.PAD))
    src, src_len = src.to(device), src_len.to(device)
    out = search_batch(model, src, src_len, tgt_vocab, beam=1)[0][0].tokens
    weights = attention_weights(model, src, src_len, [out], tgt_vocab.id_of(special.BOS))
    return Attention(tokens + [special.EOS], tgt_vocab.decode(out), weights[0].cpu())
