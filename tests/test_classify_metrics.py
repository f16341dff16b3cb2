"""Classification and tagging metrics: hand-computed examples, conlleval chunking, and seqeval
(and, when installed, scikit-learn) on random data."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from conftest import one_line_error as error

from rnnkit.classify.metrics import (
    accuracy,
    confusion_matrix,
    entity_prf,
    get_entities,
    macro_f1,
    precision_recall_f1,
)
from rnnkit.errors import ConfigError, DataError


def toks(s: str) -> list[str]:
    return s.split()


# ---- labels ------------------------------------------------------------------------------------
def test_accuracy_and_confusion_matrix():
    y_true = ["a", "a", "b", "c", "c"]
    y_pred = ["a", "b", "b", "c", "a"]
    assert accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    m = confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    assert m.dtype == np.int64
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]  # rows true, columns predicted
    assert confusion_matrix(y_true, y_pred, ["c", "a"]).tolist() == [[1, 1], [0, 1]]


def test_precision_recall_f1_by_hand():
    # a: 2 right of 3 predicted, 2 true. b: 1 of 2, 2 true. c: never predicted, 1 true.
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "a", "b"]
    r = precision_recall_f1(y_true, y_pred, ["a", "b", "c"])
    assert r["a"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert r["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["macro"] == pytest.approx(
        {"precision": 7 / 18, "recall": 0.5, "f1": 1.3 / 3, "support": 5}
    )
    assert r["micro"] == pytest.approx({"precision": 0.6, "recall": 0.6, "f1": 0.6, "support": 5})
    assert r["accuracy"] == pytest.approx(0.6)
    assert macro_f1(y_true, y_pred, ["a", "b", "c"]) == pytest.approx(1.3 / 3)
    # A label with neither examples nor predictions scores 0 and is averaged in.
    assert macro_f1(y_true, y_pred, ["a", "b", "c", "d"]) == pytest.approx(1.3 / 4)
    assert macro_f1(y_true, y_pred) == pytest.approx(1.3 / 3)  # labels seen: a, b, c


def test_label_metrics_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    labels = [0, 1, 2, 3]
    y_true = [rng.choice(labels[:3]) for _ in range(300)]  # 3 is never true
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels[:3]) for t in y_true]
    y_pred = [2 if p == 1 and rng.random() < 0.5 else p for p in y_pred]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about label 3's zero denominators
        p, r, f, s = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        macro = metrics.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    ours = precision_recall_f1(y_true, y_pred, labels)
    for i, label in enumerate(labels):
        got = ours[label]
        assert got["precision"] == pytest.approx(p[i], abs=1e-12)
        assert got["recall"] == pytest.approx(r[i], abs=1e-12)
        assert got["f1"] == pytest.approx(f[i], abs=1e-12)
        assert got["support"] == s[i]
    assert ours["macro"]["f1"] == pytest.approx(macro, abs=1e-12)
    assert (
        confusion_matrix(y_true, y_pred, labels).tolist()
        == metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    )


def test_label_errors():
    assert "3" in error(DataError, accuracy, [1, 2, 3], [1, 2]) and "2" in error(
        DataError, accuracy, [1, 2, 3], [1, 2]
    )
    error(DataError, precision_recall_f1, [], [])
    error(DataError, confusion_matrix, ["a"], [], ["a"])
    error(ConfigError, confusion_matrix, ["a"], ["a"], ["a", "a"])


# ---- entities ----------------------------------------------------------------------------------
def test_get_entities_follows_conlleval():
    assert get_entities(toks("B-PER I-PER O B-LOC")) == [("PER", 0, 1), ("LOC", 3, 3)]
    # I-x after O, at the start, or after another type starts a chunk (IOB1 reading).
    assert get_entities(toks("O I-PER I-PER O")) == [("PER", 1, 2)]
    assert get_entities(toks("I-LOC B-PER I-LOC I-LOC")) == [
        ("LOC", 0, 0),
        ("PER", 1, 1),
        ("LOC", 2, 3),
    ]
    # B-x always starts a chunk, even right after I-x of the same type.
    assert get_entities(toks("B-PER I-PER B-PER")) == [("PER", 0, 1), ("PER", 2, 2)]
    # IOBES: E closes, S is a chunk of its own.
    assert get_entities(toks("B-PER E-PER S-LOC S-LOC B-ORG I-ORG E-ORG O")) == [
        ("PER", 0, 1),
        ("LOC", 2, 2),
        ("LOC", 3, 3),
        ("ORG", 4, 6),
    ]
    assert get_entities(["O", "<pad>"]) == [] and get_entities([]) == []


def test_entity_prf_by_hand():
    true = [toks("B-PER I-PER O B-LOC"), toks("O B-ORG I-ORG O")]
    pred = [toks("B-PER I-PER O B-ORG"), toks("O I-ORG I-ORG I-PER")]
    # true chunks: PER(0:1) LOC(3) | ORG(1:2); predicted: PER(0:1) ORG(3) | ORG(1:2) PER(3)
    r = entity_prf(true, pred)
    assert (r["true"], r["pred"], r["correct"]) == (3, 4, 2)
    assert r["precision"] == pytest.approx(2 / 4)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 * 2 / 7)
    assert r["types"]["LOC"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "true": 1,
        "pred": 0,
        "correct": 0,
    }
    assert r["types"]["PER"]["precision"] == pytest.approx(0.5)
    assert r["types"]["PER"]["recall"] == pytest.approx(1.0)
    assert list(r["types"]) == ["LOC", "ORG", "PER"]
    # A chunk with the right type but the wrong end is wrong.
    assert entity_prf([["B-PER", "I-PER"]], [["B-PER", "O"]])["correct"] == 0


def test_entity_errors():
    message = error(DataError, entity_prf, [["O"], ["O", "O"]], [["O"], ["O"]])
    assert "sentence 1" in message and "2" in message and "1" in message
    error(DataError, entity_prf, [["O"]], [])
    error(ConfigError, entity_prf, ["O", "B-PER"], ["O", "B-PER"])


def random_bio(rng: random.Random, n: int) -> list[str]:
    tags, prev = [], "O"
    for _ in range(n):
        kind = rng.choice(["PER", "LOC", "ORG"])
        r = rng.random()
        if r < 0.4:
            tag = "O"
        elif r < 0.7 or prev == "O":
            tag = f"B-{kind}"
        else:
            tag = f"I-{prev[2:]}"
        tags.append(tag)
        prev = tag
    return tags


def corrupt(rng: random.Random, tags: list[str], p: float) -> list[str]:
    """Each tag replaced with probability p by any tag, so invalid BIO (I-x after O) occurs."""
    every = ["O"] + [f"{b}-{k}" for b in "BI" for k in ("PER", "LOC", "ORG")]
    return [rng.choice(every) if rng.random() < p else t for t in tags]


def test_entity_prf_matches_seqeval():
    pytest.importorskip("seqeval")
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

    rng = random.Random(0)
    true, pred = [], []
    for _ in range(400):
        t = random_bio(rng, rng.randint(1, 12))
        true.append(corrupt(rng, t, 0.1))  # gold data is not always valid BIO either
        pred.append(corrupt(rng, t, 0.25))
    for seq in true[:100] + pred[:100]:
        assert get_entities(seq) == seqeval_entities(seq)
    ours = entity_prf(true, pred)
    assert ours["precision"] == pytest.approx(precision_score(true, pred), abs=1e-9)
    assert ours["recall"] == pytest.approx(recall_score(true, pred), abs=1e-9)
    assert ours["f1"] == pytest.approx(f1_score(true, pred), abs=1e-9)
    report = classification_report(true, pred, output_dict=True)
    for kind, got in ours["types"].items():
        assert got["precision"] == pytest.approx(report[kind]["precision"], abs=1e-9)
        assert got["recall"] == pytest.approx(report[kind]["recall"], abs=1e-9)
        assert got["f1"] == pytest.approx(report[kind]["f1-score"], abs=1e-9)
        assert got["true"] == report[kind]["support"]
