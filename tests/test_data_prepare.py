"""``rnnkit data prepare`` and training from a prepared corpus.

The prepared ids must be exactly what the in-memory path gives (``split_text``, ``build_vocab``,
``encode_text``) whatever the chunk size, including chunks far smaller than a line, cut through
multi-byte characters and ``\\r\\n`` pairs; training on them must give the same losses.
"""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import call_cli, realdata
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.config import TrainConfig
from rnnkit.data.lm_batches import LMBatches, eval_batches
from rnnkit.data.prepare import fraction_cut, prepare_corpus, scan
from rnnkit.data.prepared import open_prepared
from rnnkit.errors import ConfigError, DataError, RnnkitError
from rnnkit.registry.datasets import load_split_text, split_text
from rnnkit.text import streaming
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.streaming import iter_chunks, line_slices, smallest_uint
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.train.lm_task import LMTask
from rnnkit.train.trainer import Trainer

# CRLF line ends, 2-, 3- and 4-byte characters, a capital sigma (its lower case depends on what
# follows), CJK punctuation, ASCII words inside Chinese, blank lines and a last line without "\n".
LINES = [
    "The quick brown fox\r\n",
    "jumps over the lazy dog.  \r\n",
    "ΣΟΦΙΑ σοφία ΟΔΟΣ\n",
    "床前明月光，疑是地上霜。GPT2模型\n",
    "\n",
    "naïve café 😀 emoji 🎉 end\r\n",
    "\t tabs\tand  spaces \n",
]
TEXT = "".join(LINES[i % len(LINES)] for i in range(90)) + "last line, no newline ΑΣ"
CHUNKS = [1, 3, 5, 7, 64, 1 << 20]
TOKENIZERS = [("char", False), ("word", False), ("word", True), ("chinese-char", False)]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))  # bytes, so "\r\n" is kept as written
    return path


def folder(tmp_path: Path, valid: str, test: str) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    write(d / "train.txt", TEXT)
    write(d / "valid.txt", valid)
    write(d / "test.txt", test)
    return d


def test_small_chunks_cut_through_characters_and_crlf(tmp_path):
    """The chunk sizes used below do cut blocks inside multi-byte characters and CRLF pairs."""
    raw = TEXT.encode("utf-8")
    path = write(tmp_path / "t.txt", TEXT)
    for size in (3, 5, 7):
        cuts = range(size, len(raw), size)
        assert any(0x80 <= raw[k] < 0xC0 for k in cuts), size  # a block starts mid-character
        assert any(raw[k - 1 : k + 1] == b"\r\n" for k in cuts), size
    for size in CHUNKS:
        pieces = [data for _, data in iter_chunks(path, chunk_bytes=size)]
        assert b"".join(pieces) == raw
        assert all(p.endswith(b"\n") for p in pieces[:-1])


def test_line_slices_cut_after_newlines():
    for size in (1, 2, 10, 1000):
        pieces = list(line_slices(TEXT, size))
        assert "".join(pieces) == TEXT
        assert all(p.endswith("\n") and len(p) >= size for p in pieces[:-1])


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name,lowercase", TOKENIZERS)
def test_prepared_folder_equals_encode_text(tmp_path, monkeypatch, name, lowercase, chunk):
    # Chunks are tokenized in slices: make them tiny too, so slices cut every chunk.
    monkeypatch.setattr(streaming, "_SLICE", 3 if chunk > 64 else 1 << 20)
    valid, test = "ΟΔΟΣ 床前 naïve\r\nunseen ⛄ tokens\n", "the fox 😀"
    src = folder(tmp_path, valid, test)
    corpus = prepare_corpus(str(src), tmp_path / "out", name, lowercase, chunk_bytes=chunk)
    tok = build_tokenizer(name, lowercase)
    vocab = build_vocab(TEXT, tok)
    assert corpus.vocab() == vocab
    assert corpus.splits == ("train", "valid", "test")
    for split, text in (("train", TEXT), ("valid", valid), ("test", test)):
        ids = corpus.ids(split)
        assert isinstance(ids, np.memmap) and not ids.flags.writeable
        # encode_text slices as the encoder does: the reference is the whole text at once
        np.testing.assert_array_equal(ids, vocab.encode(tok.tokenize(text)), err_msg=split)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
