"""Labelling raw text with a trained run: each line tokenised as ``split_raw`` reads raw text,
labels and tags predicted in batches, and the JSON documents ``rnnkit classify predict --json``
and ``rnnkit tag predict --json`` print for each line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.classify.data import Encoded, Sentences, split_raw
from rnnkit.classify.metrics import get_entities
from rnnkit.classify.train import predict_batches


@dataclass(frozen=True)
class LinePrediction:
    """What a run says about one line of text.

    Attributes:
        text: the line as given.
        tokens: its tokens; ``[]`` for a line without any, which gets no prediction.
        ranked: the ``top`` most probable labels, best first, with their probabilities
            (``[]`` for a line without tokens); ``None`` when the run has no classifier.
        tags: one tag per token (``[]`` for a line without tokens); ``None`` when the run
            has no tagger.
    """

    text: str
    tokens: list[str]
    ranked: list[tuple[str, float]] | None
    tags: list[str] | None

    def entities(self) -> list[dict]:
        """The tagged chunks: ``type``, token ``start`` and ``end`` (exclusive) and ``text``."""
        toks = self.tokens
        return [
            {"type": kind, "start": s, "end": e + 1, "text": " ".join(toks[s : e + 1])}
            for kind, s, e in get_entities(self.tags or [])
        ]

    def label_doc(self) -> dict:
        """The ``rnnkit classify predict --json`` line: text, label, probability, top."""
        if not self.ranked:
            return {"text": self.text, "label": None}
        top = [{"label": name, "probability": round(p, 6)} for name, p in self.ranked]
        return {"text": self.text, **top[0], "top": top}

    def tag_doc(self) -> dict:
        """The ``rnnkit tag predict --json`` line: text, tokens, tags, entities (and the best
        label with its probability for a joint run)."""
        if not self.tokens:
            return {"text": self.text, "tokens": []}
        doc = {"text": self.text, "tokens": self.tokens, "tags": self.tags}
        doc["entities"] = self.entities()
        if self.ranked:
            doc["label"], doc["probability"] = self.ranked[0][0], round(self.ranked[0][1], 6)
        return doc


def raw_sentences(lines: list[str], lowercase: bool) -> tuple[Sentences, list[int]]:
    """``(Sentences of the lines with a token, the positions of those lines)``."""
    toks = [split_raw(line, lowercase) for line in lines]
    keep = [i for i, t in enumerate(toks) if t]
    return Sentences([toks[i] for i in keep]), keep


def predict_lines(
    model, vocabs: dict, lines: list[str], *, lowercase: bool, top: int = 1, device="cpu"
) -> list[LinePrediction]:
    """Labels (the ``top`` best) and tags of every line, in order, from a loaded run
    (``rnnkit.classify.train.load_run``); ``lowercase`` is the run's ``config.lowercase``."""
    sentences, keep = raw_sentences(lines, lowercase)
    probs = tags = None
    if len(sentences):
        encoded = Encoded(sentences, vocabs, model.config.char_embed > 0)
        _, probs, tags = predict_batches(model, encoded, device=device)
    has_labels, has_tags = model.classifier is not None, model.tagger is not None
    out = [  # what a line without a token gets; the others are filled in below
        LinePrediction(line, [], [] if has_labels else None, [] if has_tags else None)
        for line in lines
    ]
    for r, i in enumerate(keep):
        ranked = None
        if has_labels:
            p = probs[r]
            best = np.argsort(-p, kind="stable")[:top]  # ties keep the label order
            ranked = [(vocabs["labels"].itos[j], float(p[j])) for j in best]
        names = vocabs["tags"].decode(tags[r]) if has_tags else None
        out[i] = LinePrediction(lines[i], sentences.tokens[r], ranked, names)
    return out
