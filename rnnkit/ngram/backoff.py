"""``BackoffLM``: an ARPA file read into compact arrays, scored the way KenLM scores it.

Each order k keeps three flat arrays, whatever the file's size: ``keys`` (n_k,) int64, sorted,
``context_row * V + word`` as in ``rnnkit.ngram.counts`` (order 1: the row is the word id);
``prob`` (n_k,) float32 log10 p; ``backoff`` (n_k,) float32 log10 b (orders below n). Reading
streams the file a block of lines at a time into these arrays, so no Python object outlives its
block; the float32 values are what KenLM keeps too.

Scoring follows KenLM's defaults: a sentence starts with one ``<s>`` (never predicted) and ends
with ``</s>`` (predicted); p(w|h) = P(hw) if hw is listed, else b(h) p(w|h'), with b = 1 for a
context that is not listed. A word missing from the file reads as ``<unk>``; a file without
``<unk>`` gets it with log10 p = -100, as KenLM adds it.
"""

from __future__ import annotations

import math
import re
import warnings
from itertools import repeat
from pathlib import Path

import numpy as np

from rnnkit.errors import DataError
from rnnkit.ngram.arpa import (
    BOS_SYM,
    EOS_SYM,
    UNK_SYM,
    escape_token,
    unescape_token,
)
from rnnkit.ngram.counts import listed_grams, pad_sentences, row_of, sentence_context
from rnnkit.ngram.sampling import sample_ids

UNK_MISSING = -100.0  # log10 p(<unk>) when the file has none (KenLM's default)
_BLOCK_BYTES = 1 << 20  # bytes parsed at a time (whole lines): small temporaries
KENLM_MAGIC = b"mmap lm "  # the first bytes of a KenLM binary file
# ASCII digits (\d would take any script's), converted only when few enough: Python refuses
# int() of more than 4300 digits.
_COUNT_LINE = re.compile(r"ngram\s+([0-9]+)\s*=\s*([0-9]+)")
_MAX_DIGITS = 18


