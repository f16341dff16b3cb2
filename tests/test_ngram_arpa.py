"""ARPA files: exact values of a hand-computed model, round trips through ``read_arpa``,
malformed files, and agreement with KenLM when it is installed."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from rnnkit.errors import ConfigError, DataError
from rnnkit.ngram import NGramLM
from rnnkit.ngram.arpa import arpa_text, escape_token, read_arpa, unescape_token, write_arpa
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import build_tokenizer

LN10 = math.log(10)


def _fit(text: str, tokenizer: str, order: int, smoothing: str, **kw):
    tok = build_tokenizer(tokenizer)
    vocab = build_vocab(text, tok, 1, None)
    lm = NGramLM(order, smoothing, **kw).fit_vocab(
        encode_text(text, tok, vocab), vocab, tok.boundary
    )
    return tok, vocab, lm


def _zipf_lines(n: int, seed: int) -> list[str]:
    """Sentences of Zipf-distributed words (enough singletons to estimate every discount)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(120)] + ["a\\b", "x\\s", "<s>", "</s>"])
    p = 1.0 / np.arange(1, len(words) + 1)
    return [" ".join(rng.choice(words, size=rng.integers(1, 9), p=p / p.sum())) for _ in range(n)]


WORD_TRAIN = "\n".join(_zipf_lines(400, 0)) + "\n"
# held-out: new sentences, an unseen word; no literal "<s>"/"</s>" (ArpaLM reads them as symbols)
WORD_HELD = (
    "\n".join(s.replace("</s>", "w1").replace("<s>", "w2") for s in _zipf_lines(30, 1))
    + "\nw0 zzz a\\b x\\s w3\nzzz\n"
)


def _char_lines(n: int, seed: int) -> list[str]:
    """Lines of short letter words split by spaces, with some tabs, backslashes and NBSPs."""
    rng = np.random.default_rng(seed)
    letters = list("etaoinshrdlu\\")
    p = 1.0 / np.arange(1, len(letters) + 1)
    seps = [" "] * 8 + ["\t", "\xa0"]
    lines = []
    for _ in range(n):
        words = ["".join(rng.choice(letters, rng.integers(1, 5), p=p / p.sum())) for _ in range(3)]
        lines.append(words[0] + rng.choice(seps) + words[1] + rng.choice(seps) + words[2])
    return lines


CHAR_TRAIN = "\n".join(_char_lines(150, 0)) + "\n"
CHAR_HELD = "\n".join(_char_lines(10, 1)) + "\nthe\tz\\ \xa0 q\n"


def _arpa_words(tok, text: str) -> list[str]:
    return ["</s>" if t == tok.boundary else t for t in tok.tokenize(text)]


# ------------------------------------------------------------------ a model computed by hand
def _hand_model():
    # "a b <eos> | b <eos>"; ids: <pad> <unk> <bos> <eos> b a (b is more frequent)
    return _fit("a b\nb\n", "word", 2, "kn", discount=[0.5, 0.5], bos_style="padded")


def _hand_probs():
    """Interpolated KN by the formulas, D = 0.5 at both orders, 5 events (all ids but <pad>).

    Order 1 uses continuation counts: N1+(.a) = 1 (<bos>), N1+(.b) = 2 (<bos>, a),
    N1+(.</s>) = 1 (b), total 4, three types: gamma_1 = 0.5 * 3 / 4.
    """
    g1 = F(1, 2) * 3 / 4
    p1 = {w: max(F(c) - F(1, 2), 0) / 4 + g1 / 5 for w, c in [("a", 1), ("b", 2), ("</s>", 1)]}
    p1["<unk>"] = p1["<s>"] = g1 / 5
    # order 2, plain counts: <bos> -> a, b (1 each); a -> b (1); b -> </s> (2)
    gam = {"<s>": F(1, 2) * 2 / 2, "a": F(1, 2) / 1, "b": F(1, 2) / 2}
    p2 = {
        ("<s>", "a"): F(1, 2) / 2 + gam["<s>"] * p1["a"],
        ("<s>", "b"): F(1, 2) / 2 + gam["<s>"] * p1["b"],
        ("a", "b"): F(1, 2) / 1 + gam["a"] * p1["b"],
        ("b", "</s>"): F(3, 2) / 2 + gam["b"] * p1["</s>"],
    }
    return p1, gam, p2