@pytest.mark.parametrize("name,lowercase", TOKENIZERS)
def test_prepared_file_uses_the_registry_cut(tmp_path, name, lowercase, chunk):
    path = write(tmp_path / "corpus.txt", TEXT)
    corpus = prepare_corpus(str(path), tmp_path / "out", name, lowercase, chunk_bytes=chunk)
    tok = build_tokenizer(name, lowercase)
    train, valid = split_text(TEXT)
    vocab = build_vocab(train, tok)
    assert corpus.vocab() == vocab and corpus.splits == ("train", "valid")
    np.testing.assert_array_equal(corpus.ids("train"), encode_text(train, tok, vocab))
    np.testing.assert_array_equal(corpus.ids("valid"), encode_text(valid, tok, vocab))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="a é😀\n\r\t\u3000", min_size=1, max_size=40), st.sampled_from([1, 4, 99]))
def test_fraction_cut_is_split_texts_cut(text, chunk):
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d) / "t.txt", text)
        try:
            want = split_text(text)
        except DataError as e:
            want = str(e)
        try:
            cut = fraction_cut(scan(path), 0.9, chunk)
            raw = text.encode("utf-8")
            got = (raw[:cut].decode("utf-8"), raw[cut:].decode("utf-8"))
        except DataError as e:
            got = str(e)
    if not text.encode("utf-8").strip():
        return  # scan refuses such a file as empty, as read_text does
    assert got == want


def test_vocab_settings_and_dtype_choice(tmp_path):
    names = [smallest_uint(n).name for n in (1, 256, 257, 65536, 65537)]
    assert names == ["uint8", "uint8", "uint16", "uint16", "uint32"]
    path = write(tmp_path / "words.txt", "".join(f"w{i} common\n" for i in range(400)) * 2)
    tok = build_tokenizer("word")
    train, _ = split_text(path.read_text(encoding="utf-8"))
    wide = prepare_corpus(str(path), tmp_path / "wide", "word")
    assert len(wide.vocab()) > 256 and wide.dtype.name == "uint16"
    assert (tmp_path / "wide" / "train.bin").stat().st_size == 2 * wide.tokens["train"]
    narrow = prepare_corpus(str(path), tmp_path / "narrow", "word", min_freq=2, max_vocab=100)
    assert narrow.vocab() == build_vocab(train, tok, min_freq=2, max_size=100)
    assert narrow.dtype.name == "uint8" and (narrow.min_freq, narrow.max_vocab) == (2, 100)
    meta = json.loads((tmp_path / "narrow" / "prepared.json").read_text())
    assert meta["format"] == 1 and meta["tokenizer"] == {"name": "word", "lowercase": False}
    assert meta["splits"]["train"]["source"]["sha256"] == scan(path).sha256


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["char", "word"])
def test_memory_is_bounded_by_the_chunk_not_the_corpus(tmp_path, name):
    """Python and numpy allocations (tracemalloc sees both) stay flat as the corpus grows 4x.

    What remains is fixed: the 1.1M-entry code point table and counts of the char path, the
    vocabulary; the larger corpus alone is bigger than the whole peak.
    """
    line = "the cat sat on the mat near the old barn, café 😀\n"
    peaks = []
    for copies in (20_000, 80_000):
        path = write(tmp_path / f"c{copies}.txt", line * copies)
        out = tmp_path / f"o{copies}"
        peaks.append(
            _peak_bytes(lambda p=path, o=out: prepare_corpus(str(p), o, name, chunk_bytes=1 << 16))
        )
    assert peaks[1] < 1.1 * peaks[0] + (1 << 16), peaks
    assert peaks[1] < len(line.encode()) * 80_000, peaks  # 4.2 MB of text


