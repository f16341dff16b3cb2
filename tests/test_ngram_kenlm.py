"""KenLM's sentence-start convention (``bos_style="kenlm"``): values computed by hand with
``lmplz``'s rules, both conventions side by side, and ``kenlm.Model`` with its default settings
on rnnkit's exported ARPA file and on ``lmplz``'s.

The ``kenlm`` Python module has only KenLM's query side; the files ``lmplz`` wrote for
``tests/data/lmplz`` are compared with rnnkit's in ``test_ngram_lmplz.py``, and scored here.
``lmplz``'s rules, worked by hand below: one ``<s>``, ``<s>``-initial n-grams with plain
counts, continuation counts for the others, uniform base 1 / |V| with ``<s>`` excluded. rnnkit
writes ``<s>`` with log10 probability -99 (``lmplz``: 0; it is never predicted).
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from rnnkit.ngram import NGramLM
from rnnkit.ngram.arpa import arpa_text, escape_token, write_arpa
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import build_tokenizer

TEXT = "a b\nb\n"  # sentences <s> a b </s> and <s> b </s>


def _fit(text: str, order: int, smoothing: str = "kn", **kw):
    tok = build_tokenizer("word")
    vocab = build_vocab(text, tok, 1, None)
    lm = NGramLM(order, smoothing, **kw).fit_vocab(
        encode_text(text, tok, vocab), vocab, tok.boundary
    )
    return tok, vocab, lm


def _lmplz_by_hand():
    """The trigram of TEXT with every discount 0.5, by lmplz's rules (see the module doc)."""
    d = F(1, 2)
    # unigrams, continuation counts: a after <s>; b after <s>, a; </s> after b
    cont = {"a": 1, "b": 2, "</s>": 1}
    gamma1 = d * 3 / 4
    events = 4  # <unk>, </s>, a, b: every id but <pad> and <s>
    p1 = {w: (c - d) / 4 + gamma1 / events for w, c in cont.items()}
    p1["<unk>"] = gamma1 / events
    # bigrams: <s> a, <s> b keep their plain counts (1, 1); a b: 1 (after <s>);
    # b </s>: 2 (after a, <s>)
    p2 = {
        ("<s>", "a"): (1 - d) / 2 + d * 2 / 2 * p1["a"],
        ("<s>", "b"): (1 - d) / 2 + d * 2 / 2 * p1["b"],
        ("a", "b"): (1 - d) / 1 + d * p1["b"],
        ("b", "</s>"): (2 - d) / 2 + d * 1 / 2 * p1["</s>"],
    }
    # trigrams, plain counts: each context has one continuation
    p3 = {
        ("<s>", "a", "b"): (1 - d) + d * p2[("a", "b")],
        ("a", "b", "</s>"): (1 - d) + d * p2[("b", "</s>")],
        ("<s>", "b", "</s>"): (1 - d) + d * p2[("b", "</s>")],
    }
    return p1, p2, p3


def test_kenlm_style_by_hand():
    tok, vocab, lm = _fit(TEXT, 3, discount=[0.5] * 3)
    assert lm.bos_style == "kenlm"  # the default for kn and mkn
    p1, p2, p3 = _lmplz_by_hand()
    i = vocab.token_to_id
    eos = i(tok.boundary)
    assert lm.prob(i("<bos>")) == 0
    for w in ("a", "b", "<unk>"):
        assert lm.prob(i(w), [eos]) == pytest.approx(float(p1[w]), abs=1e-12)  # after </s>
    assert lm.prob(i("a")) == pytest.approx(float(p2[("<s>", "a")]), abs=1e-12)
    assert lm.prob(i("b"), [i("a")]) == pytest.approx(float(p3[("<s>", "a", "b")]), abs=1e-12)
    assert lm.prob(eos, [i("b")]) == pytest.approx(float(p3[("<s>", "b", "</s>")]), abs=1e-12)
    # the file: <s> at -99 with its backoff, and the values above
    text = arpa_text(lm, vocab)
    assert "ngram 1=5\nngram 2=4\nngram 3=3\n" in text
    assert "\n-99.0000000\t<s>\t" in text
    got = {}
    for line in text.split("\n"):
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0] != "-99.0000000":
            got[tuple(fields[1].split())] = float(fields[0])
    for table in (p2, p3):
        for gram, p in table.items():
            assert got[gram] == pytest.approx(math.log10(p), abs=1e-7)


