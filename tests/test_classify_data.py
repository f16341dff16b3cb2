"""Reading labelled and tagged sentences: SNIPS layout, TSV/CSV, CoNLL, vocabularies, batches."""

from __future__ import annotations

import pytest
import torch
from conftest import one_line_error, realdata

from rnnkit.classify.data import (
    Encoded,
    Sentences,
    build_vocabs,
    check_known,
    hold_out,
    load_sentences,
    read_columns,
    read_conll,
    read_delimited,
    read_file,
    split_raw,
)
from rnnkit.errors import ConfigError, DataError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_columns_align_tokens_labels_and_tags(tmp_path):
    text = write(tmp_path / "seq.in", "Play Jazz \n\nbook a table\n")
    label = write(tmp_path / "label", "PlayMusic\nX\nBookRestaurant\n")
    tags = write(tmp_path / "seq.out", "O B-genre \n\nO O O\n")
    s = read_columns(text, label, tags)
    assert s.tokens == [["play", "jazz"], ["book", "a", "table"]]
    assert s.labels == ["PlayMusic", "BookRestaurant"]
    assert s.tags == [["O", "B-genre"], ["O", "O", "O"]]
    assert s.skipped_empty == 1
    assert read_columns(text, label, lowercase=False).tokens[0] == ["Play", "Jazz"]


def test_columns_of_different_lengths_say_both_counts(tmp_path):
    text = write(tmp_path / "seq.in", "a b\nc d\ne\n")
    label = write(tmp_path / "label", "X\nY\n")
    msg = one_line_error(DataError, read_columns, text, label)
    assert "3 lines" in msg and "has 2" in msg


def test_tags_must_match_tokens_and_name_the_line(tmp_path):
    text = write(tmp_path / "seq.in", "a b\nc d\n")
    tags = write(tmp_path / "seq.out", "O O\nO\n")
    msg = one_line_error(DataError, read_columns, text, None, tags)
    assert "line 2" in msg and "1 tags for 2 tokens" in msg


def test_tsv_and_csv(tmp_path):
    tsv = write(tmp_path / "d.tsv", "What time is it?\tGetTime\n\nWake me up at 7!\tSetAlarm\n")
    s = read_delimited(tsv)
    assert s.tokens == [["what", "time", "is", "it"], ["wake", "me", "up", "at", "7"]]
    assert s.labels == ["GetTime", "SetAlarm"] and s.skipped_empty == 1
    csv = write(tmp_path / "d.csv", 'text,label\n"hello, world",Greet\nbye now,Leave\n')
    s = read_delimited(csv)
    assert s.tokens == [["hello", "world"], ["bye", "now"]] and s.labels == ["Greet", "Leave"]
    bad = write(tmp_path / "bad.tsv", "one\tA\ntwo\tB\tC\n")
    assert "line 2 has 3 fields" in one_line_error(DataError, read_delimited, bad)
    empty_label = write(tmp_path / "e.tsv", "one\t \n")
    assert "empty label" in one_line_error(DataError, read_delimited, empty_label)


def test_conll_with_and_without_labels(tmp_path):
    text = "# label: Weather\nweather O\nin O\nParis B-city\n\n\n"
    text += "# label: Music\nplay O\njazz B-genre\n"
    s = read_conll(write(tmp_path / "a.conll", text))
    assert s.tokens == [["weather", "in", "paris"], ["play", "jazz"]]
    assert s.tags == [["O", "O", "B-city"], ["O", "B-genre"]]
    assert s.labels == ["Weather", "Music"]
    s = read_conll(write(tmp_path / "b.conll", "a O\nb B-x\n\nc O\n"))
    assert s.labels is None and len(s) == 2
    some = write(tmp_path / "c.conll", "# label: A\na O\n\nb O\n")
    assert "sentence 2" in one_line_error(DataError, read_conll, some)
    short = write(tmp_path / "d.conll", "a O\nlonely\n")
    assert "line 2" in one_line_error(DataError, read_conll, short)


def test_read_file_tells_tsv_from_conll_by_content(tmp_path):
    tsv = write(tmp_path / "x.txt", "hi\tGreet\nturn the lights off\tLights\n")
    assert read_file(tsv).labels == ["Greet", "Lights"]
    conll = write(tmp_path / "y.txt", "turn\tO\noff\tB-state\n")
    assert read_file(conll).tags == [["O", "B-state"]]
    assert "no file" in one_line_error(DataError, read_file, tmp_path / "missing.tsv")


