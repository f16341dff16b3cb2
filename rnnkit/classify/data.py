"""Labelled sentences for classification and tagging: SNIPS, user files, vocabularies, batches.

A sentence is a list of tokens with an optional sentence label (the intent) and optional
per-token tags (BIO slots). Sources:

- ``snips``: the SNIPS NLU benchmark as prepared by Goo et al. (2018), registered like every
  dataset (``$RNNKIT_DATA``, then the sha256-checked cache, then a download);
- a folder in the same layout (``train/``, ``valid/``, ``test/``, each with ``seq.in`` and
  ``label`` and/or ``seq.out``);
- a TSV (``text<TAB>label``) or CSV file (``text,label``; a ``text,label`` header is skipped);
- a CoNLL-style file: one ``token tag`` per line (whitespace-separated, the tag last), a blank
  line between sentences, and an optional ``# label: X`` line giving the sentence's label.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.padding import pad_batch
from rnnkit.errors import DataError, check_choice
from rnnkit.io import read_text
from rnnkit.registry.datasets import SPLITS, DataFile, fetch
from rnnkit.text.lines import read_lines
from rnnkit.text.vocab import PAD, UNK, Vocab

# ---- the registered benchmark ------------------------------------------------------------------
_SNIPS_COMMIT = "61f0307c729b1fad479ef1de94aa5ac5dee601b0"
_SNIPS_URL = f"https://raw.githubusercontent.com/MiuLab/SlotGated-SLU/{_SNIPS_COMMIT}/data/snips"
_SNIPS_FILES = (  # (split/file, bytes, sha256)
    ("train/seq.in", 617_079, "04ad1e3f2121d83c6478f9a4b17d2dbdc21d06d6127f73cb7af835ed733f9855"),
    ("train/seq.out", 950_926, "fd5f2121d8055827e5d6b3d3bac30f3d7e94e82a5d437751960cbdd9e1b4f6d3"),
    ("train/label", 184_532, "bfd7df6cf9dd76c5da5d8b61bc85f90386197bdd3d7510c1d324c051537b962f"),
    ("valid/seq.in", 33_629, "64e0f6d8ad8aab3a3828164d7d53731a0993d3ca1aed437ceaca6d3d568d410e"),
    ("valid/seq.out", 50_626, "712e6d34feb8d52d208b820a5f8bae6e6ff990f08374507dfde22de389088319"),
    ("valid/label", 9_900, "9c1dd041216f647bcfca838aaf1a48eb5781e4404256d31ff07cd38a5436c52f"),
    ("test/seq.in", 33_121, "c1e341173fcea2951a8ca371956a6f81c76de87b9583c62eb87edd6158fa3a7c"),
    ("test/seq.out", 50_918, "58c07c9097d5e1f78889765c2a535a160f6455b90b3142055c8051847afcca47"),
    ("test/label", 10_120, "37a26da3ad079bb41c42c85a3a8f827eb47efec4c5917ce5d08f4b2736e4f830"),
)
SNIPS = {
    tuple(key.split("/")): DataFile(f"intents/snips/{key}", sha256, size, f"{_SNIPS_URL}/{key}")
    for key, size, sha256 in _SNIPS_FILES
}
CORPORA = {
    "snips": (
        "SNIPS NLU benchmark (Coucke et al., 2018; split of Goo et al., 2018): 7 intents and BIO "
        "slot tags; 13,084 / 700 / 700 utterances"
    )
}
# Characters stripped from both ends of a raw-text token, so "it?" reads as "it".
_EDGE_PUNCT = "?!.,;:\"()[]{}“”‘’'«»…"


@dataclass
class Sentences:
    """Aligned tokens, labels and tags.

    Attributes:
        tokens: one non-empty token list per sentence.
        labels: one label per sentence, or ``None`` when the source has none.
        tags: one tag list per sentence (as long as its tokens), or ``None``.
        skipped_empty: blank lines (sentences without a token) that were dropped.
    """

    tokens: list[list[str]] = field(default_factory=list)
    labels: list[str] | None = None
    tags: list[list[str]] | None = None
    skipped_empty: int = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, index) -> Sentences:
        return Sentences(
            [self.tokens[i] for i in index],
            None if self.labels is None else [self.labels[i] for i in index],
            None if self.tags is None else [self.tags[i] for i in index],
        )


def split_raw(text: str, lowercase: bool = True) -> list[str]:
    """Tokens of raw text: whitespace words with punctuation at their ends removed."""
    if lowercase:
        text = text.lower()
    return [t for t in (w.strip(_EDGE_PUNCT) for w in text.split()) if t]


# ---- readers -----------------------------------------------------------------------------------
def read_columns(text_path, label_path=None, tags_path=None, lowercase=True) -> Sentences:
    """SNIPS layout: line i of ``seq.in`` (tokens), ``label`` and ``seq.out`` (tags) agree."""
    texts = read_lines(text_path)
    labels = read_lines(label_path) if label_path else None
    tags = read_lines(tags_path) if tags_path else None
    for path, other in ((label_path, labels), (tags_path, tags)):
        if other is not None and len(other) != len(texts):
            raise DataError(
                f"{text_path} has {len(texts)} lines but {path} has {len(other)}; the files "
                "must be aligned line by line"
            )
    out = Sentences(labels=[] if labels is not None else None, tags=[] if tags else None)
    for i, line in enumerate(texts):
        toks = (line.lower() if lowercase else line).split()
        if not toks:
            out.skipped_empty += 1
            continue
        out.tokens.append(toks)
        if labels is not None:
            out.labels.append(_label(labels[i], label_path, i + 1))
        if tags is not None:
            row = tags[i].split()
            if len(row) != len(toks):
                raise DataError(
                    f"{tags_path} line {i + 1} has {len(row)} tags for {len(toks)} tokens; "
                    "give one tag per token"
                )
            out.tags.append(row)
    return out


def _label(text: str, path, number: int) -> str:
    label = text.strip()
    if not label:
        raise DataError(f"{path} line {number} has an empty label; give every sentence a label")
    if len(label.splitlines()) > 1:  # a quoted CSV field may hold one
        raise DataError(
            f"{path} line {number} has a label with a line break ({label[:40]!r}); "
            "keep each label on one line"
        )
    return label


def read_delimited(path: str | Path, lowercase: bool = True) -> Sentences:
    """``text<TAB>label`` (``.tsv`` and others) or ``text,label`` (``.csv``) lines."""
    path = Path(path)
    text = read_text(path).removeprefix("\ufeff")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []  # (line number, fields); a quoted field may span lines
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:  # a field over csv's size limit, say
        raise DataError(f"{path} line {reader.line_num} cannot be read ({e}); fix the file") from e
    if rows and [c.strip().lower() for c in rows[0][1]] == ["text", "label"]:
        rows = rows[1:]
    out = Sentences(labels=[])
    for number, row in rows:
        if not row or not "".join(row).strip():
            out.skipped_empty += 1
            continue
        if len(row) != 2:
            sep = "comma" if delimiter == "," else "tab"
            raise DataError(
                f"{path} line {number} has {len(row)} fields; each line must be text and label "
                f"separated by one {sep} (quote a text that contains one)"
            )
        toks = split_raw(row[0], lowercase)
        if not toks:
            out.skipped_empty += 1
            continue
        out.tokens.append(toks)
        out.labels.append(_label(row[1], path, number))
    return out


def read_conll(path: str | Path, lowercase: bool = True) -> Sentences:
    """One ``token ... tag`` per line, sentences separated by blank lines; an optional
    ``# label: X`` line before a sentence labels it (all sentences or none)."""
    out = Sentences(labels=[], tags=[])
    toks: list[str] = []
    tags: list[str] = []
    label = None
    labelled = []

    def close():
        nonlocal toks, tags, label
        if toks:
            out.tokens.append(toks)
            out.tags.append(tags)
            out.labels.append(label)
            labelled.append(label is not None)
        toks, tags, label = [], [], None

    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            close()
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() == "label" and value.strip():
                label = value.strip()
            continue
        cols = line.split()
        if len(cols) < 2:
            raise DataError(
                f"{path} line {number} has {len(cols)} column; a CoNLL line is a token and its "
                "tag separated by whitespace"
            )
        toks.append(cols[0].lower() if lowercase else cols[0])
        tags.append(cols[-1])
    close()
    if any(labelled) and not all(labelled):
        missing = labelled.index(False) + 1
        raise DataError(
            f"{path}: sentence {missing} has no '# label:' line but others do; label all or none"
        )
    if not any(labelled):
        out.labels = None
    return out


