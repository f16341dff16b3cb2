"""rnnkit's modified Kneser-Ney against ARPA files written by KenLM's ``lmplz`` (KenLM 0.3.0)
from the text in ``tests/data/lmplz``, in that folder (see its README.md):

    lmplz -o 3 --discount_fallback -S 100M -T /tmp < train.txt > lmplz-o3.arpa
    lmplz -o 4 --discount_fallback -S 100M -T /tmp < tiny.txt > lmplz-tiny-o4.arpa
    lmplz -o 2 --discount_fallback -S 100M -T /tmp < last.txt > lmplz-last-o2.arpa

``--bos-style kenlm`` gives ``lmplz``'s file: the same n-grams per order and the same log10
probabilities and backoffs to 1e-6. ``lmplz`` computes in float32 and prints up to 8
significant digits, rnnkit computes in float64 and prints 7 decimals; the two differ by at most
3e-7 on these files. A backoff that ``lmplz`` writes as 0 (an n-gram that is no context, or
ends with ``</s>``) rnnkit leaves out, which means the same. One line differs on purpose:
``<s>``, which is never predicted, has log10 probability 0 in ``lmplz``'s file (the 1 it gives
``<s>`` so a sentence start can be scored explicitly) and -99 in rnnkit's, as SRILM writes it.
Where ``lmplz``'s count-of-counts take one n-gram per order with its raw count instead of
its adjusted count (``last.txt``; tests/data/lmplz/README.md), rnnkit keeps Chen and Goodman's
estimate: the files then differ by those discounts alone.

``--bos-style padded`` (n-1 ``<s>``, as NLTK pads) is not ``lmplz``'s model; what it shares with
it is tested below.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import call_cli
from test_ngram_kenlm import _fit

from rnnkit.errors import RnnkitWarning
from rnnkit.ngram import NGramLM
from rnnkit.ngram.arpa import arpa_text
from rnnkit.text.corpus import encode_text

DATA = Path(__file__).parent / "data" / "lmplz"
ATOL = 1e-6  # log10; see the module docstring
# D1, D2, D3+ per order, as lmplz printed them (6 significant digits) writing lmplz-o3.arpa
LMPLZ_O3_DISCOUNTS = [
    [0.5, 0.666667, 0.75],
    [0.634383, 1.18076, 1.71172],
    [0.823712, 1.37351, 1.81019],
]


def parse_arpa(text: str) -> dict[int, dict[tuple[str, ...], tuple[float, float]]]:
    """Per order: n-gram -> (log10 p, log10 backoff, 0 when absent). Kept apart from rnnkit's
    readers so that the reference does not go through the code under test."""
    grams: dict[int, dict] = {}
    k = None
    for line in text.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            k = int(line[1:-7])
            grams[k] = {}
        elif k is not None and line and not line.startswith("\\"):
            fields = line.split("\t")
            backoff = float(fields[2]) if len(fields) > 2 else 0.0
            grams[k][tuple(fields[1].split(" "))] = (float(fields[0]), backoff)
    return grams


def lmplz_file(name: str):
    return parse_arpa((DATA / name).read_text())


def assert_same_model(got, want):
    """Same n-grams per order, log10 probabilities and backoffs within ATOL, but ``<s>``."""
    assert sorted(got) == sorted(want)
    for k in want:
        assert set(got[k]) == set(want[k]), f"order {k}"
        grams = sorted(g for g in want[k] if g != ("<s>",))
        for column in (0, 1):
            np.testing.assert_allclose(
                [got[k][g][column] for g in grams],
                [want[k][g][column] for g in grams],
                atol=ATOL,
                err_msg=f"order {k}, {('log10 probabilities', 'backoffs')[column]}",
            )
    # <s> is never predicted: lmplz writes log10 1, rnnkit -99; its backoff is a real one
    assert want[1][("<s>",)][0] == 0 and got[1][("<s>",)][0] == -99
    assert got[1][("<s>",)][1] == pytest.approx(want[1][("<s>",)][1], abs=ATOL)


def test_cli_kenlm_style_writes_lmplz_file(tmp_path):
    run, arpa = tmp_path / "run", tmp_path / "rnnkit.arpa"
    code, _, err = call_cli(
        ["ngram", "train", "--data", str(DATA), "--tokenizer", "word", "--order", "3",
         "--smoothing", "mkn", "--bos-style", "kenlm", "--out", str(run)]
    )  # fmt: skip
    assert code == 0, err
    assert "cannot be estimated" not in err  # every discount estimated, as lmplz did
    discounts = json.loads((run / "run.json").read_text())["fitted"]["discounts"]
    np.testing.assert_allclose(discounts, LMPLZ_O3_DISCOUNTS, rtol=5e-6)
    code, _, err = call_cli(["ngram", "export-arpa", str(run), str(arpa)])
    assert code == 0, err
    assert_same_model(parse_arpa(arpa.read_text()), lmplz_file("lmplz-o3.arpa"))


def test_discount_fallback_as_lmplz():
    # n1, n2, n3 > 0 but no 2-gram with adjusted count 4: D3+ = 3 - 4 y n4 / n3 = 3, which
    # lmplz keeps; orders 3 and 4 have no n-gram with adjusted count 2 and take the fallback
    with pytest.warns(RnnkitWarning, match="cannot be estimated") as caught:
        _, vocab, lm = _fit((DATA / "tiny.txt").read_text(), 4, "mkn")
    assert sorted(str(w.message).split(":")[0] for w in caught) == ["order 3", "order 4"]
    assert lm.discounts[1][2] == 3
    assert lm.discounts[2] == lm.discounts[3] == [0.5, 1.0, 1.5]
    assert_same_model(parse_arpa(arpa_text(lm, vocab)), lmplz_file("lmplz-tiny-o4.arpa"))


def test_lmplz_counts_its_last_unigram_raw(monkeypatch):
    """The one difference in the estimates: ``lmplz`` puts the last n-gram of each lower order
    (in its suffix order) into the count-of-counts with its raw count. ``last.txt`` ends with a
    new word, ``zebra``, three times after ``the``: raw count 3, continuation count 1."""
    text = (DATA / "last.txt").read_text()
    want = lmplz_file("lmplz-last-o2.arpa")
    _, vocab, lm = _fit(text, 2, "mkn")
    got = parse_arpa(arpa_text(lm, vocab))
    lmplz_unigram_discounts = [0.56, 1.69455, 1.88]  # as lmplz printed them
    assert all(set(got[k]) == set(want[k]) for k in want)
    assert not np.allclose(lm.discounts[0], lmplz_unigram_discounts, rtol=1e-3)
    words = [g for g in want[1] if g != ("<s>",)]
    assert max(abs(got[1][g][0] - want[1][g][0]) for g in words) > 0.01  # beyond rounding
    # count zebra as lmplz does, for the unigram discounts only: then the files agree
    zebra = vocab.token_to_id("zebra")  # order-1 rows are token ids
    estimate = NGramLM._estimate_discounts

    def as_lmplz(self, k, a):
        if k == 1:
            a = a.copy()
            a[zebra] = self.counts.tables[0].counts[zebra]
        return estimate(self, k, a)

    monkeypatch.setattr(NGramLM, "_estimate_discounts", as_lmplz)
    _, vocab, lm = _fit(text, 2, "mkn")
    np.testing.assert_allclose(lm.discounts[0], lmplz_unigram_discounts, rtol=5e-6)
    assert_same_model(parse_arpa(arpa_text(lm, vocab)), want)


def test_padded_style_against_lmplz():
    """What n-1 ``<s>`` of padding keeps of ``lmplz``'s model and what it changes."""
    train = (DATA / "train.txt").read_text()
    _, vocab, lm = _fit(train, 3, "mkn", bos_style="padded")
    kenlm_style = _fit(train, 3, "mkn")[2]
    got, want = parse_arpa(arpa_text(lm, vocab)), lmplz_file("lmplz-o3.arpa")
    # the same n-grams, plus the padding contexts <s> <s> and the trigrams they start
    for k in want:
        padding = {g for g in got[k] if g[:2] == ("<s>", "<s>")}
        assert set(got[k]) - padding == set(want[k]), f"order {k}"
        assert bool(padding) == (k > 1)
    # unigrams count continuations in both, so their discounts are lmplz's; the higher
    # orders, whose <s>-initial n-grams count differently, get other discounts
    np.testing.assert_allclose(lm.discounts[0], LMPLZ_O3_DISCOUNTS[0], rtol=5e-6)
    assert lm.discounts[1:] != kenlm_style.discounts[1:]
    # <s> is an event, so the uniform share gamma / |E| (lmplz's p(<unk>)) is spread over one
    # more event
    assert got[1][("<s>",)][0] > -99
    events = len(want[1]) - 1  # lmplz's events: every unigram but <s>
    share = 10 ** want[1][("<unk>",)][0]
    words = [g for g in want[1] if g != ("<s>",)]
    expected = [10 ** want[1][g][0] - share + share * events / (events + 1) for g in words]
    np.testing.assert_allclose([got[1][g][0] for g in words], np.log10(expected), atol=ATOL)


def test_lmplz_scores_in_rnnkit_as_its_own_model():
    """rnnkit reading lmplz's file and rnnkit's kenlm-style model give the same scores."""
    from rnnkit.ngram.load import load_model

    tok, vocab, lm = _fit((DATA / "train.txt").read_text(), 3, "mkn")
    held = (DATA / "valid.txt").read_text()
    ours, _ = lm.token_logprobs(encode_text(held, tok, vocab))
    model = load_model(DATA / "lmplz-o3.arpa")
    theirs, _ = model.lm.token_logprobs(model.encode(held))
    assert len(theirs) == len(ours) == len(tok.tokenize(held))
    np.testing.assert_allclose(theirs / math.log(10), ours / math.log(10), atol=ATOL)
