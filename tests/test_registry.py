"""Dataset registry: resolution order, download with sha256 check, splits, path inputs."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnkit.commands.data import data
from rnnkit.errors import DataError, DownloadError
from rnnkit.io import read_text
from rnnkit.registry import datasets as reg


def realdata(fn):
    """Mark a test as needing the shared datasets; skip it when $RNNKIT_DATA is not set."""
    skip = pytest.mark.skipif(
        not os.environ.get("RNNKIT_DATA"), reason="RNNKIT_DATA is not set (shared datasets)"
    )
    return pytest.mark.realdata(skip(fn))


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def env(monkeypatch, tmp_path):
    """No $RNNKIT_DATA, and a fresh cache under tmp_path."""
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def registry():
    """Restore the registry after a test that registers datasets."""
    saved = dict(reg.DATASETS)
    yield reg.DATASETS
    reg.DATASETS.clear()
    reg.DATASETS.update(saved)


def _datafile(content: bytes, path: str, url: str, sha256: str | None = None) -> reg.DataFile:
    digest = sha256 or hashlib.sha256(content).hexdigest()
    return reg.DataFile(path=path, sha256=digest, size=len(content), url=url)


def _fake(server, registry, content: bytes = b"hello world\nsecond line\n", sha256=None):
    """Register dataset 'fake' with one split 'train' served by ``server``."""
    base, www, _ = server
    (www / "train.txt").write_bytes(content)
    file = _datafile(content, "fake/train.txt", f"{base}/train.txt", sha256)
    reg.register(reg.DatasetSpec("fake", "test corpus", "char", {"train": file}))
    return file


def _dead_url() -> str:
    """A URL on a port that nothing listens on (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/train.txt"


# ---- download and cache ------------------------------------------------------------------------
def test_download_verifies_and_caches(env, server, registry):
    content = b"to be or not to be\nthat is the question\n"
    file = _fake(server, registry, content)
    path = reg.resolve_file("fake", "train")
    assert path == env / "cache" / "datasets" / "fake" / "train.txt"
    assert path.read_bytes() == content
    assert (path.parent / "train.txt.sha256-ok").is_file()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    hits = server[2]
    assert hits == ["/train.txt"]
    assert reg.resolve_file("fake", "train") == path
    assert hits == ["/train.txt"], "second resolve must use the cache"
    assert reg.load_split_text("fake", "train") == content.decode()
    assert reg.locate(file) == reg.LOC_CACHE


def test_marker_skips_rehash(env, server, registry, monkeypatch):
    _fake(server, registry)
    reg.resolve_file("fake", "train")

    def no_hash(path):
        raise AssertionError("the marker should have skipped hashing")

    monkeypatch.setattr(reg, "sha256_file", no_hash)
    assert reg.resolve_file("fake", "train").is_file()  # found without hashing again
    assert len(server[2]) == 1  # and without another download


def test_edited_cache_file_is_rechecked_and_refetched(env, server, registry):
    content = b"abcdefghij\n" * 10
    _fake(server, registry, content)
    path = reg.resolve_file("fake", "train")
    path.write_bytes(b"X" * len(content))  # same size, new mtime, wrong hash
    os.utime(path, ns=(1, 1))
    assert reg.resolve_file("fake", "train").read_bytes() == content
    assert len(server[2]) == 2


def test_sha256_mismatch_raises_and_leaves_nothing(env, server, registry):
    _fake(server, registry, sha256="0" * 64)
    with pytest.raises(DownloadError) as e:
        reg.resolve_file("fake", "train")
    msg = str(e.value)
    assert "/train.txt" in msg and "0" * 64 in msg
    assert hashlib.sha256(b"hello world\nsecond line\n").hexdigest() in msg
    folder = env / "cache" / "datasets" / "fake"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_dead_url_raises_download_error(env, registry):
    url = _dead_url()
    file = _datafile(b"x", "fake/train.txt", url)
    reg.register(reg.DatasetSpec("fake", "test corpus", "char", {"train": file}))
    with pytest.raises(DownloadError) as e:
        reg.resolve_file("fake", "train")
    msg = str(e.value)
    assert url in msg and "RNNKIT_DATA" in msg and "fake/train.txt" in msg
    assert not (env / "cache" / "datasets" / "fake" / "train.txt").exists()


def test_http_404_raises_download_error(env, server, registry):
    base, _, _ = server
    file = _datafile(b"x", "fake/train.txt", f"{base}/missing.txt")
    reg.register(reg.DatasetSpec("fake", "test corpus", "char", {"train": file}))
    with pytest.raises(DownloadError, match="404"):
        reg.resolve_file("fake", "train")


def test_rnnkit_data_wins_and_is_trusted(env, server, registry, monkeypatch):
    _fake(server, registry)
    root = env / "local"
    (root / "fake").mkdir(parents=True)
    # Different bytes from the registered hash: local copies are trusted, not hashed.
    (root / "fake" / "train.txt").write_text("local copy\n", encoding="utf-8")
    monkeypatch.setenv("RNNKIT_DATA", str(root))
    assert reg.resolve_file("fake", "train") == root / "fake" / "train.txt"
    assert reg.load_split_text("fake", "train") == "local copy\n"
    assert server[2] == []
    entry = next(d for d in reg.list_datasets() if d["name"] == "fake")
    assert entry["location"] == reg.LOC_DATA


def test_rnnkit_data_without_file_falls_back_to_download(env, server, registry, monkeypatch):
    _fake(server, registry)
    monkeypatch.setenv("RNNKIT_DATA", str(env / "empty"))
    assert reg.resolve_file("fake", "train").is_relative_to(env / "cache")


def test_list_datasets_shape(env, registry):
    entries = {d["name"]: d for d in reg.list_datasets()}
    assert {"tinyshakespeare", "ptb", "ptb-char", "wikitext-2"} <= set(entries)
    assert entries["tinyshakespeare"]["splits"] == ["train", "valid"]
    assert entries["ptb"]["splits"] == ["train", "valid", "test"]
    assert entries["ptb-char"]["default_tokenizer"] == "word"
    assert entries["tinyshakespeare"]["default_tokenizer"] == "char"
    assert entries["ptb"]["location"] == reg.LOC_DOWNLOAD


def test_registered_files_share_ptb_folder():
    assert {f.path.split("/")[0] for f in reg.DATASETS["ptb-char"].all_files()} == {"ptb"}
    assert reg.DATASETS["ptb"].file_for("train").url.endswith("/data/ptb.train.txt")


# ---- splits ------------------------------------------------------------------------------------
def test_split_moves_cut_to_newline():
    text = "".join(f"line number {i}\n" for i in range(100))
    train, valid = reg.split_text(text)
    assert train + valid == text
    assert train.endswith("\n") and len(train) >= int(0.9 * len(text))
    assert valid.startswith("line number")
    assert len(train) - int(0.9 * len(text)) < len("line number 99\n")


def test_split_without_newline_cuts_at_fraction():
    text = "x" * 1000
    train, valid = reg.split_text(text)
    assert (len(train), len(valid)) == (900, 100)


def test_split_too_short():
    with pytest.raises(DataError, match="too short"):
        reg.split_text("a")


def test_fraction_dataset_has_no_test(env, server, registry):
    base, www, _ = server
    content = "".join(f"{i} the quick brown fox\n" for i in range(50)).encode()
    (www / "input.txt").write_bytes(content)
    file = _datafile(content, "tiny/input.txt", f"{base}/input.txt")
    reg.register(reg.DatasetSpec("tiny", "test corpus", "char", file))
    train = reg.load_split_text("tiny", "train")
    valid = reg.load_split_text("tiny", "valid")
    assert train + valid == content.decode() and train.endswith("\n")
    with pytest.raises(DataError, match="available splits: train, valid"):
        reg.resolve_file("tiny", "test")
    with pytest.raises(DataError, match="train, valid"):
        reg.load_split_text("tiny", "test")
    assert len(server[2]) == 1


def test_bad_split_name(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("some text\n" * 20, encoding="utf-8")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        reg.load_split_text(str(f), "dev")
    with pytest.raises(DataError, match="unknown split"):
        reg.resolve_file("ptb", "validation")


# ---- paths -------------------------------------------------------------------------------------
def test_file_path_is_split_90_10(tmp_path):
    text = "".join(f"sentence {i} here\n" for i in range(200))
    f = tmp_path / "corpus.txt"
    f.write_text(text, encoding="utf-8")
    train = reg.load_split_text(str(f), "train")
    valid = reg.load_split_text(str(f), "valid")
    assert train + valid == text
    with pytest.raises(DataError, match="no test split"):
        reg.load_split_text(str(f), "test")
    assert reg.default_tokenizer(str(f)) == "char"


def test_dir_with_all_splits(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(f"{split} text\n", encoding="utf-8")
    for split in ("train", "valid", "test"):
        assert reg.load_split_text(str(tmp_path), split) == f"{split} text\n"


def test_dir_without_valid_carves_it_from_train(tmp_path):
    text = "".join(f"row {i}\n" for i in range(100))
    (tmp_path / "train.txt").write_text(text, encoding="utf-8")
    train = reg.load_split_text(str(tmp_path), "train")
    valid = reg.load_split_text(str(tmp_path), "valid")
    assert train + valid == text and valid.startswith("row ")
    with pytest.raises(DataError, match="no test.txt"):
        reg.load_split_text(str(tmp_path), "test")


def test_dir_without_train(tmp_path):
    with pytest.raises(DataError, match="no train.txt"):
        reg.load_split_text(str(tmp_path), "train")


def test_unknown_name_message():
    with pytest.raises(DataError) as e:
        reg.load_split_text("no-such-corpus", "train")
    msg = str(e.value)
    assert msg.startswith("unknown dataset or file 'no-such-corpus': registered datasets are ")
    assert "tinyshakespeare, ptb, ptb-char, wikitext-2" in msg
    assert msg.endswith("or give a path to a UTF-8 text file")


def test_empty_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        reg.load_split_text(str(empty), "train")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1") * 20)
    with pytest.raises(DataError, match="not UTF-8"):
        reg.load_split_text(str(latin), "train")


def test_default_tokenizers():
    assert reg.default_tokenizer("tinyshakespeare") == "char"
    assert reg.default_tokenizer("ptb") == "word"
    assert reg.default_tokenizer("wikitext-2") == "word"
    assert reg.default_tokenizer("some/file.txt") == "char"


# ---- CLI ---------------------------------------------------------------------------------------
def test_cli_list(env):
    result = CliRunner().invoke(data, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "splits", "tokenizer", "read", "from"]
    assert any(line.startswith("ptb-char ") for line in lines)
    for corpus, command in (("multi30k", "seq2seq"), ("tang-poetry", "poem"), ("snips", "tag")):
        assert any(ln.startswith(corpus) and command in ln for ln in lines), corpus
    assert "download on first use" in result.output
    assert "No data folder is set" in result.output


def test_cli_stats_unknown_name_is_data_error(env):
    result = CliRunner().invoke(data, ["stats", "no-such-corpus"])
    assert isinstance(result.exception, DataError)


# ---- real data ---------------------------------------------------------------------------------
@realdata
def test_real_sha256_of_every_registered_file():
    root = Path(os.environ["RNNKIT_DATA"])
    for spec in reg.DATASETS.values():
        for f in spec.all_files():
            path = root / f.path
            assert path.stat().st_size == f.size, f.path
            assert reg.sha256_file(path) == f.sha256, f.path


@realdata
def test_real_resolution_and_listing():
    assert reg.resolve_file("ptb", "train") == Path(os.environ["RNNKIT_DATA"]) / "ptb/ptb.train.txt"
    assert {d["location"] for d in reg.list_datasets()} == {reg.LOC_DATA}


@realdata
def test_real_tinyshakespeare_split():
    text = read_text(reg.resolve_file("tinyshakespeare", "train"))
    train = reg.load_split_text("tinyshakespeare", "train")
    valid = reg.load_split_text("tinyshakespeare", "valid")
    assert train + valid == text and train.endswith("\n")
    assert 0 <= len(train) - int(0.9 * len(text)) < 200


@realdata
def test_real_ptb_token_totals():
    from rnnkit.text.tokenizers import build_tokenizer

    tok = build_tokenizer("word")
    totals = [len(tok.tokenize(reg.load_split_text("ptb", s))) for s in reg.SPLITS]
    assert totals == [929_589, 73_760, 82_430]


@realdata
def test_real_cli_stats_ptb_valid(tmp_path):
    result = CliRunner().invoke(
        data, ["stats", "ptb", "--split", "valid", "--json", "--plot", str(tmp_path / "p.png")]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["num_tokens"] == 73_760 and out["tokenizer"] == "word"
    assert (tmp_path / "p.png").stat().st_size > 0
