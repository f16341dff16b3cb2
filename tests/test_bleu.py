"""BLEU: the textbook sentence BLEU against hand-computed examples, sacrebleu's corpus BLEU and
chrF through our wrappers."""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections import Counter

import pytest
import sacrebleu
from conftest import one_line_error as error

from rnnkit.errors import ConfigError, DataError
from rnnkit.seq2seq.bleu import corpus_bleu, corpus_chrf, ngram_counts, sentence_bleu


def toks(s: str) -> list[str]:
    return s.split()


# ---- n-grams -----------------------------------------------------------------------------------
def test_ngram_counts():
    t = toks("the cat the cat")
    assert ngram_counts(t, 1) == Counter({("the",): 2, ("cat",): 2})
    assert ngram_counts(t, 2) == Counter({("the", "cat"): 2, ("cat", "the"): 1})
    assert ngram_counts(t, 4) == Counter({("the", "cat", "the", "cat"): 1})
    assert ngram_counts(t, 5) == Counter()
    assert "order" in error(ConfigError, ngram_counts, t, 0)


# ---- sentence BLEU, by hand --------------------------------------------------------------------
CAT = toks("the cat is on the mat")
MAT = toks("the cat sat on the mat")


def test_cat_on_the_mat():
    # candidate: the cat is on the mat      reference: the cat sat on the mat
    # p1: the x2, cat, on, mat match; "is" does not              -> 5/6
    # p2: "the cat", "on the", "the mat" of 5 bigrams             -> 3/5
    # p3: only "on the mat" of 4 trigrams                         -> 1/4
    # p4: none of "the cat is on", "cat is on the", "is on the mat" -> 0/3
    # c = r = 6, so BP = exp(1 - 6/6) = 1.
    assert sentence_bleu(CAT, [MAT], max_n=1) == pytest.approx(5 / 6)
    # BLEU-2 = sqrt(5/6 * 3/5) = sqrt(1/2)
    assert sentence_bleu(CAT, [MAT], max_n=2) == pytest.approx(math.sqrt(0.5))
    # BLEU-3 = (5/6 * 3/5 * 1/4) ** (1/3) = (1/8) ** (1/3) = 1/2
    assert sentence_bleu(CAT, [MAT], max_n=3) == pytest.approx(0.5)
    # No 4-gram matches: p4 = 0, so BLEU-4 without smoothing is 0.
    assert sentence_bleu(CAT, [MAT]) == 0.0
    # A single reference may be given as one token list.
    assert sentence_bleu(CAT, MAT, max_n=3) == pytest.approx(0.5)


def test_papineni_clipping():
    # Papineni et al. (2002), section 2.1: the candidate repeats "the" 7 times.
    # "the" occurs at most 2 times in one reference (ref 1), so the clipped count is 2: p1 = 2/7.
    # c = 7; reference lengths 6 and 7 -> r = 7 (exact), BP = exp(1 - 7/7) = 1.
    cand = toks("the the the the the the the")
    refs = [toks("the cat is on the mat"), toks("there is a cat on the mat")]
    assert sentence_bleu(cand, refs, max_n=1) == pytest.approx(2 / 7)
    # "the the" is in neither reference: p2 = 0/6, so BLEU-2 is 0.
    assert sentence_bleu(cand, refs, max_n=2) == 0.0


def test_brevity_penalty():
    # candidate "the cat" vs "the cat sat on the mat": p1 = 2/2, p2 = 1/1,
    # c = 2 < r = 6, so BP = exp(1 - 6/2) = exp(-2); BLEU-2 = exp(-2) * 1.
    short = toks("the cat")
    assert sentence_bleu(short, [MAT], max_n=2) == pytest.approx(math.exp(-2))
    # Too short for any trigram: p3 has nothing to count, so unsmoothed BLEU-4 is 0.
    assert sentence_bleu(short, [MAT]) == 0.0
    # Longer than the reference: no penalty. "the cat sat on the mat today" vs MAT:
    # p1 = 6/7, p2 = 5/6, BP = 1 since c = 7 > r = 6.
    long = toks("the cat sat on the mat today")
    assert sentence_bleu(long, [MAT], max_n=2) == pytest.approx(math.sqrt(6 / 7 * 5 / 6))