def test_split_raw_strips_edge_punctuation_only():
    assert split_raw("Rock'n'roll, please!  R&B? (top-20)") == [
        "rock'n'roll",
        "please",
        "r&b",
        "top-20",
    ]
    assert split_raw("?! ...") == []


def test_hold_out_is_seeded_and_disjoint():
    s = Sentences([[str(i)] for i in range(50)], [str(i % 3) for i in range(50)])
    rest, held = hold_out(s, 0.2, seed=1)
    assert len(held) == 10 and len(rest) == 40
    assert not {t[0] for t in rest.tokens} & {t[0] for t in held.tokens}
    assert hold_out(s, 0.2, seed=1)[1].tokens == held.tokens
    assert hold_out(s, 0.2, seed=2)[1].tokens != held.tokens
    assert "too few" in one_line_error(DataError, hold_out, Sentences([["a"]], ["x"]), 0.5, 0)


def test_vocabs_and_unknown_labels():
    s = Sentences([["a", "b"], ["b", "c"]], ["X", "Y"], [["O", "B-t"], ["I-t", "O"]])
    v = build_vocabs(s)
    assert v["words"].itos[:2] == ["<pad>", "<unk>"] and v["words"].itos[2] == "b"
    assert v["labels"].itos == ["<unk>", "X", "Y"]
    assert v["tags"].itos == ["<pad>", "<unk>", "B-t", "I-t", "O"]
    assert set(v["chars"].itos[2:]) == {"a", "b", "c"}
    check_known(s, v, "test data")  # no error
    new = Sentences([["a"]], ["Z"], [["B-new"]])
    msg = one_line_error(DataError, check_known, new, v, "the test data")
    assert "Z" in msg and "known labels: X, Y" in msg
    msg = one_line_error(DataError, check_known, Sentences([["a"]], None, [["B-new"]]), v, "t")
    assert "B-new" in msg


def test_batches_pad_and_keep_order():
    s = Sentences([["a", "bb", "c"], ["d"], ["e", "ff"]], ["X", "Y", "X"], None)
    v = build_vocabs(s)
    enc = Encoded(s, v, use_chars=True)
    b = enc.batch([0, 1, 2])
    assert b.words.shape == (3, 3) and b.lengths.tolist() == [3, 1, 2]
    assert b.words[1, 1:].eq(0).all() and b.words[2, 2] == 0
    assert b.chars.shape == (3, 3, 2) and b.chars[0, 1].ne(0).all() and b.chars[0, 0, 1] == 0
    assert b.labels.tolist() == [1, 2, 1]
    seen = sorted(i for batch in enc.batches(2, shuffle=True, seed=3) for i in batch.index)
    assert seen == [0, 1, 2]
    assert torch.equal(enc.batch([1]).words, torch.tensor([[v["words"].token_to_id("d")]]))


def test_load_sentences_from_a_folder(tmp_path):
    for split in ("train", "valid"):
        (tmp_path / split).mkdir()
        write(tmp_path / split / "seq.in", "a b\n")
        write(tmp_path / split / "label", "X\n")
    assert load_sentences(str(tmp_path), "valid").labels == ["X"]
    msg = one_line_error(DataError, load_sentences, str(tmp_path), "test")
    assert "splits found: train, valid" in msg
    assert "unknown split" in one_line_error(ConfigError, load_sentences, "snips", "dev")


@realdata
def test_snips_has_the_standard_split():
    train, valid, test = (load_sentences("snips", s) for s in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (13_084, 700, 700)
    assert len(set(train.labels)) == 7
    assert len({t for s in train.tags for t in s}) == 72
    assert all(len(a) == len(b) for a, b in zip(train.tokens, train.tags, strict=True))


@realdata
def test_snips_files_match_their_checksums():
    from rnnkit.classify.data import SNIPS
    from rnnkit.registry.datasets import fetch, sha256_file

    for f in SNIPS.values():
        path = fetch(f)
        assert path.stat().st_size == f.size and sha256_file(path) == f.sha256, f.path


@pytest.mark.parametrize("split", ["train", "test"])
def test_snips_is_registered_with_checksums(split):
    from rnnkit.classify.data import SNIPS

    f = SNIPS[(split, "seq.in")]
    assert f.path == f"intents/snips/{split}/seq.in" and len(f.sha256) == 64
    assert f.url.startswith("https://raw.githubusercontent.com/MiuLab/SlotGated-SLU/")
