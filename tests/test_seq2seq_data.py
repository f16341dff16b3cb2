"""Parallel data: pairs from files, TSV and the registered corpus, their errors, vocabularies,
ids, padding and length-bucketed batches; multi30k on real data and through a download."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error as error
from conftest import realdata

from rnnkit.data.padding import pad_batch
from rnnkit.errors import ConfigError, DataError, DownloadError
from rnnkit.registry import datasets as reg
from rnnkit.seq2seq.data import (
    CORPORA,
    Batch,
    BucketBatches,
    Pairs,
    build_vocabs,
    corpus_file,
    encode_pairs,
    load_pairs,
    padding_fraction,
)
from rnnkit.text.vocab import BOS, EOS, PAD, UNK


def write_lines(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes("".join(line + end for line in lines).encode("utf-8"))
    return path


def aligned(tmp_path: Path, src: list[str], tgt: list[str]) -> tuple[Path, Path]:
    return write_lines(tmp_path / "src.txt", src), write_lines(tmp_path / "tgt.txt", tgt)


DE = ["ein hund läuft .", "zwei männer sitzen .", "ein kind spielt im park ."]
EN = ["a dog runs .", "two men sit .", "a child plays in the park ."]


# ---- loading pairs -----------------------------------------------------------------------------
def test_aligned_files(tmp_path):
    src, tgt = aligned(tmp_path, DE, EN)
    pairs = load_pairs(src_file=src, tgt_file=tgt)
    assert pairs.src == [s.split() for s in DE] and pairs.tgt == [t.split() for t in EN]
    assert (len(pairs), pairs.skipped_empty, pairs.truncated) == (3, 0, 0)
    # Files have no splits: the split argument does not matter.
    assert load_pairs(None, "test", src_file=src, tgt_file=tgt) == pairs


def test_tsv(tmp_path):
    tsv = write_lines(tmp_path / "p.tsv", [f"{d}\t{e}" for d, e in zip(DE, EN, strict=True)])
    pairs = load_pairs(tsv=tsv)
    assert pairs.src == [s.split() for s in DE] and pairs.tgt == [t.split() for t in EN]


def test_whitespace_lowercase_crlf_and_bom(tmp_path):
    src = tmp_path / "s.txt"
    src.write_bytes("\ufeffEin  Hund\tläuft\r\nZwei Männer\r\n".encode())
    tgt = write_lines(tmp_path / "t.txt", ["A dog  runs", "Two Men"], end="\r\n")
    pairs = load_pairs(src_file=src, tgt_file=tgt)
    assert pairs.src == [["Ein", "Hund", "läuft"], ["Zwei", "Männer"]]
    assert pairs.tgt == [["A", "dog", "runs"], ["Two", "Men"]]
    lower = load_pairs(src_file=src, tgt_file=tgt, lowercase=True)
    assert lower.src == [["ein", "hund", "läuft"], ["zwei", "männer"]]
    assert lower.tgt == [["a", "dog", "runs"], ["two", "men"]]


def test_only_newline_ends_a_line(tmp_path):
    # A form feed or U+2028 inside a line must not split it: that would shift the alignment.
    src, tgt = aligned(tmp_path, ["eins\x0czwei", "drei\u2028vier", "fünf"], ["a", "b", "c"])
    pairs = load_pairs(src_file=src, tgt_file=tgt)
    assert len(pairs) == 3 and pairs.tgt == [["a"], ["b"], ["c"]]
    assert pairs.src[2] == ["fünf"]


def test_no_final_newline(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("a b\nc d", encoding="utf-8")
    tgt = write_lines(tmp_path / "t.txt", ["x", "y"])
    assert load_pairs(src_file=src, tgt_file=tgt).src == [["a", "b"], ["c", "d"]]


def test_empty_lines_are_skipped_and_counted(tmp_path):
    # Pair 2 has an empty source, pair 4 a blank (spaces only) target, pair 5 both empty.
    src, tgt = aligned(tmp_path, ["a b", "", "c", "d e", ""], ["x", "y z", "w", "   ", ""])
    pairs = load_pairs(src_file=src, tgt_file=tgt)
    assert pairs.src == [["a", "b"], ["c"]] and pairs.tgt == [["x"], ["w"]]
    assert pairs.skipped_empty == 3
    # In a TSV an empty side, or a blank line, is skipped the same way.
    tsv = write_lines(tmp_path / "p.tsv", ["a\tx", "\ty", "b\t ", "", "c\tz"])
    pairs = load_pairs(tsv=tsv)
    assert pairs.src == [["a"], ["c"]] and pairs.skipped_empty == 3


def test_truncation_is_counted(tmp_path):
    src, tgt = aligned(tmp_path, ["1 2 3 4 5", "1 2", "1 2 3"], ["a b", "a b c d", "a b c"])
    pairs = load_pairs(src_file=src, tgt_file=tgt, max_len=3)
    assert pairs.src == [["1", "2", "3"], ["1", "2"], ["1", "2", "3"]]
    assert pairs.tgt == [["a", "b"], ["a", "b", "c"], ["a", "b", "c"]]
    assert pairs.truncated == 2  # a side exactly max_len long is not cut
    assert load_pairs(src_file=src, tgt_file=tgt).truncated == 0


def test_errors(tmp_path):
    src, tgt = aligned(tmp_path, DE, EN)
    short = write_lines(tmp_path / "short.txt", EN[:2])
    msg = error(DataError, load_pairs, src_file=src, tgt_file=short)
    assert "3 lines" in msg and "2" in msg and "src.txt" in msg and "short.txt" in msg

    for line, tabs in (("a b c", 0), ("a\tb\tc", 2)):
        tsv = write_lines(tmp_path / "bad.tsv", ["x\ty", "x\ty", line])
        msg = error(DataError, load_pairs, tsv=tsv)
        assert "line 3" in msg and f"{tabs} tabs" in msg and "exactly one tab" in msg

    msg = error(DataError, load_pairs, "wmt14")
    assert "'wmt14'" in msg and "multi30k" in msg
    msg = error(ConfigError, load_pairs, "multi30k", src_lang="fr")
    assert "'fr'" in msg and "de, en" in msg
    msg = error(ConfigError, load_pairs, "multi30k", tgt_lang="cs")
    assert "'cs'" in msg and "de, en" in msg
    assert "both 'en'" in error(ConfigError, load_pairs, "multi30k", src_lang="en", tgt_lang="en")
    msg = error(DataError, load_pairs, "multi30k", "dev")
    assert "'dev'" in msg and "train, valid, test" in msg

    missing = tmp_path / "nope.txt"
    assert "not found" in error(DataError, load_pairs, src_file=missing, tgt_file=tgt)
    assert "not found" in error(DataError, load_pairs, tsv=missing)
    empty = write_lines(tmp_path / "empty.txt", [])
    assert "empty" in error(DataError, load_pairs, src_file=empty, tgt_file=empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Männer\n".encode("latin-1"))
    assert "UTF-8" in error(DataError, load_pairs, src_file=latin, tgt_file=short)

    blanks_s, blanks_t = aligned(tmp_path, ["a", " ", ""], ["", "b", ""])
    msg = error(DataError, load_pairs, src_file=blanks_s, tgt_file=blanks_t)
    assert "no sentence pair" in msg and "3 skipped" in msg

    assert "exactly one" in error(ConfigError, load_pairs)
    assert "exactly one" in error(ConfigError, load_pairs, "multi30k", tsv=src)
    assert "exactly one" in error(ConfigError, load_pairs, src_file=src, tgt_file=tgt, tsv=src)
    assert "both src_file and tgt_file" in error(ConfigError, load_pairs, src_file=src)
    assert "both src_file and tgt_file" in error(ConfigError, load_pairs, tgt_file=tgt)
    assert "max_len" in error(ConfigError, load_pairs, src_file=src, tgt_file=tgt, max_len=0)


# ---- vocabularies and ids ----------------------------------------------------------------------
def test_build_vocabs_min_freq_and_max_size():
    pairs = Pairs(
        src=[["a", "b", "a"], ["a", "c"], ["b"]],
        tgt=[["x", "y"], ["x"], ["z", "x", "w"]],
    )
    src_v, tgt_v = build_vocabs(pairs)  # min_freq 2 by default
    assert src_v.itos == [PAD, UNK, BOS, EOS, "a", "b"]  # a: 3, b: 2, c: 1 (dropped)
    assert tgt_v.itos == [PAD, UNK, BOS, EOS, "x"]
    src_v, tgt_v = build_vocabs(pairs, min_freq=1)
    assert src_v.itos[4:] == ["a", "b", "c"] and tgt_v.itos[4:] == ["x", "w", "y", "z"]
    src_v, _ = build_vocabs(pairs, min_freq=1, max_size=5)
    assert src_v.itos[4:] == ["a"]


def test_encode_pairs_adds_bos_and_eos():
    pairs = Pairs(src=[["a", "b"], ["q"]], tgt=[["x"], ["y", "x", "new"]])
    src_v, tgt_v = build_vocabs(Pairs(src=[["a", "b"]], tgt=[["x", "y"]]), min_freq=1)
    src_ids, tgt_ids = encode_pairs(pairs, src_v, tgt_v)
    a, b, x, y = src_v.stoi["a"], src_v.stoi["b"], tgt_v.stoi["x"], tgt_v.stoi["y"]
    assert [s.tolist() for s in src_ids] == [[a, b, 3], [1, 3]]  # tokens + <eos>, q -> <unk>
    assert [t.tolist() for t in tgt_ids] == [[2, x, 3], [2, y, x, 1, 3]]  # <bos> ... <eos>
    assert all(s.dtype == np.int64 for s in src_ids + tgt_ids)
    assert src_v.id_of(EOS) == 3 and tgt_v.id_of(BOS) == 2
    assert "aligned" in error(DataError, encode_pairs, Pairs([["a"]], []), src_v, tgt_v)


def test_pad_batch():
    ids, lens = pad_batch([np.array([5, 6, 7]), np.array([8]), np.array([9, 10])])
    assert ids.dtype == torch.int64 and lens.dtype == torch.int64
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lens.tolist() == [3, 1, 2]
    ids, _ = pad_batch([np.array([1]), np.array([2, 3])], pad_id=-1)
    assert ids.tolist() == [[1, -1], [2, 3]]
    assert "no sequences" in error(ConfigError, pad_batch, [])


# ---- batches -----------------------------------------------------------------------------------
def random_ids(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` pairs of widely varying lengths; the target about as long as the source."""
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        length = rng.randint(1, 40)
        src.append(np.array([*range(4, 4 + length), 3], dtype=np.int64))
        tgt.append(np.array([2, *range(4, 4 + length + rng.randint(0, 3)), 3], dtype=np.int64))
    return src, tgt