class BackoffLM:
    """A backoff n-gram model in arrays (see the module docstring).

    Args:
        keys, prob, backoff: per order, the arrays above (``backoff`` of order n is empty).
        bos, eos, unk: ids of ``<s>``, ``</s>``, ``<unk>``.
        words: the unigram words as a file spells them (the id of a word is its index);
            None for a run's lean store, whose ids are its vocabulary's.
        bos_style: ``"kenlm"`` (one ``<s>``, files and kenlm-style runs) or ``"padded"``
            (n-1 ``<s>``, padded runs).
    """

    def __init__(self, keys, prob, backoff, bos, eos, unk, words=None, bos_style="kenlm"):
        self.keys, self.prob, self.backoff = keys, prob, backoff
        self.V = len(prob[0])
        self.order = len(prob)
        self.bos, self.eos, self.unk = int(bos), int(eos), int(unk)
        self.words = words
        # corpus token -> id, for the tokens whose ARPA spelling the file lists
        self._token_ids = {
            t: i for i, w in enumerate(words or []) if escape_token(t := unescape_token(w)) == w
        }
        self._encoder: tuple[str | None, dict[str, int]] = (None, {})  # for the last boundary
        self.bos_style = bos_style

    @property
    def counts(self) -> list[int]:
        """Number of n-grams per order."""
        return [len(p) for p in self.prob]

    def nbytes(self) -> int:
        return sum(a.nbytes for arrays in (self.keys, self.prob, self.backoff) for a in arrays)

    # -------------------------------------------------------------------- tokens and ids
    def encode(self, tokens: list[str], boundary: str) -> np.ndarray:
        """Ids of corpus tokens (L,) for a file's model: ``boundary`` is ``</s>``, a token is
        looked up by its ARPA spelling (``escape_token``), an unknown one is ``<unk>``."""
        if self._encoder[0] != boundary:
            self._encoder = (boundary, {**self._token_ids, boundary: self.eos})
        # map() with a repeated default runs the lookups in C, no Python frame per token
        lookup = self._encoder[1].get
        return np.fromiter(map(lookup, tokens, repeat(self.unk)), np.int64, len(tokens))

    def decode(self, ids, boundary: str) -> list[str]:
        """Corpus tokens of ids: ``</s>`` is ``boundary``, other words unescaped."""
        return [boundary if i == self.eos else unescape_token(self.words[i]) for i in ids]

    # -------------------------------------------------------------------- scoring
    def token_logprobs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Natural-log probability of every token of a stream of ids, each sentence (ending
        with ``</s>``) from one ``<s>``. Returns (logprobs (L,), sentence index (L,))."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.V):
            raise DataError(f"token ids must lie in [0, {self.V}); encode the text with the model")
        if self.bos_style == "kenlm":
            ids = np.where(ids == self.bos, self.unk, ids)  # <s> only starts a sentence
        tokens, predicted, sentence = pad_sentences(
            ids, self.eos, self.bos, self.order, self.bos_style
        )
        # Per position of the padded stream: log10 P of the longest listed n-gram ending there
        # (its order in ``longest``), then the backoffs of the longer contexts before it.
        P = len(tokens) + 1  # a last slot for what follows the stream
        logp, bo = np.zeros(P), np.zeros(P)
        logp[:-1] = self.prob[0][tokens]  # every id is a listed unigram
        longest = np.ones(P, np.int8)
        contexts = []
        grams = listed_grams(self.keys, self.V, tokens, sentence)
        for k, (pos, row) in enumerate(grams, start=1):
            end = pos + k - 1
            if k > 1:
                logp[end] = self.prob[k - 1][row]
                longest[end] = k
            if k < self.order:
                contexts.append((end + 1, row))
        for k, (nxt, row) in enumerate(contexts, start=1):
            # this k-gram, the context of the token at nxt, backs off when that token's longest
            # listed n-gram is no longer than k
            keep = longest[nxt] <= k
            bo[nxt[keep]] += self.backoff[k - 1][row[keep]]
        ends = np.flatnonzero(predicted)
        return (logp[ends] + bo[ends]) * math.log(10), sentence[ends]

    def distribution(self, context=()) -> np.ndarray:
        """p(. | <s> context) over every id (V,); the last n-1 ids count."""
        ctx = sentence_context(context, self.order, self.bos, self.unk, self.bos_style)
        p = 10.0 ** self.logprobs10(ctx)
        if self.bos_style == "kenlm":
            p[self.bos] = 0.0  # -99 in a file: never predicted
        return p

    def logprobs10(self, ctx) -> np.ndarray:
        """log10 p(. | ctx) over every id (V,) by the backoff rule, ``ctx`` (at most n-1 ids)
        taken as it is: no ``<s>`` added."""
        ctx = [int(t) for t in ctx]
        logp = self.prob[0].astype(np.float64)
        for k in range(2, len(ctx) + 2):
            r = row_of(self.keys, self.V, ctx[len(ctx) - (k - 1) :])
            if r < 0:
                continue  # an unlisted context weighs 1; a longer one may still be listed
            lo, hi = np.searchsorted(self.keys[k - 1], [r * self.V, (r + 1) * self.V])
            logp = logp + self.backoff[k - 2][r]
            logp[self.keys[k - 1][lo:hi] % self.V] = self.prob[k - 1][lo:hi]
        return logp

    def generate(self, length, prefix=(), seed=None, temperature=1.0, banned=()) -> list[int]:
        """Sample ``length`` ids after ``prefix`` (which follows ``<s>``); after ``</s>`` the
        context starts over. ``banned`` ids (and ``<s>``) are never drawn."""
        return sample_ids(
            self.distribution, self.V, [self.bos, *banned], prefix, length, end=self.eos,
            keep=max(self.order - 1, 0), temperature=temperature, seed=seed,
            stuck="no word has probability here; the model cannot go on",
        )  # fmt: skip


