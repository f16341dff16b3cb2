"""rnnkit's n-gram perplexities equal nltk.lm's on a slice of PTB (same n-grams, same formulas).

NLTK pads both ends of a sentence with n-1 symbols; rnnkit pads the start with n-1 ``<bos>``
and ends the sentence with one ``<eos>`` (as KenLM and SRILM do), so NLTK is given the n-grams
rnnkit counts and the vocabulary rnnkit predicts over (every id but ``<pad>``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import realdata

from rnnkit.ngram import NGramLM, pad_sentences
from rnnkit.registry.datasets import load_split_text
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import PAD, UNK

nltk_lm = pytest.importorskip("nltk.lm")

TRAIN_LINES, TEST_LINES = 400, 40  # NLTK's Kneser-Ney is slow: keep the slice small


@pytest.fixture(scope="module")
def ptb_slice():
    tok = build_tokenizer("word")
    lines = load_split_text("ptb", "train").splitlines(keepends=True)
    train = "".join(lines[:TRAIN_LINES])
    vocab = build_vocab(train, tok, 1, None)
    ids = encode_text(train, tok, vocab)
    seen = encode_text("".join(lines[:TEST_LINES]), tok, vocab)  # MLE needs seen text
    unseen = encode_text("".join(lines[TRAIN_LINES : TRAIN_LINES + TEST_LINES]), tok, vocab)
    return tok, vocab, ids, seen, unseen


def _ngrams(vocab, ids, order, all_orders):
    """The n-grams rnnkit counts (every order, ending at a predicted token) or scores."""
    tokens, predicted, sentence = pad_sentences(
        ids, vocab.id_of("<eos>"), vocab.id_of("<bos>"), order
    )
    words = vocab.decode(tokens.tolist())
    out = []
    for j in np.flatnonzero(predicted):
        for k in range(1, order + 1) if all_orders else (order,):
            out.append(tuple(words[j - k + 1 : j + 1]))
    return out


def _nltk_model(cls, vocab, ids, order, **kw):
    words = [t for t in vocab.itos if t not in (PAD, UNK)]
    nltk_vocab = nltk_lm.Vocabulary(words, unk_cutoff=1, unk_label=UNK)
    lm = cls(order, vocabulary=nltk_vocab, **kw)
    lm.fit([_ngrams(vocab, ids, order, all_orders=True)])
    assert len(lm.vocab) == len(vocab) - 1  # the same events on both sides
    return lm


CASES = [
    ("mle", nltk_lm.MLE, {}, {}, "seen"),
    ("addk", nltk_lm.Laplace, {}, {"k": 1.0}, "unseen"),
    ("kn", nltk_lm.KneserNeyInterpolated, {"discount": 0.1}, None, "unseen"),
]


@realdata
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("smoothing,cls,nltk_kw,ours_kw,which", CASES, ids=[c[0] for c in CASES])
def test_perplexity_equals_nltk(ptb_slice, order, smoothing, cls, nltk_kw, ours_kw, which):
    if smoothing == "kn" and order == 1:
        pytest.skip("NLTK's Kneser-Ney needs bigrams for its unigram level")
    tok, vocab, ids, seen, unseen = ptb_slice
    test = seen if which == "seen" else unseen
    if ours_kw is None:  # NLTK discounts every order above the unigram by 0.1, not the unigram
        ours_kw = {"discount": [0.0] + [0.1] * (order - 1), "bos_style": "padded"}
    ours = NGramLM(order, smoothing, **ours_kw).fit_vocab(ids, vocab, tok.boundary)
    theirs = _nltk_model(cls, vocab, ids, order, **nltk_kw)
    expected = theirs.perplexity(_ngrams(vocab, test, order, all_orders=False))
    got = ours.perplexity(test)
    assert math.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-6)