def indices(batches) -> list[int]:
    return [int(i) for b in batches for i in b.index]


def test_batches_cover_every_pair_once_and_match_the_ids():
    src, tgt = random_ids(1003)
    bb = BucketBatches(src, tgt, batch_size=32, bucket=4, seed=1)
    assert len(bb) == 32  # ceil(1003 / 32)
    for e in range(3):
        batches = list(bb.epoch(e))
        assert len(batches) == len(bb)
        assert sorted(indices(batches)) == list(range(1003))
        assert sorted(len(b) for b in batches)[1:] == [32] * 31  # only one short batch
        for b in batches:
            assert isinstance(b, Batch) and b.src.dtype == b.tgt.dtype == torch.int64
            assert b.src.shape == (len(b), int(b.src_len.max()))
            assert b.tgt.shape == (len(b), int(b.tgt_len.max()))
            assert (b.tgt[:, 0] == 2).all()
            for row, i in enumerate(b.index.tolist()):
                n_s, n_t = len(src[i]), len(tgt[i])
                assert b.src_len[row] == n_s and b.tgt_len[row] == n_t
                assert b.src[row, :n_s].tolist() == src[i].tolist()
                assert b.tgt[row, :n_t].tolist() == tgt[i].tolist()
                assert (b.src[row, n_s:] == 0).all() and (b.tgt[row, n_t:] == 0).all()
                assert b.tgt[row, n_t - 1] == 3