def _log10(x: F) -> float:
    return math.log10(x.numerator) - math.log10(x.denominator)


def test_hand_computed_bigram_kn(tmp_path):
    _, vocab, lm = _hand_model()
    p1, gam, p2 = _hand_probs()
    assert sum(p1.values()) == 1 and p2[("<s>", "a")] == F(7, 20)
    text = arpa_text(lm, vocab)
    lines = text.split("\n")
    assert lines[:4] == ["\\data\\", "ngram 1=5", "ngram 2=4", ""]
    assert lines[-3:] == ["", "\\end\\", ""]
    one = lines[lines.index("\\1-grams:") + 1 : lines.index("\\1-grams:") + 6]
    two = lines[lines.index("\\2-grams:") + 1 : lines.index("\\2-grams:") + 5]
    seen = {}
    for line in one:
        fields = line.split("\t")
        seen[fields[1]] = [float(x) for x in fields[:1] + fields[2:]]
    assert set(seen) == set(p1)  # every id but <pad>, under its ARPA symbol
    for w, p in p1.items():
        # </s> and <unk> never precede a counted token: no backoff field
        want = [_log10(p)] + ([_log10(gam[w])] if w in gam else [])
        np.testing.assert_allclose(seen[w], want, atol=1e-7)
    for line in two:
        prob, words = line.split("\t")  # the top order has no backoff field
        assert float(prob) == pytest.approx(_log10(p2[tuple(words.split(" "))]), abs=1e-7)
    assert len(two) == len(p2)

    path = tmp_path / "hand.arpa"
    write_arpa(lm, vocab, path)
    assert path.read_text(encoding="utf-8") == text
    arpa = read_arpa(path)
    assert arpa.order == 2 and arpa.counts == [5, 4]
    assert arpa.logprob10("a", ["<s>"]) == pytest.approx(_log10(F(7, 20)), abs=1e-7)
    # "a a" is not listed: backoff of "a" times p(a) = 1/2 * 1/5
    assert arpa.logprob10("a", ["a"]) == pytest.approx(-1.0, abs=1e-7)
    # a context that precedes nothing has no backoff: p(a) itself; unknown words are <unk>
    assert arpa.logprob10("a", ["</s>"]) == pytest.approx(_log10(p1["a"]), abs=1e-7)
    assert arpa.logprob10("nope", ["b"]) == pytest.approx(_log10(gam["b"] * p1["<unk>"]), abs=1e-7)
    p = p2[("<s>", "a")] * p2[("a", "b")] * p2[("b", "</s>")]
    assert arpa.sentence_logprob(["a", "b", "</s>"]) == pytest.approx(_log10(p) * LN10, abs=1e-6)


def test_contexts_are_listed_with_padding():
    _, vocab, lm = _fit("a b\nb\n", "word", 3, "kn", discount=[0.5, 0.5, 0.5], bos_style="padded")
    text = arpa_text(lm, vocab)
    assert "ngram 2=5" in text and "ngram 3=5" in text
    line = next(s for s in text.split("\n") if s.endswith("\t<s> <s>\t-0.3010300"))
    # p(<s> | <s>): no counted continuation of that n-gram, so gamma(<s>) p_1(<s>)
    assert float(line.split("\t")[0]) == pytest.approx(_log10(F(1, 2) * F(3, 40)), abs=1e-7)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("smoothing", ["kn", "mkn"])
@pytest.mark.parametrize("order", [2, 3, 4])
def test_round_trip_word(tmp_path, order, smoothing):
    tok, vocab, lm = _fit(WORD_TRAIN, "word", order, smoothing)
    path = tmp_path / "words.arpa"
    write_arpa(lm, vocab, path)
    arpa = read_arpa(path)
    assert arpa.order == order
    assert sorted(arpa.vocab) == sorted(["<s>", "</s>", "<unk>", *vocab.itos[4:]])
    written = path.read_text(encoding="utf-8").split()
    assert "\\u003cs>" in written and "x\\\\s" in written  # the literal "<s>" and "x\\s"
    want, _ = lm.token_logprobs(encode_text(WORD_HELD, tok, vocab))
    got = arpa.token_logprobs(_arpa_words(tok, WORD_HELD))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the first held-out sentence alone, then the stream: the context restarts after </s>
    first = _arpa_words(tok, WORD_HELD.split("\n")[0] + "\n")
    assert arpa.sentence_logprob(first) == pytest.approx(want[: len(first)].sum(), abs=1e-5)


