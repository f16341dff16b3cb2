"""Parallel text for translation: sentence pairs, vocabularies, id arrays and length-bucketed
batches.

Pairs come from a registered corpus (``CORPORA``, found like every dataset through
``rnnkit.registry.datasets.fetch``: ``$RNNKIT_DATA``, then the sha256-checked cache, then a
sha256-checked download), from two aligned text files (line i of one is the translation of line i
of the other), or from a TSV file of ``source<TAB>target`` lines. Tokens are the whitespace-split
words of each line (``tokenize="whitespace"``) or its Moses tokens (``"moses"``,
``rnnkit.text.moses``); the registered corpora are already Moses-tokenized and lowercased, and
say so (``CORPORA[name]["tokenize"]``, ``["lowercase"]``), so raw input can be read the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnkit.bounds import check
from rnnkit.data.padding import pad_batch
from rnnkit.errors import ConfigError, DataError, check_choice
from rnnkit.registry.datasets import SPLITS, DataFile, fetch
from rnnkit.seq2seq.config import TOKENIZERS
from rnnkit.text.lines import read_lines
from rnnkit.text.moses import moses_tokenize
from rnnkit.text.vocab import BOS, EOS, Vocab


def split_words(
    line: str, tokenize: str = "whitespace", lang: str = "en", lowercase: bool = False
) -> list[str]:
    """The tokens of one line, lower-cased first if ``lowercase``: whitespace-split, or Moses
    tokens (``rnnkit.text.moses``) in language ``lang``."""
    line = line.lower() if lowercase else line
    return moses_tokenize(line, lang) if tokenize == "moses" else line.split()


# ---- registered corpora ------------------------------------------------------------------------
_MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_MULTI30K_URL = (
    f"https://raw.githubusercontent.com/multi30k/dataset/{_MULTI30K_COMMIT}/data/task1/tok"
)
# The official tokenized files: split -> file stem, and (split.language, bytes, sha256).
_MULTI30K_STEMS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
_MULTI30K_FILES = (
    ("train.de", 2_150_008, "cb5a23529b65ec2061f1dc446192a9c37382b63cc75f81a0be59d34894b3a505"),
    ("train.en", 1_837_696, "08925f8e0572bcd5a006702fc5fe20e2d77c6917d4eebd576fc20de6693c2119"),
    ("valid.de", 77_273, "97232bd273eceb7207f689527386a97e4be2616b18ada47576bdaf96c8ae1f00"),
    ("valid.en", 64_608, "46573ce391ae227f1c72f873392436a20ef18e0a6d518098cfbd70b77c8572ec"),
    ("test.de", 71_917, "c6a33d39d48f9f510de147651316cd9d918e09ad0219df734a2f16b6baccacc4"),
    ("test.en", 63_307, "5b7f32627cf99eced828311b955dae9800bb52bc8b91cf8b6526829e605b29d2"),
)


def _multi30k_splits() -> dict[str, dict[str, DataFile]]:
    splits: dict[str, dict[str, DataFile]] = {}
    for key, size, sha256 in _MULTI30K_FILES:
        split, lang = key.split(".")
        name = f"{_MULTI30K_STEMS[split]}.lc.norm.tok.{lang}"
        splits.setdefault(split, {})[lang] = DataFile(
            f"multi30k/tok/{name}", sha256, size, f"{_MULTI30K_URL}/{name}"
        )
    return splits


CORPORA: dict[str, dict] = {
    "multi30k": {
        "description": (
            "Multi30K Task 1 (Elliott et al., 2016): Flickr30k captions with German "
            "translations, lowercased and Moses-tokenized; 29,000 / 1,014 / 1,000 pairs"
        ),
        "languages": ("de", "en"),
        # How the files were made from raw text, so that raw input can be read the same way.
        "lowercase": True,
        "tokenize": "moses",
        # split -> language -> file; valid is the official "val", test is "test_2016_flickr".
        "splits": _multi30k_splits(),
    }
}


def corpus_file(name: str, split: str, lang: str) -> DataFile:
    """The registered file of one language side of one split of corpus ``name``.

    Raises:
        DataError: unknown corpus or split. ConfigError: the corpus has no such language.
    """
    if name not in CORPORA:
        raise DataError(
            f"unknown parallel corpus {name!r}: registered corpora are {', '.join(CORPORA)}; "
            "or give aligned source and target files, or a TSV file"
        )
    corpus = CORPORA[name]
    if lang not in corpus["languages"]:
        raise ConfigError(
            f"corpus {name!r} has no language {lang!r}; "
            f"its languages are {', '.join(corpus['languages'])}"
        )
    if split not in corpus["splits"]:
        raise DataError(
            f"corpus {name!r} has no {split!r} split; "
            f"available splits: {', '.join(s for s in SPLITS if s in corpus['splits'])}"
        )
    return corpus["splits"][split][lang]


# ---- sentence pairs ----------------------------------------------------------------------------
@dataclass
class Pairs:
    """Aligned token lists: ``tgt[i]`` is the translation of ``src[i]``.

    Attributes:
        src, tgt: one token list per sentence, never empty.
        skipped_empty: pairs dropped because either side was an empty or blank line.
        truncated: pairs with at least one side cut to ``max_len`` tokens.
    """

    src: list[list[str]] = field(default_factory=list)
    tgt: list[list[str]] = field(default_factory=list)
    skipped_empty: int = 0
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.src)


def _tsv_columns(path: str | Path) -> tuple[list[str], list[str]]:
    src, tgt = [], []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            src.append("")  # a blank line is an empty pair, counted in skipped_empty
            tgt.append("")
            continue
        tabs = line.count("\t")
        if tabs != 1:
            raise DataError(
                f"{path} line {number} has {tabs} tabs; each line of a TSV file must be "
                "source<TAB>target with exactly one tab"
            )
        s, t = line.split("\t")
        src.append(s)
        tgt.append(t)
    return src, tgt


def _aligned(src_path: str | Path, tgt_path: str | Path) -> tuple[list[str], list[str]]:
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise DataError(
            f"source and target files differ in length: {src_path} has {len(src)} lines, "
            f"{tgt_path} has {len(tgt)}; they must be aligned line by line"
        )
    return src, tgt


def load_pairs(
    data: str | None = None,
    split: str = "train",
    *,
    src_lang: str = "de",
    tgt_lang: str = "en",
    src_file: str | Path | None = None,
    tgt_file: str | Path | None = None,
    tsv: str | Path | None = None,
    lowercase: bool = False,
    tokenize: str = "whitespace",
    max_len: int | None = None,
) -> Pairs:
    """Sentence pairs from exactly one source: a registered corpus, two aligned files, or a TSV.

    Args:
        data: a registered corpus name (``multi30k``), read in either direction.
        split: ``train``, ``valid`` or ``test`` of ``data``; files have no splits and ignore it.
        src_lang, tgt_lang: the corpus languages to translate from and to.
        src_file, tgt_file: aligned UTF-8 text files, one sentence per line.
        tsv: a UTF-8 file of ``source<TAB>target`` lines (blank lines are empty pairs).
        lowercase: lowercase every line before splitting it.
        tokenize: how files are split into tokens: ``whitespace`` or ``moses`` (in
            ``src_lang`` and ``tgt_lang``); a registered corpus is read as it is stored, already
            tokenized.
        max_len: cut each side to at most this many tokens (None: no limit); counted in
            ``Pairs.truncated``.

    Pairs with an empty side are dropped and counted in
    ``Pairs.skipped_empty``; nothing is printed, the caller reports both counts.

    Raises:
        ConfigError: not exactly one source given, one of src_file/tgt_file missing, a language
            the corpus does not have, src_lang == tgt_lang, max_len < 1.
        DataError: unknown corpus or split, missing/empty/non-UTF-8 file, files of different
            line counts, a TSV line without exactly one tab, no pair left after skipping.
    """
    given = [data is not None, src_file is not None or tgt_file is not None, tsv is not None]
    if sum(given) != 1:
        raise ConfigError(
            "give exactly one data source: a corpus name, src_file and tgt_file, or a tsv file"
        )
    check("max_len", max_len)  # None: no limit
    check_choice("tokenize", tokenize, TOKENIZERS)
    if data is not None:
        files = [corpus_file(data, split, lang) for lang in (src_lang, tgt_lang)]
        if src_lang == tgt_lang:
            raise ConfigError(
                f"source and target language are both {src_lang!r}; choose two different languages"
            )
        src_lines, tgt_lines = _aligned(*(fetch(f) for f in files))
        where = f"{data} {split} ({src_lang}-{tgt_lang})"
        tokenize = "whitespace"  # the stored files are tokenized already
    elif tsv is not None:
        src_lines, tgt_lines = _tsv_columns(tsv)
        where = str(tsv)
    else:
        if src_file is None or tgt_file is None:
            raise ConfigError(
                "aligned files come in pairs: give both src_file and tgt_file, or use a tsv file"
            )
        src_lines, tgt_lines = _aligned(src_file, tgt_file)
        where = f"{src_file} and {tgt_file}"

    pairs = Pairs()
    for s_line, t_line in zip(src_lines, tgt_lines, strict=True):
        s = split_words(s_line, tokenize, src_lang, lowercase)
        t = split_words(t_line, tokenize, tgt_lang, lowercase)
        if not s or not t:
            pairs.skipped_empty += 1
            continue
        if max_len is not None and (len(s) > max_len or len(t) > max_len):
            s, t = s[:max_len], t[:max_len]
            pairs.truncated += 1
        pairs.src.append(s)
        pairs.tgt.append(t)
    if not pairs.src:
        raise DataError(
            f"{where} has no sentence pair with both sides non-empty "
            f"({pairs.skipped_empty} skipped); give files with some aligned text"
        )
    return pairs


# ---- vocabularies and ids ----------------------------------------------------------------------
def build_vocabs(
    pairs: Pairs, min_freq: int = 2, max_size: int | None = None
) -> tuple[Vocab, Vocab]:
    """Source and target vocabularies from the training pairs.

    Args:
        min_freq: rarer tokens map to ``<unk>``.
        max_size: largest size of each vocabulary, the 4 reserved tokens included.

    Returns:
        ``(src_vocab, tgt_vocab)``, each with ``<pad> <unk> <bos> <eos>`` as ids 0..3.
    """
    src, tgt = (Counter(tok for sent in side for tok in sent) for side in (pairs.src, pairs.tgt))
    return Vocab.build(src, min_freq, max_size), Vocab.build(tgt, min_freq, max_size)


def encode_pairs(
    pairs: Pairs, src_vocab: Vocab, tgt_vocab: Vocab
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Token lists -> int64 id arrays.

    Returns:
        ``(src_ids, tgt_ids)``: ``src_ids[i]`` is tokens + ``<eos>``, shape (len + 1,);
        ``tgt_ids[i]`` is ``<bos>`` + tokens + ``<eos>``, shape (len + 2,).
    """
    if len(pairs.src) != len(pairs.tgt):
        raise DataError(
            f"pairs are not aligned: {len(pairs.src)} sources and {len(pairs.tgt)} targets; "
            "build them with load_pairs"
        )
    tgt_bos = np.array([tgt_vocab.id_of(BOS)], dtype=np.int64)
    tgt_eos = np.array([tgt_vocab.id_of(EOS)], dtype=np.int64)
    src_ids = [source_ids(s, src_vocab) for s in pairs.src]
    tgt_ids = [np.concatenate([tgt_bos, tgt_vocab.encode(t), tgt_eos]) for t in pairs.tgt]
    return src_ids, tgt_ids


