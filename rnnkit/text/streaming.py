"""Streaming text: a file read in newline-aligned chunks, its tokens counted and encoded per chunk.

Every tokenizer splits lines at ``"\\n"`` and at nothing else, and no token spans a newline, so
text cut just after a newline gives, piece by piece, exactly the tokens it gives whole. A chunk
therefore ends at a newline once it has reached its size (a line longer than that makes it
longer: memory is bounded by the chunk size plus the longest line). UTF-8 never uses the newline
byte inside a multi-byte character, so such a cut is also a character boundary, and a ``\\r\\n``
pair stays whole.

Within a chunk, text is tokenized in slices of about a million characters, so what a chunk costs
in memory is its bytes and its decoded text, and a few MB besides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path

import numpy as np

from rnnkit.errors import DataError
from rnnkit.io import decode_utf8
from rnnkit.text.tokenizers import CharTokenizer, Tokenizer
from rnnkit.text.vocab import Vocab

CHUNK_BYTES = 16 << 20
# A chunk is tokenized in slices of about this many characters, so the per-token temporaries (a
# UTF-32 copy and int64 indices for characters, a list of str objects for words, the ids) stay
# a few MB whatever the chunk size.
_SLICE = 1 << 20
_READ_BLOCK = 1 << 20  # chunks are read in blocks of this size and joined once
_NUM_CODE_POINTS = 0x110000


def iter_blocks(path: str | Path, start: int, end: int, block: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, data)`` for consecutive blocks of ``path[start:end]``, at most ``block``
    bytes each, cut anywhere."""
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < end:
            data = f.read(min(block, end - pos))
            if not data:
                return  # the file shrank while being read
            yield pos, data
            pos += len(data)


def iter_chunks(
    path: str | Path, start: int = 0, end: int | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, data)`` pieces of ``path[start:end]`` that each end just after a newline;
    only the last one may end without. Together they are ``path[start:end]`` byte for byte.

    Args:
        start, end: byte range to read (``end=None``: to the end of the file).
        chunk_bytes: about how long a piece is: it ends at the last newline of the block of
            reading that brings it to this size (later, if a line is longer).
    """
    if end is None:
        end = Path(path).stat().st_size
    parts: list = []  # blocks read since the last cut, joined once into a piece
    size, at = 0, start
    for offset, data in iter_blocks(path, start, end, min(chunk_bytes, _READ_BLOCK)):
        parts.append(data)
        size += len(data)
        last = data.rfind(b"\n") if size >= chunk_bytes else -1
        if last == -1:
            continue
        parts[-1] = memoryview(data)[: last + 1]
        piece = b"".join(parts)
        parts, size = [data[last + 1 :]], len(data) - last - 1
        piece_at, at = at, offset + last + 1
        del data
        yield piece_at, piece
        del piece  # a generator's locals live on: let the caller's copy be the only one
    if size:
        yield at, b"".join(parts)


def iter_text(
    path: str | Path, start: int = 0, end: int | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, str]]:
    """Yield ``(num_bytes, text)`` for newline-aligned pieces of ``path[start:end]`` (bytes)."""
    for offset, data in iter_chunks(path, start, end, chunk_bytes):
        num_bytes, text = len(data), decode_utf8(data, offset, path)
        del data  # only the text is held while the caller works on it...
        yield num_bytes, text
        del text  # ...and not while the next piece is read and decoded


def code_points(text: str) -> np.ndarray:
    """The code points of ``text``. Shape: (len(text),), dtype uint32."""
    # surrogatepass: a lone surrogate (a Python str may hold one) is a code point like any other
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def line_slices(text: str, size: int | None = None) -> Iterator[str]:
    """``text`` in pieces of at least ``size`` characters (default ``_SLICE``), each cut just
    after a newline (the last one may not end with one)."""
    size = size or _SLICE
    start = 0
    while start < len(text):
        newline = text.find("\n", start + size - 1)
        end = len(text) if newline == -1 else newline + 1
        yield text[start:end]
        start = end


def smallest_uint(n: int) -> np.dtype:
    """The smallest little-endian unsigned dtype that holds the ids ``0 .. n - 1``."""
    for dtype in ("<u1", "<u2", "<u4"):
        if n <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise DataError(f"a vocabulary of {n:,} tokens does not fit 32-bit ids; lower --max-vocab")


class TokenCounter:
    """Token frequencies gathered one piece of text at a time.

    After ``update`` has seen every piece, ``counts()`` equals ``count_tokens`` of the whole text.
    Characters are counted with ``bincount`` over code points, tens of times faster than a
    ``Counter`` over the string; other tokenizers go through a ``Counter``.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._chars = np.zeros(0, dtype=np.int64)  # count per code point seen so far
        self._tokens: Counter = Counter()

    def update(self, text: str) -> None:
        if not isinstance(self.tokenizer, CharTokenizer):
            for piece in line_slices(text):
                self._tokens.update(self.tokenizer.tokenize(piece))
            return
        for i in range(0, len(text), _SLICE):
            counts = np.bincount(code_points(text[i : i + _SLICE]))
            if len(counts) > len(self._chars):
                self._chars = np.pad(self._chars, (0, len(counts) - len(self._chars)))
            self._chars[: len(counts)] += counts

    def counts(self) -> dict[str, int]:
        """Token -> count."""
        if not isinstance(self.tokenizer, CharTokenizer):
            return dict(self._tokens)
        return {chr(c): int(self._chars[c]) for c in np.flatnonzero(self._chars)}


class ChunkEncoder:
    """Text -> ids in ``dtype``, a slice at a time: the ids of the whole text, less memory.

    Characters go through a lookup table indexed by code point (one gather per character);
    other tokens through the vocabulary's dict.

    Args:
        tokenizer: how to split the text.
        vocab: token -> id; unknown tokens map to ``<unk>``.
        dtype: an integer dtype that holds ``len(vocab)`` ids (see ``smallest_uint``).
    """

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, dtype: np.dtype):
        self.tokenizer, self.vocab, self.dtype = tokenizer, vocab, np.dtype(dtype)
        if len(vocab) > np.iinfo(self.dtype).max + 1:
            raise DataError(f"{len(vocab):,} token ids do not fit {self.dtype.name}")
        self._table = None
        if isinstance(tokenizer, CharTokenizer):
            # 1.1M entries (at most 4.4 MB) cover every code point, so no lookup can miss.
            self._table = np.full(_NUM_CODE_POINTS, vocab.unk_id, dtype=self.dtype)
            for i, token in enumerate(vocab.itos):
                if len(token) == 1:
                    self._table[ord(token)] = i

    def __call__(self, text: str) -> np.ndarray:
        """Encode ``text``. Shape: (num_tokens,), dtype ``self.dtype``."""
        parts = list(self.pieces(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self.dtype)

    def pieces(self, text: str) -> Iterator[np.ndarray]:
        """The ids of ``text`` slice by slice (concatenated, they are ``self(text)``), so a
        writer never holds the ids of a whole chunk."""
        if self._table is not None:
            for i in range(0, len(text), _SLICE):
                yield np.take(self._table, code_points(text[i : i + _SLICE]))
            return
        stoi, unk = self.vocab.stoi, self.vocab.unk_id
        for piece in line_slices(text):
            tokens = self.tokenizer.tokenize(piece)
            yield np.fromiter(map(stoi.get, tokens, repeat(unk)), self.dtype, len(tokens))