def test_perfect_match_and_empty_candidate():
    assert sentence_bleu(MAT, [MAT]) == 1.0
    assert sentence_bleu(MAT, [CAT, MAT]) == 1.0
    assert sentence_bleu([], [MAT]) == 0.0


def test_multiple_references_and_closest_length():
    cand = toks("the cat sat on mat")  # c = 5
    a = toks("the cat sat on the mat")  # 6 tokens
    b = toks("the cat sat down")  # 4 tokens
    # Against a and b: every unigram is in some reference, clipped by the max count in one
    # reference: p1 = 5/5. Bigrams "the cat", "cat sat", "sat on" match, "on mat" not: 3/4.
    # r: |6 - 5| = |4 - 5| = 1, a tie, so the shorter: r = 4 < c, BP = 1.
    assert sentence_bleu(cand, [a, b], max_n=2) == pytest.approx(math.sqrt(3 / 4))
    assert sentence_bleu(cand, [b, a], max_n=2) == pytest.approx(math.sqrt(3 / 4))  # any order
    # Against a alone: same p1 and p2, but r = 6 > c: BP = exp(1 - 6/5) = exp(-0.2).
    assert sentence_bleu(cand, [a], max_n=2) == pytest.approx(math.exp(-0.2) * math.sqrt(0.75))
    # Against b alone: p1 = 3/5 ("on", "mat" unmatched), p2 = 2/4, r = 4 < c: BP = 1.
    assert sentence_bleu(cand, [b], max_n=2) == pytest.approx(math.sqrt(3 / 5 * 2 / 4))
    # Not a tie: lengths 4 and 7 for c = 6 -> r = 7 (distance 1), BP = exp(1 - 7/6).
    six = toks("the cat sat on the mat")
    seven = toks("the cat sat on the red mat")
    # p1 = 6/6 (the x2 clipped by seven's 2), p2: the cat, cat sat, sat on, on the match,
    # "the mat" is in neither (seven has "red mat", b has no "the mat") -> 4/5.
    expected = math.exp(1 - 7 / 6) * math.sqrt(1 * 4 / 5)
    assert sentence_bleu(six, [b, seven], max_n=2) == pytest.approx(expected)


def test_weights():
    # Weight only on unigrams: BLEU = p1 * BP; the zero-weight orders (p4 = 0 here) do not count.
    assert sentence_bleu(CAT, [MAT], weights=[1, 0, 0, 0]) == pytest.approx(5 / 6)
    # (5/6)^0.5 * (3/5)^0.5 with explicit weights equals BLEU-2.
    assert sentence_bleu(CAT, [MAT], max_n=2, weights=[0.5, 0.5]) == pytest.approx(math.sqrt(0.5))


def _edited(tokens: list[str], rng: random.Random, words: list[str]) -> list[str]:
    """``tokens`` with a few random substitutions, deletions and insertions: a candidate that
    shares n-grams of every order with its reference, as real translations do."""
    out = []
    for tok in tokens:
        roll = rng.random()
        if roll < 0.1:
            continue  # deleted
        out.append(rng.choice(words) if roll < 0.25 else tok)
        if rng.random() < 0.1:
            out.append(rng.choice(words))  # inserted
    return out or [rng.choice(words)]