def map_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only memory maps: pages are read when used.

    Raises ``ValueError`` for a header that is not the format's."""
    import json

    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < 1 << 24:
            raise ValueError("no safetensors header")
        header = json.loads(f.read(size))
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, stop = spec["data_offsets"]
        dtype = np.dtype(dtypes[spec["dtype"]])
        (n,) = spec["shape"]
        if stop - start != n * dtype.itemsize:
            raise ValueError(f"{name}: its size does not match its shape")
        offset = 8 + size + start
        mapped = np.memmap(path, dtype, "r", offset, (n,)) if n else np.zeros(0, dtype)
        # a plain ndarray view of the map: indexing skips np.memmap's Python-level overhead
        out[name] = mapped.view(np.ndarray)
    return out


# ------------------------------------------------------------------------------------ reading
def read_backoff(path: str | Path) -> BackoffLM:
    """Read an ARPA file into a ``BackoffLM``, a block of bytes at a time.

    Lines before ``\\data\\`` are ignored; fields are split on ASCII blanks. Every listed
    n-gram's context (its first n-1 words) must be listed one order down, as ``lmplz``, SRILM
    and rnnkit write them.

    Raises:
        DataError: one line naming the file and line of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file; give an ARPA file or an n-gram run directory")
    try:
        with open(path, "rb") as f:
            return _Reader(path, f).read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 ({e.reason}); give a UTF-8 ARPA file") from e
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or type(e).__name__})") from e


_BLANKS = np.zeros(256, bool)
_BLANKS[[9, 10, 11, 12, 13, 32]] = True  # ARPA tools split on ASCII blanks only
_NL, _BACKSLASH = 10, 92


class _Block:
    """The fields of a block of whole lines (bytes), found with array operations.

    starts, ends: (T,) byte span of every field; line: (T,) its line in the block;
    first: (T,) True for the first field of a line.
    """

    def __init__(self, data: bytes):
        self.data = data
        self.arr = arr = np.frombuffer(data, np.uint8)
        blank = _BLANKS[arr]
        edge = np.diff(np.concatenate([[0], (~blank).view(np.int8), [0]]))
        self.starts = np.flatnonzero(edge == 1)
        self.ends = np.flatnonzero(edge == -1)
        self.line = np.searchsorted(np.flatnonzero(arr == _NL), self.starts)
        self.first = np.concatenate([[True], np.diff(self.line) != 0])

    def text(self, fields: np.ndarray) -> list[str]:
        """The fields at ``fields`` (indices into starts) as strings, in order."""
        if not len(fields):
            return []
        starts = self.starts[fields]
        size = self.ends[fields] - starts + 1  # each field and the blank after it
        stop = np.cumsum(size)
        index = np.arange(stop[-1]) + np.repeat(starts - (stop - size), size)
        out = self.arr[index]
        out[stop - 1] = _NL  # one separator that no field holds
        return out.tobytes().decode("utf-8").split("\n")[:-1]


class _Reader:
    def __init__(self, path: Path, f):
        self.path, self.f, self.lineno, self.rest = path, f, 0, b""

    def fail(self, lineno: int, problem: str) -> DataError:
        return DataError(f"{self.path}, line {lineno}: {problem}; fix or rewrite the ARPA file")

    def next_line(self) -> str | None:
        """One line, decoded; None at the end of the file."""
        if self.rest:
            i = self.rest.find(b"\n") + 1 or len(self.rest)
            line, self.rest = self.rest[:i], self.rest[i:]
        else:
            line = self.f.readline()
            if not line:
                return None
        self.lineno += 1
        return line.decode("utf-8")

    def expect(self, what: str, pattern: str) -> int:
        """Read the next line that is not blank, which must be ``what`` (the regular expression
        ``pattern`` tells); return its number."""
        while (line := self.next_line()) is not None:
            if text := line.strip():
                if not re.fullmatch(pattern, text):
                    raise self.fail(self.lineno, f"expected {what}, got {text[:40]!r}")
                return self.lineno
        raise self.fail(self.lineno, f"the file ends without {what}")

    def next_block(self) -> bytes:
        """Whole lines, about ``_BLOCK_BYTES`` of them; b"" at the end of the file."""
        data = self.rest + self.f.read(_BLOCK_BYTES)
        self.rest = b""
        if data and not data.endswith(b"\n"):
            data += self.f.readline()
        if data and not data.endswith(b"\n"):  # a last line without its line break
            data += b"\n"
        return data

    def read(self) -> BackoffLM:
        declared = self._header()
        order = len(declared)
        words: list[str] = []
        keys, prob, backoff = [], [], []
        for k in range(1, order + 1):
            header = self.expect(f"the section \\{k}-grams:", rf"\\0*{k}-grams:")
            w, p, b = self._section(k, order, words, keys, header)
            if len(p) != declared[k]:
                raise self.fail(
                    header,
                    f"section \\{k}-grams: has {len(p)} entries but \\data\\ declares "
                    f"{declared[k]}",
                )
            if k == 1:
                words = w
                p, b = self._add_symbols(words, p, b, header)
                keys.append(np.arange(len(words), dtype=np.int64))
            else:
                keys.append(w)
            prob.append(p)
            backoff.append(b if k < order else np.zeros(0, np.float32))
        self.expect("\\end\\ after the last section", r"\\end\\")
        bos, eos, unk = (words.index(s) for s in (BOS_SYM, EOS_SYM, UNK_SYM))
        return BackoffLM(keys, prob, backoff, bos, eos, unk, words)

    def _header(self) -> dict[int, int]:
        line = ""
        while line.strip() != "\\data\\":
            if (line := self.next_line()) is None:
                raise self.fail(1, "no \\data\\ line, so this is not an ARPA file")
        declared: dict[int, int] = {}
        while (line := self.next_line()) is not None and not line.lstrip().startswith("\\"):
            text = line.strip()
            if not text:
                continue
            m = _COUNT_LINE.fullmatch(text)
            if m is None:
                raise self.fail(self.lineno, f"expected 'ngram K=COUNT', got {text[:40]!r}")
            if max(len(m.group(1)), len(m.group(2))) > _MAX_DIGITS:
                raise self.fail(
                    self.lineno, f"an order or count of over {_MAX_DIGITS} digits in {text[:40]!r}"
                )
            k = int(m.group(1))
            if k != len(declared) + 1:
                raise self.fail(
                    self.lineno, f"expected the count of order {len(declared) + 1}, got {k}"
                )
            declared[k] = int(m.group(2))
        if line is not None:  # a section header: read again next
            self.rest = line.encode("utf-8") + self.rest
            self.lineno -= 1
        if not declared:
            raise self.fail(self.lineno + 1, "the \\data\\ block lists no n-gram counts")
        return declared

    def _section(self, k, order, words, keys, header):
        """Parse the lines of one section: (words or keys, log10 p, log10 b)."""
        empty = np.zeros(0, np.float32)
        parts = [(np.zeros(0, np.int64), empty, empty)]  # (words or keys, log10 p, log10 b)
        ids = {w: i for i, w in enumerate(words)}
        while True:
            data = self.next_block()
            if not data:
                break
            block = _Block(data)
            # a line whose first field starts with a backslash ends the section
            stop = np.flatnonzero(block.first & (block.arr[block.starts] == _BACKSLASH))
            if len(stop):
                cut = data.rfind(b"\n", 0, int(block.starts[stop[0]])) + 1
                data, self.rest = data[:cut], data[cut:] + self.rest
                block = _Block(data)
            first = self.lineno + 1
            self.lineno += data.count(b"\n")
            if len(block.starts):
                parts.append(self._block(k, order, block, first, ids, keys))
            if len(stop):
                break
        got_w, got_p, got_b = zip(*parts, strict=True)
        p, b = np.concatenate(got_p), np.concatenate(got_b)
        if k == 1:
            w = [x for part in got_w for x in part]
            if len(set(w)) != len(w):
                raise self.fail(header, "a word is listed twice in \\1-grams:")
            return w, p, b
        w = np.concatenate(got_w)
        by_key = np.argsort(w, kind="stable")
        w, p, b = w[by_key], p[by_key], b[by_key]
        if len(w) > 1 and not (np.diff(w) > 0).all():
            raise self.fail(header, f"an n-gram is listed twice in \\{k}-grams:")
        return w, p, b

    def _block(self, k, order, block: _Block, first: int, ids, keys):
        line_first = np.flatnonzero(block.first)  # (M,) the first field of every line
        n_fields = np.diff(np.append(line_first, len(block.starts)))
        lines = block.line[line_first]  # line of each entry within the block
        bad = np.flatnonzero((n_fields < k + 1) | (n_fields > k + 1 + (k < order)))
        if len(bad):
            allowed = f"{k + 1} or {k + 2}" if k < order else f"{k + 1}"
            i = int(bad[0])
            raise self.fail(
                first + int(lines[i]), f"a {k}-gram line needs {allowed} fields, got {n_fields[i]}"
            )
        p = self._numbers(block, line_first, first + lines)
        b = np.zeros(len(line_first), np.float32)
        with_b = np.flatnonzero(n_fields == k + 2)
        if len(with_b):
            b[with_b] = self._numbers(block, line_first[with_b] + k + 1, first + lines[with_b])
        word_fields = (line_first[:, None] + np.arange(1, k + 1)).reshape(-1)
        text = block.text(word_fields)
        if k == 1:
            return text, p, b
        V = len(ids)
        cols = np.fromiter(map(ids.get, text, repeat(-1)), np.int64, len(text)).reshape(-1, k)
        missing = np.flatnonzero((cols < 0).any(axis=1))
        if len(missing):
            i = int(missing[0])
            word = next(w for w, c in zip(text[i * k : i * k + k], cols[i], strict=True) if c < 0)
            raise self.fail(first + int(lines[i]), f"the word {word[:40]!r} is not in \\1-grams:")
        rank = cols[:, 0]
        for j in range(2, k):  # the row of the context, one order at a time
            key = rank * V + cols[:, j - 1]
            table = keys[j - 1]
            row = np.minimum(np.searchsorted(table, key), max(len(table) - 1, 0))
            found = table[row] == key if len(table) else np.zeros(len(key), bool)
            if not found.all():
                i = int(np.flatnonzero(~found)[0])
                raise self.fail(
                    first + int(lines[i]),
                    f"the context {' '.join(text[i * k : i * k + k - 1])[:60]!r} of this "
                    f"{k}-gram is not listed in \\{k - 1}-grams:",
                )
            rank = row
        return rank * V + cols[:, k - 1], p, b

    def _numbers(self, block: _Block, fields: np.ndarray, linenos: np.ndarray) -> np.ndarray:
        """The log10 numbers at ``fields``, parsed by numpy in one call (line by line only to
        name a bad one)."""
        texts = block.text(fields)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                joined = " ".join(texts)
                x = np.fromstring(joined, dtype=np.float64, sep=" ")
            ok = len(x) == len(texts) and not np.isnan(x).any() and "_" not in joined
        except (ValueError, DeprecationWarning):
            ok = False
        if not ok:
            i = next(i for i, t in enumerate(texts) if not _is_number(t))
            raise self.fail(int(linenos[i]), f"{texts[i][:40]!r} is not a log10 number")
        return x.astype(np.float32)

    def _add_symbols(self, words, p, b, header):
        for sym in (BOS_SYM, EOS_SYM):
            if sym not in words:
                raise self.fail(header, f"\\1-grams: has no {sym}, which every sentence needs")
        if UNK_SYM not in words:  # KenLM adds it too
            words.append(UNK_SYM)
            p = np.append(p, np.float32(UNK_MISSING))
            b = np.append(b, np.float32(0.0))
        return p, b


def _is_number(text: str) -> bool:
    try:
        return not math.isnan(float(text)) and "_" not in text
    except ValueError:
        return False
