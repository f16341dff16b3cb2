"""Prepare a corpus once: tokenize and encode it, streaming, into memory-mappable token files.

The train split is read once to count its tokens and build the Vocab, then every split is read
again and encoded, chunk by chunk, onto the end of a raw ``.bin`` file (``rnnkit.data.prepared``
describes the folder). Chunks end at newlines (``rnnkit.text.streaming``), so memory is bounded
by the chunk size, plus the vocabulary and its counts, whatever the size of the corpus.

The splits are the ones ``load_split_text`` gives, each a byte range of a file, so a cut (the
rule of ``split_text``) costs no copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.bounds import check
from rnnkit.data.prepared import FORMAT, PREPARED, VOCAB, PreparedCorpus, open_prepared, split_file
from rnnkit.errors import ConfigError, DataError
from rnnkit.io import atomic_write, atomic_write_text
from rnnkit.progress import progress_bar
from rnnkit.registry import datasets as reg
from rnnkit.text.streaming import (
    CHUNK_BYTES,
    ChunkEncoder,
    TokenCounter,
    iter_blocks,
    iter_text,
    smallest_uint,
)
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import Vocab

_SCAN_BLOCK = 1 << 20  # byte scans (hash, character count) need no newline alignment


@dataclass(frozen=True)
class SourceFile:
    """A non-empty text file as scanned before preparing: identity and size in characters."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str
    chars: int  # code points, counted from the UTF-8 lead bytes

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class SplitSource:
    """One split: the bytes ``file[start:end]``."""

    split: str
    file: SourceFile
    start: int
    end: int