def test_batches_deterministic_per_seed_and_epoch():
    src, tgt = random_ids(500)
    a = BucketBatches(src, tgt, batch_size=16, bucket=5, seed=3)
    b = BucketBatches(src, tgt, batch_size=16, bucket=5, seed=3)
    assert indices(a.epoch(2)) == indices(b.epoch(2))
    assert indices(a.epoch(2)) == indices(a.epoch(2))  # an epoch can be replayed
    assert indices(a.epoch(0)) != indices(a.epoch(1))
    other = BucketBatches(src, tgt, batch_size=16, bucket=5, seed=4)
    assert indices(a.epoch(0)) != indices(other.epoch(0))
    assert a.epoch(0) is not None and a.epoch(np.int64(1)) is not None
    assert "epoch" in error(ConfigError, a.epoch, -1)


def test_unshuffled_batches_keep_the_order():
    src, tgt = random_ids(70)
    bb = BucketBatches(src, tgt, batch_size=16, shuffle=False)
    batches = list(bb.epoch(0))
    assert [len(b) for b in batches] == [16, 16, 16, 16, 6] and len(bb) == 5
    assert indices(batches) == list(range(70))
    assert indices(bb.epoch(5)) == list(range(70))  # the same every epoch
    assert batches[1].src[3, : len(src[19])].tolist() == src[19].tolist()