# ---- batches and training ----------------------------------------------------------------------
@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_lm_batches_same_on_memmap_of_small_dtype_and_on_lists(tmp_path, sampling):
    ids = np.random.default_rng(0).integers(0, 200, 3000).astype(np.int32)
    ids.astype(np.uint8).tofile(tmp_path / "ids.bin")
    mapped = np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="r")
    for other in (mapped, ids.tolist(), torch.from_numpy(ids)):
        a = list(LMBatches(ids, 4, 9, sampling, seed=3).epoch(1))
        b = list(LMBatches(other, 4, 9, sampling, seed=3).epoch(1))
        assert len(a) == len(b) > 0
        assert all(
            torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b, strict=True)
        )
    got = torch.cat([x.flatten() for x, _ in eval_batches(mapped, 4, 9)])
    assert torch.equal(got, torch.cat([x.flatten() for x, _ in eval_batches(ids, 4, 9)]))


def test_random_order_is_that_of_shuffled_int64_starts():
    """The order of subsequences is kept as int32 to save memory; the batches are those of the
    int64 start positions shuffled by the same generator."""
    ids, B, T, seed, epoch = np.arange(5000, dtype=np.int64), 3, 7, 11, 2
    rng = np.random.default_rng([seed, epoch])
    offset = int(rng.integers(0, T))
    n = (len(ids) - offset - 1) // T // B
    starts = offset + np.arange(n * B, dtype=np.int64) * T
    rng.shuffle(starts)
    got = [x for x, _ in LMBatches(ids, B, T, "random", seed).epoch(epoch)]
    assert len(got) == n
    for b, x in enumerate(got):
        want = torch.from_numpy(starts[b * B : (b + 1) * B, None] + np.arange(T))
        assert torch.equal(x, want)


def test_lm_batches_do_not_copy_an_array():
    ids = np.arange(1000, dtype=np.uint16)
    assert np.shares_memory(LMBatches(ids, 2, 5, "sequential", seed=0).ids, ids)
    with pytest.raises(DataError, match="1-D array of integers"):
        LMBatches(np.zeros((10, 10), dtype=np.int64), 2, 5, "random", seed=0)


def losses(run: Path) -> list[tuple[str, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["kind"], r.get("train_loss", r.get("valid_loss"))) for r in rows]


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_training_from_prepared_equals_training_from_text(tmp_path, sampling):
    text = write(tmp_path / "corpus.txt", TEXT * 3)
    prepare_corpus(str(text), tmp_path / "prep", "char", chunk_bytes=5)
    base = dict(hidden_size=16, num_layers=1, seq_len=12, batch_size=4, max_steps=20)
    base.update(log_every=1, eval_every=10, sampling=sampling, seed=0)
    from_text = TrainConfig(data=str(text), tokenizer="char", **base)
    from_prepared = TrainConfig(data=str(tmp_path / "prep"), **base)
    a = Trainer(LMTask(from_text), tmp_path / "a", echo=None, progress=False)
    b = Trainer(LMTask(from_prepared), tmp_path / "b", echo=None, progress=False)
    assert isinstance(b.task.data.train, np.memmap) and b.task.data.train.dtype == np.uint8
    assert np.shares_memory(
        b.task._stream(0, 1).ids, b.task.data.train
    )  # batches read the map itself
    a.fit()
    b.fit()
    kinds = [kind for kind, _ in losses(tmp_path / "a")]
    assert kinds.count("train") == 20 and kinds.count("eval") >= 2
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert b.config.tokenizer == "char"