# every character follows many others: no rare continuation counts to estimate D_1 from
CHAR_WARNING = "ignore:order 1. discounts cannot be estimated:rnnkit.errors.RnnkitWarning"


@pytest.mark.filterwarnings(CHAR_WARNING)
@pytest.mark.parametrize("smoothing", ["kn", "mkn"])
def test_round_trip_char(tmp_path, smoothing):
    tok, vocab, lm = _fit(CHAR_TRAIN, "char", 3, smoothing)
    path = tmp_path / "chars.arpa"
    write_arpa(lm, vocab, path)
    text = path.read_text(encoding="utf-8")
    unigrams = text[text.index("\\1-grams:") : text.index("\\2-grams:")].split("\n")[1:-2]
    words = {line.split("\t")[1] for line in unigrams}
    # every character written without white space; <eos> is unused and written as itself
    assert {"\\s", "\\t", "\\", "\\u00a0", "</s>", "<eos>"} <= words
    arpa = read_arpa(path)
    assert {" ", "\t", "\\", "\xa0", "</s>", "<eos>"} <= set(arpa.vocab)
    want, _ = lm.token_logprobs(encode_text(CHAR_HELD, tok, vocab))
    got = arpa.token_logprobs(_arpa_words(tok, CHAR_HELD))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_zero_discount_writes_minus_infinity(tmp_path):
    # D_1 = 0: tokens never seen after another token get probability 0
    tok, vocab, lm = _fit("a b\nb\n", "word", 2, "kn", discount=[0.0, 0.5], bos_style="padded")
    write_arpa(lm, vocab, tmp_path / "z.arpa")
    arpa = read_arpa(tmp_path / "z.arpa")
    assert arpa.logprob10("<unk>") == -math.inf
    want, _ = lm.token_logprobs(encode_text("a b\nzzz b\n", tok, vocab))
    got = arpa.token_logprobs(["a", "b", "</s>", "zzz", "b", "</s>"])
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "token",
    ["a", " ", "a b", "\t\n\r", "\xa0\u2028\x00", "<s>", "</s>", "<unk>", "\\", "\\\\"]
    + ["\\s", "\\ ", "a\\", "\\\\s", "\\u00a0", "\\ufoo", "\\\t", "1\\/2", "\\*\\*"],
)
def test_escape_is_reversible(token):
    word = escape_token(token)
    assert word.split() == [word] and unescape_token(word) == token
    assert word not in ("<s>", "</s>", "<unk>")


def test_escape_keeps_plain_backslashes():
    # PTB spells fractions and asterisks with backslashes: other ARPA tools must see them as is
    for token in ("1\\/2", "cities\\/abc", "\\*\\*", "\\", "a\\"):
        assert escape_token(token) == token
    assert escape_token("\\s") == "\\\\s" and escape_token("a b") == "a\\sb"