def test_padded_style_keeps_its_numbers():
    # n-1 <bos> and their padding n-grams, as before the choice existed: <s> is an event
    _, vocab, lm = _fit(TEXT, 3, discount=[0.5] * 3, bos_style="padded")
    _, _, kenlm_style = _fit(TEXT, 3, discount=[0.5] * 3)
    i = vocab.token_to_id
    assert lm.prob(i("<bos>")) > 0 and lm.num_events == kenlm_style.num_events + 1
    # p(a | <s> <s>) by NLTK's padding: trigrams <s> <s> a, <s> <s> b counted once each
    d = F(1, 2)
    cont = {"a": 1, "b": 2, "</s>": 1}  # bigrams <s> a, <s> b, a b, b </s>: left neighbours
    p1 = {w: (c - d) / 4 + d * 3 / 4 / 5 for w, c in cont.items()}  # 5 events, <s> among them
    # bigrams <s> a, <s> b: continuation count 1 each (after <s>), not their plain counts
    p2_sa = (1 - d) / 2 + d * 2 / 2 * p1["a"]
    p3 = (1 - d) / 2 + d * 2 / 2 * p2_sa
    assert lm.prob(i("a")) == pytest.approx(float(p3), abs=1e-12)
    assert "<s> <s>" in arpa_text(lm, vocab)
    assert "<s> <s>" not in arpa_text(kenlm_style, vocab)


def _zipf_text(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(80)] + ["<s>", "x\\s"])
    p = 1.0 / np.arange(1, len(words) + 1)
    lines = [" ".join(rng.choice(words, rng.integers(1, 9), p=p / p.sum())) for _ in range(n)]
    return "\n".join(lines) + "\n"


@pytest.mark.filterwarnings("ignore:order .. discounts cannot be estimated")
@pytest.mark.parametrize("order,smoothing", [(2, "kn"), (3, "mkn"), (5, "mkn")])
def test_kenlm_model_scores_the_exported_file_as_rnnkit(tmp_path, order, smoothing):
    kenlm = pytest.importorskip("kenlm")
    tok, vocab, lm = _fit(_zipf_text(300, 0), order, smoothing)
    path = tmp_path / "lm.arpa"
    write_arpa(lm, vocab, path)
    model = kenlm.Model(str(path))  # default settings: one <s>, </s> scored
    held = _zipf_text(40, 1) + "w0 zzz w3\nzzz\n"
    assert_kenlm_scores(model, tok, held, *lm.token_logprobs(encode_text(held, tok, vocab)))


def assert_kenlm_scores(model, tok, held: str, want: np.ndarray, sentence_of: np.ndarray):
    """``kenlm.Model`` gives every line of ``held`` the natural-log token scores ``want`` (L,)
    (``sentence_of`` (L,): the line of each), and their sum as the sentence score."""
    for s, line in enumerate(held.splitlines()):
        words = " ".join(escape_token(t) for t in tok.tokenize(line) if t != tok.boundary)
        got = [score for score, _, _ in model.full_scores(words)]
        # KenLM stores float32: within its rounding of log10 values
        np.testing.assert_allclose(got, want[sentence_of == s] / math.log(10), atol=1e-6)
        assert model.score(words) == pytest.approx(
            want[sentence_of == s].sum() / math.log(10), abs=1e-5
        )


def test_kenlm_model_scores_lmplz_file_as_rnnkit():
    """``lmplz``'s own file (tests/data/lmplz, see test_ngram_lmplz.py) in ``kenlm.Model``:
    the scores of rnnkit reading that file, and of rnnkit's model of the same text."""
    kenlm = pytest.importorskip("kenlm")
    from test_ngram_lmplz import DATA

    from rnnkit.ngram.load import load_model

    path = DATA / "lmplz-o3.arpa"
    model = kenlm.Model(str(path))
    held = (DATA / "valid.txt").read_text()
    tok, vocab, lm = _fit((DATA / "train.txt").read_text(), 3, "mkn")
    assert_kenlm_scores(model, tok, held, *lm.token_logprobs(encode_text(held, tok, vocab)))
    from_file = load_model(path)
    assert_kenlm_scores(model, tok, held, *from_file.lm.token_logprobs(from_file.encode(held)))