def test_bucketing_reduces_padding():
    src, tgt = random_ids(4000)
    bucketed = padding_fraction(BucketBatches(src, tgt, batch_size=32, bucket=50).epoch(0))
    # Random batching: the same batch size with bucket=1 (a sort inside each batch only).
    unbucketed = padding_fraction(BucketBatches(src, tgt, batch_size=32, bucket=1).epoch(0))
    in_order = padding_fraction(BucketBatches(src, tgt, 32, shuffle=False).epoch(0))
    assert unbucketed > 0.35 and in_order > 0.35  # lengths 2..41 uniform: about 45% padding
    assert bucketed < 0.1 and bucketed < unbucketed / 4


def test_padding_fraction_by_hand():
    b = Batch(
        src=torch.tensor([[5, 6, 3], [7, 3, 0]]),
        src_len=torch.tensor([3, 2]),
        tgt=torch.tensor([[2, 8, 3, 0], [2, 9, 9, 3]]),
        tgt_len=torch.tensor([3, 4]),
        index=torch.tensor([0, 1]),
    )
    # pads: 1 in src (6 positions) + 1 in tgt (8 positions) -> 2 / 14
    assert padding_fraction([b]) == pytest.approx(2 / 14)
    assert padding_fraction([]) == 0.0
    assert len(b) == 2 and b.to("cpu").tgt.tolist() == b.tgt.tolist()


def test_bucket_batches_errors():
    src, tgt = random_ids(10)
    assert "aligned" in error(DataError, BucketBatches, src, tgt[:9])
    assert "no sentence pairs" in error(DataError, BucketBatches, [], [])
    assert "batch_size" in error(ConfigError, BucketBatches, src, tgt, batch_size=0)
    assert "bucket" in error(ConfigError, BucketBatches, src, tgt, bucket=0)
    assert "seed" in error(ConfigError, BucketBatches, src, tgt, seed=-1)


# ---- the registered corpus ---------------------------------------------------------------------
def test_corpus_registry():
    spec = CORPORA["multi30k"]
    assert spec["languages"] == ("de", "en")
    assert set(spec["splits"]) == {"train", "valid", "test"}
    stems = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
    for split, stem in stems.items():
        for lang in ("de", "en"):
            f = corpus_file("multi30k", split, lang)
            assert f is spec["splits"][split][lang]
            assert f.path == f"multi30k/tok/{stem}.lc.norm.tok.{lang}"
            assert f.url == (
                "https://raw.githubusercontent.com/multi30k/dataset/"
                f"a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/tok/{stem}.lc.norm.tok.{lang}"
            )
            assert len(f.sha256) == 64 and f.size > 60_000


@realdata
def test_real_files_match_the_registry():
    root = Path(os.environ["RNNKIT_DATA"])
    for split in CORPORA["multi30k"]["splits"].values():
        for f in split.values():
            path = root / f.path
            assert path.stat().st_size == f.size
            assert reg.sha256_file(path) == f.sha256


@realdata
def test_real_multi30k_sizes_and_directions():
    sizes = {"train": 29_000, "valid": 1_014, "test": 1_000}
    words = {  # README of the shared copy: (de, en) word counts per split
        "train": (360_706, 377_534),
        "valid": (12_828, 13_308),
        "test": (12_103, 12_968),
    }
    for split, n in sizes.items():
        de_en = load_pairs("multi30k", split)
        assert len(de_en) == len(de_en.tgt) == n
        assert (de_en.skipped_empty, de_en.truncated) == (0, 0)
        de_words = sum(map(len, de_en.src))
        en_words = sum(map(len, de_en.tgt))
        assert (de_words, en_words) == words[split]
        en_de = load_pairs("multi30k", split, src_lang="en", tgt_lang="de")
        assert en_de.src == de_en.tgt and en_de.tgt == de_en.src
    train = load_pairs("multi30k")
    assert (
        " ".join(train.src[0])
        == "zwei junge weiße männer sind im freien in der nähe vieler büsche ."
    )
    assert " ".join(train.tgt[0]) == "two young , white males are outside near many bushes ."
    cut = load_pairs("multi30k", "train", max_len=20)
    assert 0 < cut.truncated < 2_000 and max(map(len, cut.src + cut.tgt)) == 20


