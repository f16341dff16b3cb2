"""Corpus encoding: text -> one flat integer array of token ids.

The array is numpy (``int32``), so it can be saved as ``.npy`` and memory-mapped back with
``load_ids(path, mmap=True)``: a corpus of hundreds of MB never becomes a Python list of ints.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from rnnkit.text.streaming import ChunkEncoder
from rnnkit.text.tokenizers import CharTokenizer, Tokenizer
from rnnkit.text.vocab import Vocab


def count_tokens(text: str, tokenizer: Tokenizer) -> Counter:
    """Token frequencies of ``text``."""
    if isinstance(tokenizer, CharTokenizer):
        return Counter(text)  # Counter over a str iterates code points in C: no token list.
    return Counter(tokenizer.tokenize(text))


def build_vocab(
    text: str, tokenizer: Tokenizer, min_freq: int = 1, max_size: int | None = None
) -> Vocab:
    return Vocab.build(count_tokens(text, tokenizer), min_freq=min_freq, max_size=max_size)


def encode_text(text: str, tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    """Encode ``text`` to ids (``ChunkEncoder`` in one call). Shape: (num_tokens,), dtype int32."""
    return ChunkEncoder(tokenizer, vocab, np.int32)(text)


def save_ids(path: str | Path, ids: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(ids, dtype=np.int32))


def load_ids(path: str | Path, mmap: bool = True) -> np.ndarray:
    """Load ids saved by ``save_ids``; with ``mmap`` the file is paged in on demand."""
    return np.load(path, mmap_mode="r" if mmap else None)