def source_ids(tokens: list[str], src_vocab: Vocab) -> np.ndarray:
    """Source ids closed by ``<eos>``, as the encoder reads them."""
    return np.append(src_vocab.encode(tokens), src_vocab.id_of(EOS)).astype(np.int64)


# ---- batches -----------------------------------------------------------------------------------
@dataclass
class Batch:
    """One padded batch of N pairs (batch-first, ``<pad>`` = 0 after each sequence).

    Attributes:
        src: (N, S) int64 source ids, each row tokens + ``<eos>``.
        src_len: (N,) int64 valid source lengths.
        tgt: (N, T) int64 target ids, each row ``<bos>`` + tokens + ``<eos>``.
        tgt_len: (N,) int64 valid target lengths (``<bos>`` and ``<eos>`` included).
        index: (N,) int64 positions of these pairs in the encoded lists.
    """

    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor
    tgt_len: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.src.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with every tensor on ``device``."""
        return Batch(*(x.to(device) for x in vars(self).values()))


class BucketBatches:
    """Batches of pairs with similar source lengths, to limit padding.

    Each epoch (when shuffling): the pairs are shuffled, then sorted by source length (target
    length breaking ties) within windows of ``bucket * batch_size`` pairs, cut into batches of
    ``batch_size``, and the batch order is shuffled. Windows keep some randomness in which pairs
    share a batch; a full sort would give the same batches every epoch. The order depends only
    on ``(seed, epoch)``.

    With ``shuffle=False`` the pairs stay in their original order: batch k holds pairs
    ``k * batch_size`` onwards, for evaluation and translation where output order matters.

    Args:
        src_ids, tgt_ids: aligned id arrays, as from ``encode_pairs``.
        batch_size: pairs per batch (the last batch may be smaller).
        shuffle: bucket and shuffle (training) or keep the order (evaluation).
        seed: seed of the per-epoch shuffles (>= 0).
        bucket: window size in batches for the length sort; 1 sorts within each batch only.
        pad_id: the padding id of both vocabularies.
    """

    def __init__(
        self,
        src_ids: Sequence[np.ndarray],
        tgt_ids: Sequence[np.ndarray],
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        bucket: int = 50,
        *,
        pad_id: int = 0,
    ):
        if len(src_ids) != len(tgt_ids):
            raise DataError(
                f"{len(src_ids)} source and {len(tgt_ids)} target sequences; "
                "give aligned lists, as from encode_pairs"
            )
        if len(src_ids) == 0:
            raise DataError("no sentence pairs to batch; load some data first")
        for name, value in (("batch_size", batch_size), ("bucket", bucket)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
        self.src_ids, self.tgt_ids = list(src_ids), list(tgt_ids)
        self.batch_size, self.bucket, self.shuffle = batch_size, bucket, shuffle
        self.seed, self.pad_id = int(seed), pad_id
        self.src_lens = np.array([len(s) for s in self.src_ids], dtype=np.int64)
        self.tgt_lens = np.array([len(t) for t in self.tgt_ids], dtype=np.int64)

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.src_ids) // self.batch_size)

    def order(self, e: int) -> list[np.ndarray]:
        """The pair indices of each batch of epoch ``e``, in the order they are yielded."""
        if isinstance(e, bool) or not isinstance(e, int | np.integer) or e < 0:
            raise ConfigError(f"epoch must be an integer >= 0, got {e!r}")
        n = len(self.src_ids)
        if not self.shuffle:
            return [np.arange(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, int(e)])
        perm = rng.permutation(n)
        window = self.bucket * self.batch_size
        parts = []
        for w in range(0, n, window):
            idx = perm[w : w + window]
            parts.append(idx[np.lexsort((self.tgt_lens[idx], self.src_lens[idx]))])
        ordered = np.concatenate(parts)
        # Windows are whole batches, so only the very last batch can be short.
        batches = [ordered[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def epoch(self, e: int) -> Iterator[Batch]:
        """The batches of epoch ``e`` (>= 0); every pair appears in exactly one batch."""
        order = self.order(e)  # a bad epoch fails here, not at the first next()
        return (self.batch(idx) for idx in order)

    def batch(self, idx: np.ndarray) -> Batch:
        """The padded batch of the pairs at positions ``idx``."""
        src, src_len = pad_batch([self.src_ids[i] for i in idx], self.pad_id)
        tgt, tgt_len = pad_batch([self.tgt_ids[i] for i in idx], self.pad_id)
        return Batch(src, src_len, tgt, tgt_len, torch.from_numpy(idx.astype(np.int64)))


def padding_fraction(batches: Iterable[Batch]) -> float:
    """Share of pad positions among all source and target positions of ``batches`` (0..1)."""
    pads = total = 0
    for b in batches:
        for ids, lens in ((b.src, b.src_len), (b.tgt, b.tgt_len)):
            size = ids.numel()
            pads += size - int(lens.sum())
            total += size
    return pads / total if total else 0.0
