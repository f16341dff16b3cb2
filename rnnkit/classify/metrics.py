"""Evaluation metrics for sequence classification and tagging.

Label metrics (accuracy, confusion matrix, precision / recall / F1 per label, macro and micro)
follow scikit-learn's definitions: a precision or recall whose denominator is 0 counts as 0.
Entity metrics score chunks as the CoNLL-2000 ``conlleval`` script does (seqeval's default
mode): a predicted chunk is correct only when its type, start and end all match a true chunk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

from rnnkit.errors import ConfigError, DataError


def _pair(y_true: Sequence, y_pred: Sequence) -> tuple[list, list]:
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise DataError(
            f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; "
            "give one prediction per example"
        )
    if not y_true:
        raise DataError("no labels to score; give at least one example")
    return y_true, y_pred


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """The fraction of examples whose predicted label equals the true one."""
    y_true, y_pred = _pair(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence[Hashable]) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Args:
        labels: the labels indexing rows and columns, in that order. As in scikit-learn,
            examples whose true or predicted label is not among them are left out.

    Returns:
        (L, L) int64, ``m[i, j]`` = examples with true label ``labels[i]`` predicted as
        ``labels[j]``.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ConfigError(f"labels must be distinct, got {list(labels)}")
    m = np.zeros((len(index), len(index)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m


def _prf(correct: int, pred: int, true: int) -> dict:
    return {
        "precision": _ratio(correct, pred),
        "recall": _ratio(correct, true),
        # 2PR / (P + R) written with counts, which is also 0 when correct is 0
        "f1": _ratio(2 * correct, pred + true),
    }


def precision_recall_f1(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[Hashable] | None = None
) -> dict:
    """Precision, recall and F1 of each label, their macro and micro averages, and accuracy.

    Args:
        labels: the labels to report and average over (default: every label seen, sorted).

    Returns:
        ``{label: {"precision", "recall", "f1", "support"}, ...,
        "macro": {...}, "micro": {...}, "accuracy": float}``. ``support`` counts true
        examples. ``macro`` is the unweighted mean over ``labels`` of each score (so a label
        never predicted pulls macro-F1 down by its 0); ``micro`` pools the counts of
        ``labels``, which equals accuracy when ``labels`` covers every label.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred))
    labels = list(labels)
    if not labels or len(set(labels)) != len(labels):
        raise ConfigError(f"labels must be distinct and not empty, got {labels}")
    true, pred = Counter(y_true), Counter(y_pred)
    correct = Counter(t for t, p in zip(y_true, y_pred, strict=True) if t == p)

    out: dict = {}
    for label in labels:
        out[label] = {**_prf(correct[label], pred[label], true[label]), "support": true[label]}
    per_label = [out[label] for label in labels]
    out["macro"] = {
        k: sum(s[k] for s in per_label) / len(labels) for k in ("precision", "recall", "f1")
    }
    out["macro"]["support"] = sum(true[label] for label in labels)
    sums = [sum(c[label] for label in labels) for c in (correct, pred, true)]
    out["micro"] = {**_prf(*sums), "support": sums[2]}
    out["accuracy"] = accuracy(y_true, y_pred)
    return out


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence[Hashable] | None = None) -> float:
    """The unweighted mean of each label's F1 (see ``precision_recall_f1``)."""
    return precision_recall_f1(y_true, y_pred, labels)["macro"]["f1"]


# ---- entities (chunks) -----------------------------------------------------------------------
def _split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; anything that is not B/I/E/S[-type] is outside, O."""
    if tag in ("B", "I", "E", "S"):
        return tag, ""
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I", "E", "S"):
        return prefix, kind
    return "O", ""


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The chunks of one tagged sentence, by conlleval's rules, as ``(type, start, end)``.

    Tags are ``B-x`` (begin), ``I-x`` (inside), ``E-x`` (end), ``S-x`` (single) or ``O``, so
    IOB1, IOB2 (BIO) and IOBES all read the same way:

    - ``B-x`` and ``S-x`` always start a chunk; ``I-x`` and ``E-x`` continue the chunk of the
      previous step when that step was ``B-x`` or ``I-x`` of the same type, and start a new
      chunk otherwise (after ``O``, after another type, at the start of the sentence).
    - A chunk ends at ``E-x`` or ``S-x``, and before ``O``, ``B``, ``S`` or a change of type.

    ``end`` is inclusive: ``["O", "B-PER", "I-PER"]`` gives ``[("PER", 1, 2)]``.
    """
    entities = []
    open_chunk: tuple[str, int] | None = None  # (type, start) of the chunk being read
    prev_tag, prev_type = "O", ""
    for i, raw in enumerate(tags):
        tag, kind = _split_tag(raw)
        continues = tag in ("I", "E") and prev_tag in ("B", "I") and kind == prev_type
        if open_chunk is not None and not continues:
            entities.append((*open_chunk, i - 1))
            open_chunk = None
        if tag != "O" and not continues:
            open_chunk = (kind, i)
        if tag in ("E", "S") and open_chunk is not None:  # these close their chunk at once
            entities.append((*open_chunk, i))
            open_chunk = None
        prev_tag, prev_type = tag, kind
    if open_chunk is not None:
        entities.append((*open_chunk, len(tags) - 1))
    return entities


def _sentences(seqs, what: str) -> list[list[str]]:
    seqs = list(seqs)
    if any(isinstance(s, str) for s in seqs):
        raise ConfigError(f"{what} must be a list of tag lists, one per sentence, not of strings")
    return [list(s) for s in seqs]


def entity_prf(true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> dict:
    """Chunk precision, recall and F1 over a corpus, as conlleval and seqeval report them.

    Args:
        true_seqs: the gold tags, one list per sentence.
        pred_seqs: the predicted tags, one list per sentence, each as long as its gold one.

    Returns:
        ``{"precision", "recall", "f1", "true", "pred", "correct", "types"}``: fractions in
        [0, 1] (0 when a denominator is 0), the chunk counts, and ``types`` mapping each
        chunk type (sorted) to the same scores and counts for that type alone.
    """
    true_seqs = _sentences(true_seqs, "true_seqs")
    pred_seqs = _sentences(pred_seqs, "pred_seqs")
    if len(true_seqs) != len(pred_seqs):
        raise DataError(
            f"{len(true_seqs)} true sentences but {len(pred_seqs)} predicted; "
            "give one prediction per sentence"
        )
    true, pred = set(), set()  # (sentence, type, start, end)
    for i, (t, p) in enumerate(zip(true_seqs, pred_seqs, strict=True)):
        if len(t) != len(p):
            raise DataError(
                f"sentence {i} has {len(t)} true tags but {len(p)} predicted; "
                "predict one tag per token"
            )
        true.update((i, *e) for e in get_entities(t))
        pred.update((i, *e) for e in get_entities(p))
    correct = true & pred

    def report(kind=None) -> dict:
        n = [sum(kind is None or c[1] == kind for c in chunks) for chunks in (correct, pred, true)]
        return {**_prf(*n), "true": n[2], "pred": n[1], "correct": n[0]}

    out = report()
    out["types"] = {kind: report(kind) for kind in sorted({c[1] for c in true | pred})}
    return out
