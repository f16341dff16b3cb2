"""Properties of tokenizers, vocabularies and batch iterators, on inputs hypothesis makes up.

- Tokenizers on any Unicode (lone surrogates, combining marks, zero-width characters, lines of
  100,000 characters): ``char`` is lossless, through a Vocab too; ``word`` and ``chinese-char``
  give back the normalised form their docstrings promise, and tokenizing is idempotent.
- ``Vocab`` save/load is the identity for any token list it accepts, and it refuses at build
  time the one token vocab.json cannot hold.
- ``LMBatches`` covers the corpus once per epoch (random: every subsequence start once;
  sequential: each row one contiguous stream), data-parallel shards add up to the global batch,
  and ``eval_batches`` predicts every covered token once.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from rnnkit.data.lm_batches import LMBatches, eval_batches
from rnnkit.errors import VocabError
from rnnkit.text.corpus import build_vocab, count_tokens, encode_text
from rnnkit.text.streaming import ChunkEncoder, TokenCounter, smallest_uint
from rnnkit.text.tokenizers import EOS, build_tokenizer
from rnnkit.text.vocab import RESERVED, UNK, Vocab

# ---- text ---------------------------------------------------------------------------------------
# Besides what st.characters() gives: surrogates (which it leaves out by default), combining
# marks, zero-width characters and a BOM, every kind of line break and blank, the <eos> word.
SPECIAL = [
    "\u0301", "\u0308", "\u200b", "\u200d", "\ufeff", "\n", "\r", "\r\n", "\t", " ", "\x0b",
    "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "<eos>", "床", "😀", "é", "GPT2",
]  # fmt: skip
piece = (
    st.characters(exclude_categories=())
    | st.integers(0xD800, 0xDFFF).map(chr)
    | st.sampled_from(SPECIAL)
)


def text_of(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.lists(piece, min_size=min_size, max_size=max_size).map("".join)


unicode_text = text_of(60)
# One line of up to 100,000 characters, repeated from a short piece.
long_line = st.builds(
    lambda text, n: (text * n)[:100_000], text_of(8, min_size=1), st.integers(1_000, 100_000)
)
texts = unicode_text | unicode_text | long_line  # one in three a long line

SURROGATE_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")


def lines(text: str) -> list[str]:
    """The lines every tokenizer sees: cut at \\n only; a final \\n closes the last line."""
    out = text.split("\n")
    if out and out[-1] == "":
        out.pop()
    return out


@settings(max_examples=150, deadline=None)
@given(texts)
@example("a\ud800b\udfffc")  # lone surrogates
@example("\ud83d\ude00")  # a high and a low surrogate side by side, as two code points
@example("e\u0301\u200b\u200d\ufeff")
def test_char_is_lossless_and_so_is_a_vocab_built_on_the_text(text):
    tok = build_tokenizer("char")
    tokens = tok.tokenize(text)
    assert len(tokens) == len(text) and tok.detokenize(tokens) == text
    vocab = build_vocab(text, tok)
    ids = encode_text(text, tok, vocab)
    assert ids.tolist() == vocab.encode(tokens).tolist()  # the fast path agrees with the dict
    assert tok.detokenize(vocab.decode(ids)) == text
    assert vocab.unk_id not in ids.tolist()  # every character has an id of its own


@settings(max_examples=60, deadline=None)
@given(texts, st.sampled_from(["char", "word", "chinese-char"]))
@example("a\ud800\n\ud83d\ude00 b\n", "char")
def test_streaming_counts_and_ids_equal_whole_text(text, name):
    tok = build_tokenizer(name)
    counter = TokenCounter(tok)
    counter.update(text)
    assert counter.counts() == dict(count_tokens(text, tok))
    try:
        vocab = build_vocab(text, tok)
    except VocabError:
        assert SURROGATE_PAIR.search(text)
        return
    ids = ChunkEncoder(tok, vocab, smallest_uint(len(vocab)))(text)
    whole = vocab.encode(tok.tokenize(text)).tolist()  # the dict lookup, the text at once
    assert ids.tolist() == whole and encode_text(text, tok, vocab).tolist() == whole


def word_normalised(text: str, lowercase: bool = False) -> str:
    """What the word tokenizer promises to give back: each line's words joined by one space,
    every line closed by a newline."""
    if lowercase:
        text = text.lower()
    return "".join(" ".join(line.split()) + "\n" for line in lines(text))


@settings(max_examples=150, deadline=None)
@given(texts, st.booleans())
@example("  a\u3000b\x85c \r\n\n\u2028d\x0b", False)
@example("The İ CAT\n", True)
@example("a <EOS> b\nc", True)  # lowercased, a word becomes <eos>
def test_word_gives_back_the_normalised_text(text, lowercase):
    tok = build_tokenizer("word", lowercase=lowercase)
    tokens = tok.tokenize(text)
    words = (text.lower() if lowercase else text).split()
    assert tokens.count(EOS) == len(lines(text)) + words.count(EOS)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    once = tok.detokenize(tokens)
    # A word spelled <eos> in the text ends a line once decoded; any other text comes back
    # normalised. Either way decoding then tokenizing again changes nothing.
    if EOS not in words:
        assert once == word_normalised(text, lowercase)
    assert tok.tokenize(once) == tokens
    assert tok.detokenize(tok.tokenize(once)) == once


def chinese_normalised(text: str) -> str:
    """What the chinese-char tokenizer promises to give back: each line without its white
    space, closed by a newline."""
    return "".join("".join(line.split()) + "\n" for line in lines(text))


@settings(max_examples=150, deadline=None)
@given(texts)
@example("床前 明月光，GPT 2\n疑是\u3000地上霜abc12。\r\n")
def test_chinese_char_gives_back_the_text_without_white_space(text):
    tok = build_tokenizer("chinese-char")
    tokens = tok.tokenize(text)
    assert tokens.count(EOS) == len(lines(text))
    words = [t for t in tokens if t != EOS]
    # a token is a run of ASCII letters and digits, or any one other visible character
    assert all(re.fullmatch(r"[A-Za-z0-9]+", t) or (len(t) == 1 and not t.isspace()) for t in words)
    once = tok.detokenize(tokens)
    assert once == chinese_normalised(text)
    assert tok.detokenize(tok.tokenize(once)) == once


# ---- vocabularies -----------------------------------------------------------------------------
token_text = text_of(6) | st.sampled_from(
    ["", "<unk>", "<pad>", "<eos>", "<s>", '"', "\\", "\\u0041", "\n", "a\nb", "\ud800", "null"]
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(token_text, st.integers(1, 5), max_size=12), st.integers(1, 3))
@example({"\ud83d\ude00": 1}, 1)  # the one token vocab.json cannot keep
@example(dict.fromkeys(["\ud800", chr(0xDFFF), "", "<unk>", 'q"\n'], 2), 1)
def test_vocab_save_load_is_the_identity(counts, min_freq):
    try:
        vocab = Vocab.build(counts, min_freq=min_freq)
    except VocabError:
        assert any(SURROGATE_PAIR.search(t) for t in counts)  # refused when built, not saved
        return
    with tempfile.TemporaryDirectory() as tmp:
        vocab.save(Path(tmp, "vocab.json"))
        loaded = Vocab.load(Path(tmp, "vocab.json"))
    assert loaded == vocab and loaded.itos == vocab.itos
    assert loaded.counts == vocab.counts and loaded.reserved == vocab.reserved
    assert loaded.unk_id == vocab.unk_id
    probe = [*counts, "never seen"]
    assert loaded.encode(probe).tolist() == vocab.encode(probe).tolist()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(token_text, max_size=10),
    st.sampled_from([RESERVED, (UNK,), ("<pad>", "<unk>"), ("\ud800", "<unk>")]),
)
def test_vocab_from_token_list_refuses_when_built_or_survives_a_save(tokens, reserved):
    try:
        vocab = Vocab(
            [*reserved, *tokens], reserved=reserved, counts=[1] * (len(tokens) + len(reserved))
        )
    except VocabError:
        duplicated = len(set(tokens) | set(reserved)) < len(tokens) + len(reserved)
        assert duplicated or any(SURROGATE_PAIR.search(t) for t in tokens)
        return
    with tempfile.TemporaryDirectory() as tmp:
        vocab.save(Path(tmp, "vocab.json"))
        loaded = Vocab.load(Path(tmp, "vocab.json"))
    assert loaded.itos == vocab.itos and loaded.reserved == vocab.reserved
    assert loaded.counts == vocab.counts


# ---- language-model batches -----------------------------------------------------------------
corpora = st.tuples(
    st.integers(2, 1500),  # tokens
    st.integers(1, 8),  # batch size
    st.integers(1, 24),  # seq len
    st.integers(0, 4),  # epoch
    st.integers(0, 2**32 - 1),  # seed
).filter(lambda c: c[0] > (c[1] + 1) * c[2] + 1)  # room for one batch at any offset


def epoch(n, B, T, sampling, e, seed, rank=0, world_size=1):
    it = LMBatches(np.arange(n, dtype=np.int32), B, T, sampling, seed, rank, world_size)
    batches = list(it.epoch(e))
    assert len(batches) == it.num_batches(e) > 0
    return batches


@settings(max_examples=120, deadline=None)
@given(corpora)
def test_random_sampling_visits_every_subsequence_start_once(corpus):
    n, B, T, e, seed = corpus
    batches = epoch(n, B, T, "random", e, seed)
    starts = []
    for x, y in batches:
        assert x.shape == y.shape == (B, T) and x.dtype == y.dtype == torch.int64
        assert torch.equal(y, x + 1)  # the targets are the inputs shifted by one
        assert torch.equal(x, x[:, :1] + torch.arange(T))  # each row is one subsequence
        starts += x[:, 0].tolist()
    offset = min(starts)
    assert 0 <= offset < T
    # The epoch's subsequences start at offset + k*T; every one that fits whole batches is used
    # exactly once, and the rest (fewer than a batch) are left out.
    k = ((n - offset - 1) // T) // B * B
    assert sorted(starts) == [offset + i * T for i in range(k)]


@settings(max_examples=120, deadline=None)
@given(corpora)
def test_sequential_rows_are_contiguous_streams(corpus):
    n, B, T, e, seed = corpus
    batches = epoch(n, B, T, "sequential", e, seed)
    x = torch.cat([x for x, _ in batches], dim=1)  # (B, num_batches * T)
    y = torch.cat([y for _, y in batches], dim=1)
    offset = int(x[0, 0])
    assert 0 <= offset < T and torch.equal(y, x + 1)
    width = (n - offset - 1) // B  # each row's stream, of which whole batches are read
    for r in range(B):
        start = offset + r * width
        assert x[r].tolist() == list(range(start, start + x.shape[1]))
    assert x.shape[1] == width // T * T


@settings(max_examples=80, deadline=None)
@given(corpora, st.sampled_from(["random", "sequential"]), st.sampled_from([1, 2, 3, 4, 8]))
def test_rank_shards_add_up_to_the_global_batch(corpus, sampling, world_size):
    n, B, T, e, seed = corpus
    B = B * world_size  # a global batch the world size divides
    assume(n > (B + 1) * T + 1)
    whole = epoch(n, B, T, sampling, e, seed)
    shards = [epoch(n, B, T, sampling, e, seed, r, world_size) for r in range(world_size)]
    for k, (x, y) in enumerate(whole):
        assert all(s[k][0].shape == (B // world_size, T) for s in shards)
        assert torch.equal(torch.cat([s[k][0] for s in shards]), x)
        assert torch.equal(torch.cat([s[k][1] for s in shards]), y)
    assert all(len(s) == len(whole) for s in shards)


@settings(max_examples=120, deadline=None)
@given(st.integers(2, 800), st.integers(1, 12), st.integers(1, 40), st.integers(1, 5))
@example(2, 5, 3, 4)  # one predictable token, more ranks than streams
def test_eval_batches_predict_every_covered_token_once(n, B, T, world_size):
    ids = np.arange(n, dtype=np.int32)
    batches = list(eval_batches(ids, B, T))
    x = torch.cat([x for x, _ in batches], dim=1)
    y = torch.cat([y for _, y in batches], dim=1)
    streams = max(1, min(B, n - 1))
    width = (n - 1) // streams
    assert x.shape == (streams, width) and torch.equal(y, x + 1)
    assert x.flatten().tolist() == list(range(streams * width))  # row r: [r*width, (r+1)*width)
    assert all(xb.shape[1] == T for xb, _ in batches[:-1])
    # Shards of any number of ranks cover the same streams, in order.
    shards = [list(eval_batches(ids, B, T, r, world_size)) for r in range(world_size)]
    for k, (xb, yb) in enumerate(batches):
        assert torch.equal(torch.cat([s[k][0] for s in shards if s]), xb)
        assert torch.equal(torch.cat([s[k][1] for s in shards if s]), yb)
    assert {len(s) for s in shards if s} == {len(batches)}  # a rank with streams gets every batch