def test_cli_prepare_train_eval_generate(tmp_path):
    text = write(tmp_path / "corpus.txt", TEXT * 3)
    prep, run = tmp_path / "prep", tmp_path / "run"
    code, out, err = call_cli(["data", "prepare", text, "--out", prep, "--quiet", "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dtype"] == "uint8" and summary["tokenizer"] == {"name": "char"}
    assert summary["source_bytes"] == len((TEXT * 3).encode())
    args = ["--hidden-size", 16, "--num-layers", 1, "--seq-len", 12, "--batch-size", 4, "--quiet"]
    code, _, err = call_cli(["train", "--data", prep, "--out", run, *args, "--max-steps", 5])
    assert code == 0, err
    code, _, err = call_cli(["train", "--resume", run, "--max-steps", 8, "--quiet"])
    assert code == 0, err
    code, out, err = call_cli(["eval", run, "--json"])
    assert code == 0, err
    on_prepared = json.loads(out)
    code, out, err = call_cli(["eval", run, "--data", text, "--json"])
    assert code == 0, err
    assert json.loads(out)["perplexity"] == pytest.approx(on_prepared["perplexity"], rel=1e-6)
    code, out, err = call_cli(["generate", run, "--length", 20, "--seed", 0])
    assert code == 0 and out.strip(), err
    code, _, err = call_cli(["eval", run, "--split", "test"])
    assert_error(code, err, "has no 'test' split", "train, valid")


# ---- bad input ---------------------------------------------------------------------------------
def assert_error(code: int, err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_inputs_are_one_line_errors(tmp_path):
    text = write(tmp_path / "corpus.txt", TEXT)
    code, _, err = call_cli(["data", "prepare", tmp_path / "nope.txt", "--out", tmp_path / "o"])
    assert_error(code, err, "unknown dataset or file", "nope.txt")
    (tmp_path / "file").write_text("x")
    code, _, err = call_cli(["data", "prepare", text, "--out", tmp_path / "file"])
    assert_error(code, err, "is a file", "give a folder")
    code, _, err = call_cli(["data", "prepare", text, "--tokenizer", "bpe", "--out", tmp_path])
    assert_error(code, err, "unknown tokenizer 'bpe'", "char, word, chinese-char")
    code, _, err = call_cli(["data", "prepare", text, "--max-vocab", 3, "--out", tmp_path / "o"])
    assert_error(code, err, "--max-vocab must be >= 5")
    (tmp_path / "latin.txt").write_bytes("ok line\ncaf\xe9\n".encode("latin-1"))
    code, _, err = call_cli(["data", "prepare", tmp_path / "latin.txt", "--out", tmp_path / "o"])
    assert_error(code, err, "not UTF-8 (bad byte at offset 11)", "iconv")
    assert not (tmp_path / "o" / "prepared.json").exists()

    prep = tmp_path / "prep"
    assert call_cli(["data", "prepare", text, "--out", prep, "--quiet"])[0] == 0
    code, _, err = call_cli(["data", "prepare", text, "--out", prep, "--quiet"])
    assert_error(code, err, "already holds a prepared corpus", "--overwrite")
    train = ["train", "--data", prep, "--max-steps", 1, "--quiet", "--out", tmp_path / "r"]
    code, _, err = call_cli([*train, "--tokenizer", "word"])
    assert_error(code, err, "--tokenizer word conflicts", "(tokenizer char)", "drop --tokenizer")
    with (prep / "train.bin").open("r+b") as f:
        f.truncate(100)
    code, _, err = call_cli(train)
    assert_error(code, err, "train.bin holds 100 bytes", "rnnkit data prepare", "--overwrite")


def test_python_api_errors(tmp_path):
    text = write(tmp_path / "corpus.txt", TEXT)
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        prepare_corpus(str(text), tmp_path / "o", "bpe")
    with pytest.raises(DataError, match="too short to split"):
        prepare_corpus(str(write(tmp_path / "one.txt", "ab\n")), tmp_path / "o", "char")
    with pytest.raises(DataError, match="is empty"):
        prepare_corpus(str(write(tmp_path / "blank.txt", " \n\n")), tmp_path / "o", "char")
    with pytest.raises(DataError, match="no train.txt"):
        prepare_corpus(str(tmp_path), tmp_path / "o", "char")
    prepare_corpus(str(text), tmp_path / "p", "char")
    meta = json.loads((tmp_path / "p" / "prepared.json").read_text())
    (tmp_path / "p" / "prepared.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(RnnkitError, match="format 99"):
        open_prepared(tmp_path / "p")


@realdata
def test_real_tinyshakespeare_cut_matches_the_registry(tmp_path):
    corpus = prepare_corpus("tinyshakespeare", tmp_path / "ts", chunk_bytes=1 << 16)
    tok = build_tokenizer("char")
    train, valid = (
        load_split_text("tinyshakespeare", "train"),
        load_split_text("tinyshakespeare", "valid"),
    )
    vocab = build_vocab(train, tok)
    assert corpus.vocab() == vocab and corpus.dtype.name == "uint8"
    np.testing.assert_array_equal(corpus.ids("train"), encode_text(train, tok, vocab))
    np.testing.assert_array_equal(corpus.ids("valid"), encode_text(valid, tok, vocab))
