"""Exporting a classifier / tagger: token ids and lengths in, label scores and tags out.

One call labels a padded batch: the sentence classifier's logits, the tagger's emission scores
and the decoded tags (Viterbi under the CRF's scores, with its BIO constraints, for a run with
a CRF; else the best tag of each token), as ``rnnkit classify predict`` / ``rnnkit tag predict``
compute them. The encoder and Viterbi run as scans over time (``padded.PaddedScan``, ``viterbi``
here), so batch, length and word length stay free. The sidecar JSON carries the vocabularies,
the tokenizer's rule and the CRF's scores, for a consumer that decodes the tags its own way.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch._higher_order_ops.scan import scan

from rnnkit.classify.data import _EDGE_PUNCT
from rnnkit.classify.models import SequenceModel
from rnnkit.classify.train import load_run
from rnnkit.export.graph import Exportable, TensorSpec
from rnnkit.export.padded import ENCODER_LAYERS, load_which, padded_mask, random_lengths, scan_twin
from rnnkit.text.vocab import PAD, UNK

MAX_WORD_LEN = 20  # characters kept per word, as the run's data encoding cuts them


def viterbi(emissions, mask, start, transitions, end) -> torch.Tensor:
    """The best tag path of each row, as ``rnnkit.classify.crf.CRF.decode``, written as two
    scans over time (forward: best scores and back-pointers; backward: the path).

    Inputs: ``emissions`` (N, S, T), ``mask`` (N, S) bool (a prefix of >= 1 step per row),
    ``start`` (T,), ``transitions`` (T, T) (``[i, j]``: from tag i to tag j), ``end`` (T,).

    Outputs: tags (N, S) int64, 0 past each row's length.
    """
    N, S, T = emissions.shape
    keep = torch.arange(T, device=emissions.device).expand(N, T)  # a pointer to itself
    first = torch.arange(S, device=emissions.device) == 0

    def forward_step(best, inputs):  # best: (N, T), the best score of a path ending in each tag
        emit, valid, is_first = inputs  # (N, T), (N, 1), ()
        step, prev = (best.unsqueeze(2) + transitions).max(dim=1)  # (N, T) each
        step = torch.where(is_first, start.expand(N, T), step)
        # A padded step keeps the scores and points every tag at itself, so backtracking
        # passes through it unchanged.
        new = torch.where(valid, step + emit, best)
        return new, torch.where(valid & ~is_first, prev, keep)

    xs = (emissions.transpose(0, 1), mask.t().unsqueeze(-1), first)
    best, pointers = scan(forward_step, torch.zeros_like(emissions[:, 0]), xs)  # (S, N, T)

    def back_step(tag, pointer):  # tag: (N,) at step t; pointer: (N, T)
        return pointer.gather(1, tag.unsqueeze(1)).squeeze(1), tag.clone()

    _, path = scan(back_step, (best + end).argmax(dim=1), pointers, reverse=True)  # (S, N)
    return path.t().masked_fill(~mask, 0)


class Labeller(nn.Module):
    """A ``SequenceModel`` and its tag decoding as one function of tensors.

    Args:
        model: the model. decode: ``(emissions (N, S, T), mask (N, S)) -> tags (N, S)``.

    Inputs: ``words`` (N, S), ``lengths`` (N,) [, ``chars`` (N, S, W)].

    Outputs: ``label_logits`` (N, C) for a classifier; ``tag_emissions`` (N, S, T) and
    ``tags`` (N, S) for a tagger; in that order.
    """

    def __init__(self, model: SequenceModel, decode):
        super().__init__()
        self.model, self.decode = model, decode

    def forward(self, words, lengths, chars=None):
        logits, emissions = self.model(words, lengths, chars)
        out = () if logits is None else (logits,)
        if emissions is not None:
            out += (emissions, self.decode(emissions, padded_mask(lengths, words.size(1))))
        return out


def rnnkit_tags(model: SequenceModel):
    """``decode`` of ``Labeller`` through ``model.decode_tags``: rnnkit's own decoding."""

    def decode(emissions, mask):
        tags = torch.zeros(mask.shape, dtype=torch.long)
        for row, ids in enumerate(model.decode_tags(emissions, mask)):
            tags[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return tags

    return decode


def scan_tags(model: SequenceModel):
    """``decode`` of ``Labeller`` as tensor operations that ``torch.export`` traces: Viterbi
    under the CRF's constrained scores, or each token's best tag but the reserved ones."""
    reserved = torch.tensor([t in (PAD, UNK) for t in model.config.tags])

    def decode(emissions, mask):
        if model.crf is not None:
            return viterbi(emissions, mask, *model.crf._scores())
        best = emissions.masked_fill(reserved, torch.finfo(emissions.dtype).min).argmax(-1)
        return best.masked_fill(~mask, 0)

    return decode


def classify_exportable(run_dir: str | Path, which: str = "best") -> Exportable:
    """A classification or tagging run (``rnnkit classify train``, ``rnnkit tag train``)
    ready to export.

    Raises:
        RunDirError: not a complete run, or no last.safetensors for ``which="last"``.
    """
    config, vocabs, model = load_run(run_dir)
    load_which(model, run_dir, which)
    c = model.config
    twin = scan_twin(model, SequenceModel)
    inputs, outputs = _tensors(c)
    V, K = c.vocab, max(c.chars, 1)

    def sample(batch: int, time: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        lengths = random_lengths(batch, time, gen)
        valid = padded_mask(lengths, time)
        feed = {"words": torch.randint(1, V, (batch, time), generator=gen) * valid}
        feed["lengths"] = lengths
        if c.char_embed:  # words of 1 to 6 characters; 0 pads a word
            width = 1 + (time - 1) % 6
            chars = torch.randint(1, K, (batch, time, width), generator=gen)
            cut = torch.randint(1, width + 1, (batch, time, 1), generator=gen)
            feed["chars"] = chars * (torch.arange(width) < cut) * valid.unsqueeze(-1)
        return feed

    return Exportable(
        kind="classify",
        reference=Labeller(model, rnnkit_tags(model)).eval(),
        inputs=inputs,
        outputs=outputs,
        sample=sample,
        meta=_meta(config, vocabs, model),
        program=Labeller(twin, scan_tags(twin)).eval(),
    )


def _tensors(c) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """``(inputs, outputs)`` of a model of config ``c``."""
    inputs = [
        TensorSpec("words", ("batch", "time"), "word ids, padded with 0 (<pad>)", dtype="int64"),
        TensorSpec("lengths", ("batch",), "each sentence's number of words, >= 1", dtype="int64"),
    ]
    if c.char_embed:
        ids = f"each word's character ids (its first {MAX_WORD_LEN} characters), padded with 0"
        inputs.append(TensorSpec("chars", ("batch", "time", "word_length"), ids, dtype="int64"))
    outputs = []
    if c.num_labels:
        scores = "sentence label scores; softmax gives rnnkit's probabilities"
        outputs.append(TensorSpec("label_logits", ("batch", c.num_labels), scores))
    if c.tags:
        scores = "per-word tag scores (the CRF's emissions for a CRF run), 0 past each length"
        outputs.append(TensorSpec("tag_emissions", ("batch", "time", len(c.tags)), scores))
        how = "Viterbi under the CRF" if c.crf else "the best tag of each word"
        tags = f"decoded tag ids ({how}; never <pad> or <unk>), 0 past each length"
        outputs.append(TensorSpec("tags", ("batch", "time"), tags, dtype="int64"))
    return tuple(inputs), tuple(outputs)


def _meta(config, vocabs: dict, model: SequenceModel) -> dict:
    """The sidecar's model, vocabularies, tokenizer and (for a CRF run) tag scores."""
    c = model.config

    def vocab(name: str) -> dict:
        v = vocabs[name]
        return {"tokens": list(v.itos), "reserved": list(v.reserved), "unk_id": v.unk_id}

    meta = {
        "task": config.task,
        "model": {
            "cell": c.cell,
            "num_layers": c.layers,
            "hidden_size": c.hidden,
            "bidirectional": c.bidirectional,
            "embed_size": c.embed,
            "char_embed": c.char_embed,
            "pooling": c.pooling if c.num_labels else None,
            "crf": c.crf,
            "backend": c.backend,
            "exported_layers": ENCODER_LAYERS,
        },
        "tokenizer": {
            "lowercase": config.lowercase,
            "split": "lower-case the line if lowercase; split on whitespace; strip the "
            "characters of `strip` from both ends of each word; drop words left empty",
            "strip": _EDGE_PUNCT,
            "chars": f"each word's first {MAX_WORD_LEN} characters, one id per Unicode code "
            "point from vocab.chars",
        },
        "vocab": {name: vocab(name) for name in vocabs if name != "chars" or c.char_embed},
    }
    if model.crf is not None:
        start, transitions, end = (s.detach().tolist() for s in model.crf._scores())
        meta["crf"] = {
            "start": start,
            "transitions": transitions,
            "end": end,
            "decode": (
                "tags are the Viterbi path; to decode yourself, maximise start[y_1] + "
                "sum_t tag_emissions[t, y_t] + sum_t transitions[y_(t-1), y_t] + end[y_S] over "
                "the sentence's words (forbidden BIO moves carry -10000 here)"
            ),
        }
    return meta
