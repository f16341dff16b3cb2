"""A prepared corpus: token ids on disk, read through ``numpy.memmap``.

``rnnkit data prepare`` (``rnnkit.data.prepare``) writes a folder holding::

    train.bin, valid.bin[, test.bin]   token ids, raw little-endian unsigned integers
    vocab.json                         the Vocab, built from the train split
    prepared.json                      format, dtype, tokens per split, tokenizer settings, sources

``open_prepared`` checks that the files agree with ``prepared.json`` (a ``.bin`` cut short or
from another preparation has the wrong size) and hands out read-only memory maps, so training on
a corpus of many GB pages in only the batches it reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import DataError
from rnnkit.registry.datasets import SPLITS
from rnnkit.text.tokenizers import Tokenizer, tokenizer_from_dict
from rnnkit.text.vocab import Vocab

FORMAT = 1
PREPARED = "prepared.json"
VOCAB = "vocab.json"
DTYPES = {"uint8": np.dtype("<u1"), "uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def is_prepared(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``prepared.json``."""
    folder = Path(path).expanduser()
    return folder.is_dir() and (folder / PREPARED).is_file()


def split_file(folder: Path, split: str) -> Path:
    return folder / f"{split}.bin"


@dataclass(frozen=True)
class PreparedCorpus:
    """A checked prepared folder.

    Args:
        path: the folder.
        dtype: dtype of the ids in every ``.bin`` file.
        tokenizer: the tokenizer the text was split with.
        min_freq, max_vocab: the vocabulary settings it was built with.
        vocab_size: number of ids.
        tokens: tokens per split, in train/valid/test order.
        source: the dataset name or path it was prepared from.
        source_bytes: bytes of text the ids were encoded from, all splits together.
    """

    path: Path
    dtype: np.dtype
    tokenizer: Tokenizer
    min_freq: int
    max_vocab: int | None
    vocab_size: int
    tokens: dict[str, int]
    source: str
    source_bytes: int

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.tokens)

    def ids(self, split: str) -> np.ndarray:
        """The ids of ``split``, memory-mapped read-only. Shape: (tokens[split],)."""
        if split not in self.tokens:
            raise DataError(
                f"prepared corpus {self.path} has no {split!r} split; "
                f"available splits: {', '.join(self.splits)}"
            )
        n = self.tokens[split]
        if n == 0:  # mmap cannot map an empty file
            return np.zeros(0, dtype=self.dtype)
        path = split_file(self.path, split)
        ids = np.memmap(path, dtype=self.dtype, mode="r", shape=(n,))
        # One pass over the map (0.3 s for 1 GB here): an id past the vocabulary would
        # otherwise surface as an index error deep inside the embedding, mid-training.
        top = int(ids.max())
        if top >= self.vocab_size:
            raise DataError(
                f"{path} holds id {top:,} but the vocabulary has {self.vocab_size:,} tokens; "
                f"{self._fix()}"
            )
        return ids

    def vocab(self) -> Vocab:
        vocab = Vocab.load(self.path / VOCAB)
        if len(vocab) != self.vocab_size:
            raise DataError(
                f"{self.path / VOCAB} has {len(vocab):,} tokens but {PREPARED} says "
                f"{self.vocab_size:,}; {self._fix()}"
            )
        return vocab

    def _fix(self) -> str:
        tok = self.tokenizer.to_dict()
        flags = f"--tokenizer {tok['name']}" + (" --lowercase" if tok.get("lowercase") else "")
        if self.min_freq != 1:
            flags += f" --min-freq {self.min_freq}"
        if self.max_vocab is not None:
            flags += f" --max-vocab {self.max_vocab}"
        source = self.source if self.source.isprintable() else repr(self.source)
        return (
            "the folder is damaged: prepare it again with "
            f"`rnnkit data prepare {source} {flags} --out {self.path} --overwrite`"
        )


def open_prepared(path: str | Path) -> PreparedCorpus:
    """Read and check the prepared folder ``path``; any mismatch raises a one-line ``DataError``.

    Checked: ``prepared.json`` parses and has a known format; every split's ``.bin`` file exists
    and holds exactly ``tokens * itemsize`` bytes. ``vocab.json`` is checked when loaded.
    """
    folder = Path(path).expanduser()
    meta_path = folder / PREPARED
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise DataError(
            f"{folder} is not a prepared corpus (no {PREPARED}); "
            "make one with `rnnkit data prepare NAME_OR_PATH --out DIR`"
        ) from e
    except (OSError, ValueError, RecursionError) as e:
        # RecursionError: json gives up on arrays nested thousands deep
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        raise DataError(f"{meta_path} cannot be read ({why}); prepare the corpus again") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise DataError(
            f"{meta_path} has format {got!r}, this rnnkit reads format {FORMAT}; "
            "prepare the corpus again with this version"
        )
    try:
        corpus = PreparedCorpus(
            path=folder,
            dtype=DTYPES[meta["dtype"]],
            tokenizer=tokenizer_from_dict(meta["tokenizer"]),
            min_freq=int(meta["min_freq"]),
            max_vocab=meta["max_vocab"],
            vocab_size=int(meta["vocab_size"]),
            tokens={s: int(v["tokens"]) for s, v in meta["splits"].items()},
            source=str(meta["source"]),
            source_bytes=sum(
                int(v["source"]["end"]) - int(v["source"]["start"]) for v in meta["splits"].values()
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        # OverflowError: int() of an infinite JSON number (1e999)
        raise DataError(
            f"{meta_path} is malformed ({type(e).__name__}: {e}); prepare the corpus again"
        ) from e
    _check_meta(corpus, meta_path)
    for split, n in corpus.tokens.items():
        file, want = split_file(folder, split), n * corpus.dtype.itemsize
        have = file.stat().st_size if file.is_file() else None
        if have != want:
            found = "is missing" if have is None else f"holds {have:,} bytes"
            raise DataError(
                f"{file} {found} but {PREPARED} says {n:,} {corpus.dtype.name} tokens "
                f"({want:,} bytes); {corpus._fix()}"
            )
    return corpus


def _check_meta(corpus: PreparedCorpus, meta_path: Path) -> None:
    """Values that parse but cannot be right; a split name also names a file in the folder."""
    problem = None
    odd = [s for s in corpus.tokens if s not in SPLITS]
    if odd:
        problem = f"unknown split {odd[0]!r} (splits are {', '.join(SPLITS)})"
    elif any(n < 0 for n in corpus.tokens.values()):
        problem = "a negative token count"
    elif corpus.vocab_size < 1:
        problem = f"vocab_size {corpus.vocab_size}"
    elif corpus.min_freq < 1:
        problem = f"min_freq {corpus.min_freq}"
    elif corpus.max_vocab is not None and (
        isinstance(corpus.max_vocab, bool) or not isinstance(corpus.max_vocab, int)
    ):
        problem = f"max_vocab {corpus.max_vocab!r}, not an integer or null"
    if problem is not None:
        raise DataError(f"{meta_path} is malformed ({problem}); prepare the corpus again")