def scan(path: str | Path, block: int = _SCAN_BLOCK) -> SourceFile:
    """Hash ``path`` and count its characters in one read, ``block`` bytes at a time.

    Raises:
        DataError: missing file, or one of nothing but ASCII white space (``read_text``'s test).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}; check the path or the dataset name")
    st = path.stat()
    h, chars, blank = hashlib.sha256(), 0, True
    for _, data in iter_blocks(path, 0, st.st_size, block):
        h.update(data)
        # UTF-8 continuation bytes are 10xxxxxx; every other byte starts a character.
        b = np.frombuffer(data, dtype=np.uint8)
        chars += len(b) - int(np.count_nonzero((b & 0xC0) == 0x80))
        blank = blank and not data.strip()
    if blank:
        raise DataError(f"{path} is empty; give a text file with some content")
    return SourceFile(path, st.st_size, st.st_mtime_ns, h.hexdigest(), chars)


def _is_blank(path: Path, start: int, end: int, chunk_bytes: int) -> bool:
    """``not text.strip()`` for the text of ``path[start:end]``, read until a visible character
    (``isspace`` stops there and copies nothing)."""
    pieces = iter_text(path, start, end, min(chunk_bytes, _SCAN_BLOCK))
    return all(text.isspace() for _, text in pieces)


def _char_offset(file: SourceFile, index: int, block: int) -> int:
    """The byte offset where character ``index`` starts (the file size when past the end)."""
    seen = 0
    for offset, data in iter_blocks(file.path, 0, file.size, block):
        leads = (np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80
        n = int(np.count_nonzero(leads))
        if seen + n > index:
            return offset + int(np.flatnonzero(leads)[index - seen])
        seen += n
    return file.size


def fraction_cut(file: SourceFile, train_fraction: float, chunk_bytes: int = CHUNK_BYTES) -> int:
    """The byte offset where ``split_text`` cuts ``file``'s text into train and valid: the same
    rule, streamed.

    Raises:
        DataError: the text is too short to give both parts (``split_text``'s message).
    """
    block = min(chunk_bytes, _SCAN_BLOCK)
    cut = _char_offset(file, int(file.chars * train_fraction), block)
    for offset, data in iter_blocks(file.path, cut, file.size, block):
        if (i := data.find(b"\n")) != -1:  # the cut moves past the first newline after it
            if not _is_blank(file.path, offset + i + 1, file.size, chunk_bytes):
                cut = offset + i + 1  # unless no text follows
            break
    if any(_is_blank(file.path, a, b, chunk_bytes) for a, b in ((0, cut), (cut, file.size))):
        raise reg.too_short_to_split(file.chars)
    return cut


def _cut_splits(file: SourceFile, train_fraction: float, chunk_bytes: int) -> list[SplitSource]:
    cut = fraction_cut(file, train_fraction, chunk_bytes)
    return [SplitSource("train", file, 0, cut), SplitSource("valid", file, cut, file.size)]


def _whole(split: str, path: Path) -> SplitSource:
    file = scan(path)
    return SplitSource(split, file, 0, file.size)


def plan_splits(name_or_path: str, chunk_bytes: int = CHUNK_BYTES) -> list[SplitSource]:
    """Where each split of a registered dataset, text file or folder lies, as byte ranges.

    The rules are ``load_split_text``'s (registered names first, then paths).

    Raises:
        DataError: unknown name or path, missing ``train.txt``, empty file, too short to cut.
    """
    if name_or_path in reg.DATASETS:
        spec = reg.DATASETS[name_or_path]
        if spec.fraction_split:
            return _cut_splits(scan(reg.fetch(spec.files)), spec.train_fraction, chunk_bytes)
        return [_whole(split, reg.fetch(spec.file_for(split))) for split in spec.splits]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return _cut_splits(scan(path), reg.TRAIN_FRACTION, chunk_bytes)
    if not path.is_dir():
        raise reg.unknown_source(name_or_path)
    reg.check_folder(path)
    if (path / "valid.txt").is_file():
        splits = [_whole("train", path / "train.txt"), _whole("valid", path / "valid.txt")]
    else:  # no valid.txt: carve it from the end of train.txt, like a single file
        splits = _cut_splits(scan(path / "train.txt"), reg.TRAIN_FRACTION, chunk_bytes)
    if (path / "test.txt").is_file():
        splits.append(_whole("test", path / "test.txt"))
    return splits


def _check_options(
    out: Path, min_freq: int, max_vocab: int | None, chunk_bytes: int, overwrite: bool
) -> None:
    check("min_freq", min_freq, label="--min-freq")
    check("max_vocab", max_vocab, label="--max-vocab")
    if chunk_bytes < 1:
        raise ConfigError(f"the chunk size must be positive, got {chunk_bytes} bytes")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the prepared corpus")
    if (out / PREPARED).exists() and not overwrite:
        raise DataError(
            f"--out {out} already holds a prepared corpus; pass --overwrite to replace it, "
            "or pick another --out"
        )


def _texts(split: SplitSource, what: str, chunk_bytes: int, progress: bool) -> Iterator[str]:
    """The text of ``split`` a chunk at a time, under a bar of its bytes named ``what``."""
    size, desc = split.end - split.start, f"{what} {split.split}"
    with progress_bar(size, enabled=progress, desc=desc, unit="B", unit_scale=True) as bar:
        for num_bytes, text in iter_text(split.file.path, split.start, split.end, chunk_bytes):
            yield text
            bar.update(num_bytes)


def _encode(
    split: SplitSource, encoder: ChunkEncoder, dest: Path, chunk_bytes: int, progress: bool
) -> int:
    """Encode ``split`` into the file ``dest``; return the number of tokens written."""
    written = 0

    def write(tmp: str) -> None:
        nonlocal written
        with open(tmp, "wb") as f:
            for text in _texts(split, "encode", chunk_bytes, progress):
                for ids in encoder.pieces(text):
                    ids.tofile(f)
                    written += len(ids)

    atomic_write(dest, write)
    return written


def _check_unchanged(splits: list[SplitSource]) -> None:
    for file in {s.file.path: s.file for s in splits}.values():
        st = file.path.stat()
        if (st.st_size, st.st_mtime_ns) != (file.size, file.mtime_ns):
            raise DataError(f"{file.path} changed while it was being prepared; prepare it again")


def prepare_corpus(
    name_or_path: str,
    out: str | Path,
    tokenizer: str | None = None,
    lowercase: bool = False,
    min_freq: int = 1,
    max_vocab: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    overwrite: bool = False,
    progress: bool = False,
) -> PreparedCorpus:
    """Tokenize and encode every split of ``name_or_path`` into the folder ``out``.

    Args:
        name_or_path: a registered dataset, a UTF-8 text file or a dataset folder.
        out: folder to write ``{split}.bin``, ``vocab.json`` and ``prepared.json`` into.
        tokenizer: ``char``, ``word`` or ``chinese-char`` (None: the dataset's default).
        lowercase: lower-case the text first (word tokenizer only).
        min_freq, max_vocab: vocabulary settings, as for ``rnnkit train``.
        chunk_bytes: bytes of text held at a time (a chunk ends at the newline after them);
            peak memory grows with it, not with the corpus.
        overwrite: replace a prepared corpus already in ``out``.
        progress: show a progress bar per pass.

    Returns:
        The prepared corpus, opened and checked.
    """
    out = Path(out).expanduser()
    tok = build_tokenizer(tokenizer or reg.default_tokenizer(name_or_path), lowercase)
    _check_options(out, min_freq, max_vocab, chunk_bytes, overwrite)
    splits = plan_splits(name_or_path, chunk_bytes)
    out.mkdir(parents=True, exist_ok=True)
    # prepared.json goes last: until it is written again the folder is not a prepared corpus,
    # so a run stopped half-way never leaves new .bin files described by old metadata.
    (out / PREPARED).unlink(missing_ok=True)
    counter = TokenCounter(tok)
    for text in _texts(splits[0], "count", chunk_bytes, progress):
        counter.update(text)
    vocab = Vocab.build(counter.counts(), min_freq=min_freq, max_size=max_vocab)
    del counter  # a word corpus's counts can be large; the encoder needs only the vocab
    dtype = smallest_uint(len(vocab))
    encoder = ChunkEncoder(tok, vocab, dtype)
    tokens = {
        s.split: _encode(s, encoder, split_file(out, s.split), chunk_bytes, progress)
        for s in splits
    }
    _check_unchanged(splits)
    for stale in set(reg.SPLITS) - set(tokens):
        split_file(out, stale).unlink(missing_ok=True)
    vocab.save(out / VOCAB)
    source = name_or_path
    if name_or_path not in reg.DATASETS:
        source = str(Path(name_or_path).expanduser().resolve())
    meta = {  # what open_prepared reads back
        "format": FORMAT,
        "source": source,
        "tokenizer": tok.to_dict(),
        "min_freq": min_freq,
        "max_vocab": max_vocab,
        "vocab_size": len(vocab),
        "dtype": dtype.name,
        "splits": {
            s.split: {
                "file": f"{s.split}.bin",
                "tokens": tokens[s.split],
                "source": {**s.file.to_dict(), "start": s.start, "end": s.end},
            }
            for s in splits
        },
    }
    atomic_write_text(out / PREPARED, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return open_prepared(out)
