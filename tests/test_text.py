import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.errors import VocabError
from rnnkit.text.corpus import build_vocab, encode_text, load_ids, save_ids
from rnnkit.text.tokenizers import EOS, build_tokenizer
from rnnkit.text.vocab import BOS, PAD, UNK, Vocab


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_char_tokenizer_round_trips_any_unicode(text):
    tok = build_tokenizer("char")
    assert tok.detokenize(tok.tokenize(text)) == text
    assert len(tok.tokenize(text)) == len(text)


def test_char_tokenizer_emoji_and_cjk_are_single_tokens():
    tok = build_tokenizer("char")
    assert tok.tokenize("a😀床") == ["a", "😀", "床"]


def test_word_tokenizer_closes_lines_with_eos():
    tok = build_tokenizer("word")
    assert tok.tokenize(" the cat \n sat\n") == ["the", "cat", EOS, "sat", EOS]
    assert tok.tokenize("no newline") == ["no", "newline", EOS]
    assert tok.detokenize(["a", "b", EOS, "c", EOS]) == "a b\nc\n"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text("abcXYZ<>", min_size=1), max_size=5), max_size=5))
def test_word_tokenizer_round_trips_normalised_text(lines):
    tok = build_tokenizer("word")
    text = "".join(" ".join(words) + "\n" for words in lines)
    assert tok.detokenize(tok.tokenize(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", " ", "\n", "\t", "\r", "\x0b", "\x85", "\u2028", EOS])))
def test_word_tokenizer_cuts_lines_at_newlines_only(pieces):
    text = "".join(pieces)
    # every other white space splits words inside a line; only \n ends one
    lines = text.split("\n")[: -1 if text.endswith("\n") else None] if text else []
    want = [t for line in lines for t in (*line.split(), EOS)]
    assert build_tokenizer("word").tokenize(text) == want


def test_word_tokenizer_lowercase_option():
    assert build_tokenizer("word", lowercase=True).tokenize("The CAT") == ["the", "cat", EOS]
    assert build_tokenizer("word").tokenize("The") == ["The", EOS]


def test_chinese_char_tokenizer():
    tok = build_tokenizer("chinese-char")
    assert tok.tokenize("床前明月光，GPT2模型\n疑是") == (
        ["床", "前", "明", "月", "光", "，", "GPT2", "模", "型", EOS, "疑", "是", EOS]
    )
    assert (
        tok.detokenize(tok.tokenize("床前明月光，\n疑是地上霜。\n"))
        == "床前明月光，\n疑是地上霜。\n"
    )


def test_unknown_tokenizer_names_choices():
    with pytest.raises(Exception, match="char, word, chinese-char"):
        build_tokenizer("bpe")


def test_vocab_orders_reserved_then_frequency_then_token():
    v = Vocab.build({"b": 3, "a": 3, "c": 5, "d": 1})
    assert v.itos[:4] == [PAD, UNK, BOS, EOS]
    assert v.itos[4:] == ["c", "a", "b", "d"]
    assert v.token_to_id("zzz") == v.unk_id == 1
    assert v.decode(v.encode(["c", "q"])) == ["c", UNK]


def test_vocab_min_freq_and_max_size():
    counts = {"a": 10, "b": 5, "c": 2, "d": 1}
    assert Vocab.build(counts, min_freq=2).itos[4:] == ["a", "b", "c"]
    assert len(Vocab.build(counts, max_size=6)) == 6
    with pytest.raises(VocabError):
        Vocab.build(counts, max_size=3)


def test_vocab_counts_reserved_tokens_seen_in_text():
    v = build_vocab("a <unk> b\n", build_tokenizer("word"))
    assert v.itos.count(UNK) == 1 and v.itos.count(EOS) == 1
    assert v.counts[v.id_of(EOS)] == 1


def test_vocab_save_load_identity(tmp_path):
    v = Vocab.build({"x": 2, "床": 1, "😀": 4})
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w == v and w.counts == v.counts and w.unk_id == v.unk_id
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["tokens"] == v.itos


def test_vocab_load_rejects_bad_file(tmp_path):
    (tmp_path / "vocab.json").write_text("{not json")
    with pytest.raises(VocabError, match="not a valid vocab.json"):
        Vocab.load(tmp_path / "vocab.json")
    with pytest.raises(VocabError, match="no vocabulary"):
        Vocab.load(tmp_path / "missing.json")


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1), st.text())
def test_char_fast_encoding_equals_dict_lookup(train, other):
    tok = build_tokenizer("char")
    v = build_vocab(train, tok)
    text = train + other
    fast = encode_text(text, tok, v)
    assert fast.dtype == np.int32
    assert fast.tolist() == v.encode(tok.tokenize(text)).tolist()


def test_encoded_ids_memory_map(tmp_path):
    ids = np.arange(1000, dtype=np.int32)
    save_ids(tmp_path / "ids.npy", ids)
    mm = load_ids(tmp_path / "ids.npy")
    assert isinstance(mm, np.memmap) and np.array_equal(mm, ids)