@realdata
def test_real_multi30k_vocabularies():
    train = load_pairs("multi30k")
    de, en = build_vocabs(train, min_freq=2)
    print(f"multi30k min_freq=2 vocabularies: de {len(de)}, en {len(en)}")
    assert 7_000 < len(de) < 9_000 and 5_500 < len(en) < 7_000
    en_src, de_tgt = build_vocabs(load_pairs("multi30k", src_lang="en", tgt_lang="de"))
    assert en_src == en and de_tgt == de
    src_ids, tgt_ids = encode_pairs(load_pairs("multi30k", "valid"), de, en)
    unk = sum(int((t == 1).sum()) for t in tgt_ids) / sum(len(t) - 2 for t in tgt_ids)
    assert unk < 0.03  # few unknown English words in valid (about 2%)
    src_ids, tgt_ids = encode_pairs(train, de, en)
    bucketed = padding_fraction(BucketBatches(src_ids, tgt_ids, batch_size=64).epoch(0))
    in_order = padding_fraction(BucketBatches(src_ids, tgt_ids, 64, shuffle=False).epoch(0))
    print(
        f"multi30k train padding, batches of 64: bucketed {bucketed:.3f}, in order {in_order:.3f}"
    )
    assert bucketed < 0.15 and in_order > 0.4


# ---- download through a local server -----------------------------------------------------------


def _serve(monkeypatch, server, split: str, lang: str, content: bytes, sha256=None):
    """Point the registered multi30k file (split, lang) at ``content`` served by ``server``."""
    base, www, _ = server
    file = CORPORA["multi30k"]["splits"][split][lang]
    name = Path(file.path).name
    (www / name).write_bytes(content)
    served = reg.DataFile(
        file.path, sha256 or hashlib.sha256(content).hexdigest(), len(content), f"{base}/{name}"
    )
    monkeypatch.setitem(CORPORA["multi30k"]["splits"][split], lang, served)
    return served


def test_corpus_downloads_into_the_cache(monkeypatch, server, no_data):
    _serve(monkeypatch, server, "valid", "de", b"ein hund .\nzwei katzen .\n")
    _serve(monkeypatch, server, "valid", "en", b"a dog .\ntwo cats .\n")
    pairs = load_pairs("multi30k", "valid")
    assert pairs.src == [["ein", "hund", "."], ["zwei", "katzen", "."]]
    assert pairs.tgt == [["a", "dog", "."], ["two", "cats", "."]]
    cached = no_data / "datasets" / "multi30k" / "tok"
    assert sorted(p.name for p in cached.iterdir() if not p.name.endswith(".sha256-ok")) == [
        "val.lc.norm.tok.de",
        "val.lc.norm.tok.en",
    ]
    hits = server[2]
    assert sorted(hits) == ["/val.lc.norm.tok.de", "/val.lc.norm.tok.en"]
    assert load_pairs("multi30k", "valid", src_lang="en", tgt_lang="de").tgt == pairs.src
    assert len(hits) == 2, "the second load must use the cache"


def test_corpus_download_with_a_wrong_hash_fails(monkeypatch, server, no_data):
    _serve(monkeypatch, server, "test", "de", b"ein hund .\n", sha256="0" * 64)
    _serve(monkeypatch, server, "test", "en", b"a dog .\n")
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        load_pairs("multi30k", "test")
    assert not (
        no_data / "datasets" / "multi30k" / "tok" / "test_2016_flickr.lc.norm.tok.de"
    ).exists()


@realdata
def test_real_files_download_with_the_registered_hash(monkeypatch, server, tmp_path):
    root = Path(os.environ["RNNKIT_DATA"])
    monkeypatch.delenv("RNNKIT_DATA")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    for lang in ("de", "en"):
        registered = CORPORA["multi30k"]["splits"]["test"][lang]
        served = _serve(monkeypatch, server, "test", lang, (root / registered.path).read_bytes())
        assert (served.sha256, served.size) == (registered.sha256, registered.size)
    pairs = load_pairs("multi30k", "test", src_lang="en", tgt_lang="de")
    assert len(pairs) == 1_000
    assert " ".join(pairs.src[0]) == "a man in an orange hat starring at something ."
    assert sorted(server[2]) == [
        "/test_2016_flickr.lc.norm.tok.de",
        "/test_2016_flickr.lc.norm.tok.en",
    ]