# ---- one entry point -------------------------------------------------------------------------
_COLUMNS = ("seq.in", "label", "seq.out")  # the tokens, then what read_columns aligns to them


def read_file(path: str | Path, lowercase: bool = True) -> Sentences:
    """A user file, by its form: CoNLL (``.conll``, ``.bio``, ``.iob``) or delimited."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"no file at {path}; give a registered dataset ({', '.join(CORPORA)}) or a file"
        )
    suffix = path.suffix.lower()
    if suffix in (".conll", ".bio", ".iob") or (
        suffix not in (".csv", ".tsv") and _looks_conll(path)
    ):
        return read_conll(path, lowercase)
    return read_delimited(path, lowercase)


def _looks_conll(path: Path) -> bool:
    """No tab-separated line among the first 100 has a text of several words (``.txt`` and
    other suffixes; ``.tsv`` / ``.csv`` / ``.conll`` say what they are)."""
    content = [ln for ln in read_lines(path)[:200] if ln.strip() and not ln.startswith("#")]
    return not any(len(ln.split("\t")[0].split()) > 1 for ln in content[:100] if "\t" in ln)


def load_sentences(data: str, split: str = "train", lowercase: bool = True) -> Sentences:
    """The sentences of ``split`` of ``data``: ``snips``, a SNIPS-layout folder, or a file
    (files hold one split: read them through ``read_file``)."""
    check_choice("split", split, SPLITS)
    if data in CORPORA:
        return read_columns(*(fetch(SNIPS[(split, name)]) for name in _COLUMNS), lowercase)
    path = Path(data)
    if path.is_dir():
        if not (path / split / "seq.in").exists():
            have = [s for s in SPLITS if (path / s / "seq.in").exists()]
            raise DataError(
                f"{path} has no {split}/seq.in; splits found: {', '.join(have) or 'none'}"
            )
        files = [path / split / name for name in _COLUMNS]
        return read_columns(*(f if f.exists() else None for f in files), lowercase)
    if split != "train":
        raise DataError(f"{data} is a single file with no {split} split; give --valid FILE")
    return read_file(path, lowercase)


def hold_out(sentences: Sentences, fraction: float, seed: int) -> tuple[Sentences, Sentences]:
    """A seeded random ``fraction`` of ``sentences`` kept aside: ``(rest, held_out)``."""
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    n = max(1, round(fraction * len(order)))
    if len(order) - n < 1:
        raise DataError(f"only {len(order)} sentences: too few to hold any out for validation")
    return sentences.subset(sorted(order[n:])), sentences.subset(sorted(order[:n]))


# ---- vocabularies and ids ----------------------------------------------------------------------
def build_vocabs(train: Sentences, min_freq: int = 1, max_vocab: int | None = None) -> dict:
    """Word, character, label and tag vocabularies of the training sentences.

    Words and characters get ``<pad>`` and ``<unk>``; labels and tags are closed sets
    (tags keep ``<pad>`` at 0 so padded targets can be ignored).
    """
    words = Counter(t for s in train.tokens for t in s)
    chars = Counter(c for s in train.tokens for t in s for c in t)
    vocabs = {
        "words": Vocab.build(words, min_freq, max_vocab, reserved=(PAD, UNK)),
        "chars": Vocab.build(chars, 1, None, reserved=(PAD, UNK)),
    }
    tags = None if train.tags is None else {t for s in train.tags for t in s}
    for key, names, reserved in (("labels", train.labels, (UNK,)), ("tags", tags, (PAD, UNK))):
        if names is None:
            continue
        names = sorted(set(names))
        # A label spelled <unk> would take a second id beside the reserved one.
        clash = next((n for n in names if n in reserved), None)
        if clash is not None:
            raise DataError(
                f"the training data has the {key[:-1]} {clash!r}, a name rnnkit reserves; rename it"
            )
        vocabs[key] = Vocab([*reserved, *names], reserved=reserved)
    return vocabs


def check_known(sentences: Sentences, vocabs: dict, what: str) -> None:
    """Refuse labels or tags the model never saw (it could never predict them)."""
    if sentences.labels is not None and "labels" in vocabs:
        unknown = sorted(set(sentences.labels) - set(vocabs["labels"].itos[1:]))
        if unknown:
            raise DataError(
                f"{what} has labels the model was not trained on: {', '.join(unknown[:5])}"
                f"{' ...' if len(unknown) > 5 else ''}; known labels: "
                f"{', '.join(vocabs['labels'].itos[1:])}"
            )
    if sentences.tags is not None and "tags" in vocabs:
        unknown = sorted({t for s in sentences.tags for t in s} - set(vocabs["tags"].itos[2:]))
        if unknown:
            raise DataError(
                f"{what} has tags the model was not trained on: {', '.join(unknown[:5])}"
                f"{' ...' if len(unknown) > 5 else ''}; retrain with data that has them"
            )


@dataclass
class Batch:
    """A padded batch, batch-first.

    - **words**: (N, S) int64, 0 past each length. **lengths**: (N,) int64.
    - **chars**: (N, S, W) int64 character ids of each word, or ``None``.
    - **labels**: (N,) int64 or ``None``. **tags**: (N, S) int64 (0 = padding) or ``None``.
    - **index**: (N,) positions of these sentences in the encoded set.
    """

    words: torch.Tensor
    lengths: torch.Tensor
    chars: torch.Tensor | None
    labels: torch.Tensor | None
    tags: torch.Tensor | None
    index: np.ndarray

    def to(self, device) -> Batch:
        """The same batch with every tensor on ``device``."""
        return Batch(*(x.to(device) if torch.is_tensor(x) else x for x in vars(self).values()))


class Encoded:
    """Sentences as id arrays, batched by similar length.

    Args:
        sentences: the data. vocabs: from ``build_vocabs``. use_chars: also make char ids.
        max_word_len: characters kept per word (longer words are cut).
    """

    def __init__(self, sentences: Sentences, vocabs: dict, use_chars: bool, max_word_len=20):
        self.words = [vocabs["words"].encode(s) for s in sentences.tokens]
        self.chars = None
        if use_chars:
            cv = vocabs["chars"]
            self.chars = [[cv.encode(w[:max_word_len]) for w in s] for s in sentences.tokens]
        self.labels = None
        if sentences.labels is not None and "labels" in vocabs:
            self.labels = vocabs["labels"].encode(sentences.labels)
        self.tags = None
        if sentences.tags is not None and "tags" in vocabs:
            self.tags = [vocabs["tags"].encode(t) for t in sentences.tags]

    def __len__(self) -> int:
        return len(self.words)

    def batch(self, index) -> Batch:
        index = np.asarray(index)
        words, lengths = pad_batch([self.words[i] for i in index])
        S = words.size(1)
        tags = None if self.tags is None else pad_batch([self.tags[i] for i in index])[0]
        chars = None
        if self.chars is not None:
            W = max(len(w) for i in index for w in self.chars[i])
            chars = torch.zeros(len(index), S, max(W, 1), dtype=torch.int64)
            for row, i in enumerate(index):
                for j, w in enumerate(self.chars[i]):
                    chars[row, j, : len(w)] = torch.from_numpy(w)
        labels = None if self.labels is None else torch.from_numpy(self.labels[index])
        return Batch(words, lengths, chars, labels, tags, index)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """Batches of sentences of similar length (see ``groups``)."""
        for g in self.groups(batch_size, shuffle, seed):
            yield self.batch(g)

    def groups(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> list[np.ndarray]:
        """The sentence indices of each batch: sentences of similar length together, sorted
        within chunks of 50 batches when shuffling, so each seed differs but padding stays
        small."""
        lengths = np.array([len(w) for w in self.words])
        if shuffle:
            rng = np.random.default_rng(seed)
            order = rng.permutation(len(self.words))
            chunk = batch_size * 50
            order = np.concatenate(
                [
                    c[np.argsort(lengths[c], kind="stable")]
                    for c in np.array_split(order, max(1, -(-len(order) // chunk)))
                ]
            )
        else:
            order = np.argsort(lengths, kind="stable")
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if shuffle:
            rng.shuffle(groups)
        return groups
