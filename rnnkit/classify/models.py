"""Many-to-one and aligned many-to-many recurrent models sharing one encoder.

``SequenceModel`` reads words (and optionally their characters) with a (bi)directional
RNN / LSTM / GRU and has up to two heads: a sentence classifier over a pooled summary of the
outputs (intent) and a per-token tagger (slots), with an optional CRF on top of the tagger.
A model with both heads is the joint intent + slot model of the SNIPS literature.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import torch
from torch import nn

from rnnkit.classify.crf import CRF, bio_constraints
from rnnkit.errors import ConfigError, DataError, check_choice
from rnnkit.nn.recurrent import BACKENDS, build_recurrent, run_padded
from rnnkit.text.vocab import PAD, UNK

POOLINGS = ("last", "mean", "max", "attention")
CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm")


@dataclass(frozen=True)
class SequenceModelConfig:
    """Shape of a classifier / tagger.

    Args:
        vocab: word vocabulary size (``<pad>`` = 0). chars: character vocabulary size, used
            when ``char_embed`` > 0.
        num_labels: sentence classes (0: no classifier head). tags: tag names, in id order,
            ``<pad>`` and ``<unk>`` first (empty: no tagger head).
        embed: E, word embedding size. hidden: H per direction. layers: stacked layers.
        cell: ``rnn``, ``lstm``, ``gru``, ``mingru`` or ``minlstm``. bidirectional: read both
            ways (D = 2).
        pooling: how the classifier summarises the outputs: ``last`` (each direction's final
            state), ``mean`` / ``max`` over valid steps, ``attention`` (additive, learned).
        char_embed: size of character embeddings (0: no character encoder). char_filters:
            width of the character CNN's output (its max over the word is the word's
            character feature, Ma & Hovy 2016).
        crf: a CRF over the tags (Viterbi decoding, BIO transitions enforced).
        dropout: on embeddings, between layers and before the heads.
        backend: which recurrent implementation (``rnnkit.nn.recurrent.BACKENDS``).
    """

    vocab: int
    num_labels: int = 0
    tags: tuple[str, ...] = ()
    chars: int = 0
    embed: int = 128
    hidden: int = 128
    layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "attention"
    char_embed: int = 0
    char_filters: int = 64
    crf: bool = False
    dropout: float = 0.3
    backend: str = "torch"

    def __post_init__(self):
        object.__setattr__(self, "tags", tuple(self.tags))
        for name in ("vocab", "embed", "hidden", "layers", "char_filters"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"model {name} must be a positive integer, got {value!r}")
        if self.num_labels < 0 or self.char_embed < 0:
            raise ConfigError("num_labels and char_embed must be >= 0")
        if self.num_labels == 0 and not self.tags:
            raise ConfigError("a model needs labels, tags or both; the data has neither")
        if self.char_embed and self.chars < 3:
            raise ConfigError("a character encoder needs a character vocabulary (chars >= 3)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choice("cell", self.cell, CELLS)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("backend", self.backend, tuple(BACKENDS))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SequenceModelConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**d)


class CharCNN(nn.Module):
    """A word's characters -> one vector: embed, convolve (width 3), max over positions.

    Inputs: ``chars`` (N, S, W) int64, 0 = padding. Outputs: (N, S, F).
    """

    def __init__(self, chars: int, embed: int, filters: int):
        super().__init__()
        self.embedding = nn.Embedding(chars, embed, padding_idx=0)
        self.conv = nn.Conv1d(embed, filters, kernel_size=3, padding=1)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        N, S, W = chars.shape
        x = self.embedding(chars.view(N * S, W)).transpose(1, 2)  # (N*S, C, W)
        h = self.conv(x)  # (N*S, F, W)
        pad = chars.view(N * S, 1, W) == 0
        h = h.masked_fill(pad, float("-inf")).amax(-1)  # padding characters never win the max
        h = h.masked_fill(pad.all(-1), 0.0)  # padded words have no characters at all
        return h.view(N, S, -1)


class SequenceModel(nn.Module):
    """Embedding (+ character CNN) -> recurrent encoder -> classifier and/or tagger heads.

    Inputs: ``words`` (N, S) int64 padded with 0, ``lengths`` (N,), ``chars`` (N, S, W) or
        ``None`` (needed when the config has a character encoder).

    Outputs: ``(label_logits (N, C) or None, tag_emissions (N, S, T) or None)``; emissions past
        each length are 0 and never read.
    """

    def __init__(self, config: SequenceModelConfig):
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab, c.embed, padding_idx=0)
        self.chars = CharCNN(c.chars, c.char_embed, c.char_filters) if c.char_embed else None
        width = c.embed + (c.char_filters if c.char_embed else 0)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.rnn = build_recurrent(
            c.cell, width, c.hidden, c.layers, c.dropout, c.backend, c.bidirectional
        )
        O = c.hidden * (2 if c.bidirectional else 1)  # D*H, the size of an encoder output
        self.attn = None
        if c.num_labels and c.pooling == "attention":
            self.attn = nn.Sequential(nn.Linear(O, O), nn.Tanh(), nn.Linear(O, 1, bias=False))
        self.classifier = nn.Linear(O, c.num_labels) if c.num_labels else None
        self.tagger = nn.Linear(O, len(c.tags)) if c.tags else None
        self.crf = None
        if c.tags and c.crf:
            start_ok, ok, end_ok = bio_constraints(list(c.tags))
            # The reserved tags (<pad>, <unk>) are never part of an answer.
            reserved = [i for i, t in enumerate(c.tags) if t in (PAD, UNK)]
            start_ok[reserved], end_ok[reserved] = False, False
            ok[reserved, :], ok[:, reserved] = False, False
            self.crf = CRF(len(c.tags), ok, start_ok, end_ok)

    def encode(self, words, lengths, chars=None):
        """``(outputs (N, S, D*H), final states (N, D*H), mask (N, S))``."""
        c = self.config
        if words.dim() != 2 or lengths.shape != (words.size(0),):
            raise DataError(
                f"expected words (N, S) and lengths (N,), got {tuple(words.shape)} and "
                f"{tuple(lengths.shape)}"
            )
        x = self.embedding(words)  # (N, S, E)
        if self.chars is not None:
            if chars is None:
                raise DataError("this model reads characters too; pass chars (N, S, W)")
            x = torch.cat([x, self.chars(chars)], dim=-1)
        x = self.drop(x).transpose(0, 1)  # (S, N, E'), time-major for the kernels
        out, final = run_padded(self.rnn, x, lengths, c.backend)
        h = final[0] if isinstance(final, tuple) else final  # (D*L, N, H)
        D = 2 if c.bidirectional else 1
        last = h[-D:].transpose(0, 1).reshape(words.size(0), D * c.hidden)  # (N, D*H)
        mask = torch.arange(words.size(1), device=words.device)[None, :] < lengths[:, None]
        return out.transpose(0, 1), last, mask

    def pool(self, out, last, mask) -> torch.Tensor:
        """One vector per sentence (N, D*H) from the outputs of its valid steps."""
        pooling = self.config.pooling
        if pooling == "last":
            return last
        m = mask.unsqueeze(-1)  # (N, S, 1)
        if pooling == "mean":
            return (out * m).sum(1) / m.sum(1)
        if pooling == "max":
            return out.masked_fill(~m, torch.finfo(out.dtype).min).amax(1)
        scores = self.attn(out).squeeze(-1)  # (N, S)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1).masked_fill(~mask, 0.0)
        return torch.bmm(weights.unsqueeze(1), out).squeeze(1)

    def forward(self, words, lengths, chars=None):
        out, last, mask = self.encode(words, lengths, chars)
        logits = emissions = None
        if self.classifier is not None:
            logits = self.classifier(self.drop(self.pool(out, last, mask)))
        if self.tagger is not None:
            emissions = self.tagger(self.drop(out)) * mask.unsqueeze(-1)
        return logits, emissions

    def tag_loss(self, emissions, tags, mask) -> torch.Tensor:
        """Per-token loss of the gold tags: CRF negative log-likelihood (summed over each
        sentence) or cross-entropy, divided by the number of valid tokens."""
        if self.crf is not None:
            return self.crf(emissions, tags, mask, reduction="sum") / mask.sum()
        return nn.functional.cross_entropy(emissions[mask], tags[mask], reduction="mean")

    def decode_tags(self, emissions, mask) -> list[list[int]]:
        """Best tag ids of each sentence's valid tokens (Viterbi with a CRF, else argmax);
        the reserved ``<pad>`` / ``<unk>`` tags are never predicted."""
        if self.crf is not None:
            return self.crf.decode(emissions, mask)[0]
        best = emissions.detach().clone()
        best[..., :2] = torch.finfo(best.dtype).min
        ids = best.argmax(-1)
        return [row[: int(n)].tolist() for row, n in zip(ids, mask.sum(1), strict=True)]


def build_model(config: dict | SequenceModelConfig) -> SequenceModel:
    if isinstance(config, dict):
        config = SequenceModelConfig.from_dict(config)
    return SequenceModel(config)