def test_matches_nltk_without_smoothing():
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    scores = []
    for _ in range(200):
        source = [rng.choice(words) for _ in range(rng.randint(6, 20))]
        cand = _edited(source, rng, words)
        refs = [_edited(source, rng, words) for _ in range(rng.randint(1, 3))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns when a precision is 0
            expected = nltk_bleu.sentence_bleu(refs, cand)
        assert sentence_bleu(cand, refs) == pytest.approx(expected, abs=1e-12)
        scores.append(expected)
    # The comparison means something only where BLEU is not 0: most cases share 4-grams.
    assert sum(x > 0 for x in scores) >= 150 and len({round(x, 6) for x in scores}) > 50


def test_sentence_bleu_errors():
    assert "list of tokens" in error(ConfigError, sentence_bleu, "the cat", [MAT])
    assert "list of tokens" in error(ConfigError, sentence_bleu, CAT, "the cat")
    assert "list of tokens" in error(ConfigError, sentence_bleu, CAT, [MAT, "the cat"])
    assert "reference" in error(DataError, sentence_bleu, CAT, [])
    assert "max_n" in error(ConfigError, sentence_bleu, CAT, [MAT], max_n=0)
    assert "weights" in error(ConfigError, sentence_bleu, CAT, [MAT], weights=[1, 0])
    assert "weights" in error(ConfigError, sentence_bleu, CAT, [MAT], weights=[0, 0, 0, 0])
    assert "weights" in error(ConfigError, sentence_bleu, CAT, [MAT], weights=[2, -1, 0, 0])


# ---- corpus BLEU and chrF (sacrebleu) ----------------------------------------------------------
HYPS = [
    "a man in an orange hat starring at something .",
    "a boston terrier is running on lush green grass in front of a white fence .",
    "a girl in karate uniform breaking a stick with a front kick .",
]
REFS = [
    "a man in an orange hat staring at something .",
    "a boston terrier is running on lush green grass in front of a white fence .",
    "a girl in a karate uniform is breaking a stick with a kick .",
]


def test_corpus_bleu_identical_is_100():
    assert corpus_bleu(REFS, REFS) == pytest.approx(100.0)


def test_corpus_bleu_equals_sacrebleu():
    expected = sacrebleu.corpus_bleu(HYPS, [REFS]).score
    got = corpus_bleu(HYPS, REFS)
    assert isinstance(got, float) and got == expected
    assert 30 < got < 100
    # The tokenizer choice is passed through.
    assert (
        corpus_bleu(HYPS, REFS, tokenize="none")
        == sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none").score
    )


def test_corpus_bleu_is_not_mean_sentence_bleu():
    # Corpus BLEU pools n-gram counts; a sentence without a 4-gram match does not zero it.
    hyps = ["the cat is on the mat", "a dog runs in the park today"]
    refs = ["the cat sat on the mat", "a dog runs in the park today"]
    assert sentence_bleu(toks(hyps[0]), [toks(refs[0])]) == 0.0
    assert 0 < corpus_bleu(hyps, refs) < 100


def test_corpus_bleu_logs_nothing_on_tokenized_text(caplog):
    # Tokenized text (" ." at the end) makes sacrebleu log a detokenize hint after 100 lines.
    lines = [f"sentence number {i} ends with a tokenized period ." for i in range(120)]
    with caplog.at_level(logging.DEBUG, logger="sacrebleu"):
        assert corpus_bleu(lines, lines) == pytest.approx(100.0)
    assert caplog.records == []


def test_corpus_chrf():
    assert corpus_chrf(REFS, REFS) == pytest.approx(100.0)
    got = corpus_chrf(HYPS, REFS)
    assert got == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert 50 < got < 100
    # Character n-grams give partial credit for a misspelling that word BLEU misses entirely.
    assert corpus_chrf(["staring"], ["starring"]) > 40
    assert corpus_bleu(["staring"], ["starring"]) == 0.0
    assert corpus_chrf(["xyz qqq"], ["a man runs"]) < 5


def test_corpus_errors():
    for fn in (corpus_bleu, corpus_chrf):
        msg = error(DataError, fn, HYPS, REFS[:2])
        assert "3 hypotheses but 2 references" in msg
        assert "no hypotheses" in error(DataError, fn, [], [])
        assert "join" in error(ConfigError, fn, [toks(h) for h in HYPS], REFS)
        assert "reference 1" in error(ConfigError, fn, HYPS, [REFS[0], toks(REFS[1]), REFS[2]])
    assert "tokenizer" in error(ConfigError, corpus_bleu, HYPS, REFS, tokenize="moses")