# ------------------------------------------------------------------ refusals and bad files
@pytest.mark.parametrize("smoothing", ["addk", "mle", "stupid"])
def test_write_refuses_non_backoff_models(tmp_path, smoothing):
    _, vocab, lm = _fit("a b\nb\n", "word", 2, smoothing)
    with pytest.raises(ConfigError, match=f"{smoothing} is not one.*--smoothing kn or mkn"):
        write_arpa(lm, vocab, tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


def test_write_refuses_unfitted_or_other_vocab(tmp_path):
    _, vocab, lm = _hand_model()
    with pytest.raises(ConfigError, match="not fitted"):
        write_arpa(NGramLM(2, "kn"), vocab, tmp_path / "x.arpa")
    other = build_vocab("a b c\n", build_tokenizer("word"), 1, None)
    with pytest.raises(ConfigError, match="vocabulary"):
        write_arpa(lm, other, tmp_path / "x.arpa")


def _good_text() -> str:
    _, vocab, lm = _hand_model()
    return arpa_text(lm, vocab)


# the lines of _good_text(): 1 \data\, 2-3 counts, 5 \1-grams:, 6-10 unigrams,
# 12 \2-grams:, 13-16 bigrams, 18 \end\
BROKEN = [
    ("no header", lambda t: "hello\nworld\n", 1),
    ("bad count line", lambda t: t.replace("ngram 2=4", "ngram 2=x"), 3),
    ("orders out of sequence", lambda t: t.replace("ngram 1=5\nngram 2=4", "ngram 2=4"), 2),
    ("count mismatch", lambda t: t.replace("ngram 2=4", "ngram 2=5"), 12),
    ("not a number", lambda t: t.replace("-0.3467875\tb", "abc\tb"), 9),
    ("nan backoff", lambda t: t.replace("-0.6020600", "nan"), 9),
    ("too few fields", lambda t: t.replace("\t<s> a\n", "\t<s>\n"), 14),
    ("backoff at the top order", lambda t: t.replace("\ta b\n", "\ta b\t-0.1\n"), 16),
    ("unknown section", lambda t: t.replace("\\2-grams:", "\\bigrams:"), 12),
    ("section out of order", lambda t: t.replace("\\2-grams:", "\\3-grams:"), 12),
    ("extra section", lambda t: t.replace("\\end\\", "\\3-grams:\n\\end\\"), 18),
    ("missing end", lambda t: t.replace("\\end\\\n", ""), 17),
    ("missing section", lambda t: t[: t.index("\\2-grams:")], 11),
]


@pytest.mark.parametrize("name,breaks,lineno", BROKEN, ids=[b[0] for b in BROKEN])
def test_malformed_files(tmp_path, name, breaks, lineno):
    good = _good_text()
    path = tmp_path / "bad.arpa"
    path.write_text(breaks(good), encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_arpa(path)
    message = str(err.value)
    assert f"{path}, line {lineno}:" in message, message
    assert "\n" not in message


def test_tolerated_variations(tmp_path):
    good = _good_text()
    path = tmp_path / "ok.arpa"
    # a free-form header, CRLF line ends, spaces instead of tabs, explicit zero backoffs
    varied = "made by hand\n\n" + good.replace("\t", " ")
    varied = varied.replace("\n-0.6989700 </s>\n", "\n-0.6989700 </s> 0\n").replace("\n", "\r\n")
    path.write_text(varied, encoding="utf-8")
    arpa = read_arpa(path)
    (tmp_path / "good.arpa").write_text(good, encoding="utf-8")
    reference = read_arpa(tmp_path / "good.arpa")
    for w, h in [("a", ["<s>"]), ("a", ["a"]), ("b", ["</s>"]), ("</s>", ["b"])]:
        assert arpa.logprob10(w, h) == pytest.approx(reference.logprob10(w, h), abs=1e-9)


# ------------------------------------------------------------------ KenLM
@pytest.mark.filterwarnings(CHAR_WARNING)
@pytest.mark.parametrize(
    "tokenizer,order,smoothing",
    [
        ("word", 2, "kn"),
        ("word", 3, "kn"),
        ("word", 3, "mkn"),
        ("word", 4, "mkn"),
        ("char", 3, "mkn"),
    ],
)
@pytest.mark.parametrize("bos_style", ["kenlm", "padded"])
def test_kenlm_agrees(tmp_path, tokenizer, order, smoothing, bos_style):
    kenlm = pytest.importorskip("kenlm")  # a dev dependency: this check runs in `make test`

    train, held = (WORD_TRAIN, WORD_HELD) if tokenizer == "word" else (CHAR_TRAIN, CHAR_HELD)
    tok, vocab, lm = _fit(train, tokenizer, order, smoothing, bos_style=bos_style)
    path = tmp_path / "lm.arpa"
    write_arpa(lm, vocab, path)
    model = kenlm.Model(str(path))
    assert model.order == order
    want, sentence_of = lm.token_logprobs(encode_text(held, tok, vocab))
    want = want / LN10
    tokens = tok.tokenize(held)
    ends = [i for i, t in enumerate(tokens) if t == tok.boundary]
    starts = [0] + [e + 1 for e in ends[:-1]]
    assert len(ends) == sentence_of.max() + 1
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        words = [escape_token(t) for t in tokens[a:b]]  # KenLM sees the file's spelling
        if bos_style == "kenlm":  # KenLM's defaults: one <s>
            got = [score for score, _, _ in model.full_scores(" ".join(words))]
        else:  # the padded model is read with its n-1 <s>
            padded = " ".join(["<s>"] * (order - 1) + words)
            got = [score for score, _, _ in model.full_scores(padded, bos=False)][order - 1 :]
        np.testing.assert_allclose(got, want[sentence_of == s], atol=6e-7, rtol=0)
