"""ARPA files: write a Kneser-Ney ``NGramLM``, query any ARPA file by words.

An ARPA file holds a backoff model: p(w|h) = P(hw) if hw is listed, else b(h) p(w|h'), with
log10 values and b(h) = 1 when h is not listed or has no backoff field. Interpolated KN and
modified KN are such models: P(hw) is the interpolated p_k(w|h) and b(h) is the gamma of h,
so the file gives exactly the probabilities of ``NGramLM.token_logprobs``. The same per-row
probabilities fill a run's lean store (``lean_arrays``, read by ``rnnkit.ngram.store``).

Symbols: ``<s>`` is the ``<bos>`` id, ``</s>`` the tokenizer's boundary (``<eos>`` for words,
a newline for characters), ``<unk>`` the unknown token. ARPA is whitespace-separated, so white
space and control characters in a token are escaped reversibly: ``\\s`` space, ``\\t``, ``\\n``,
``\\r``, ``\\uXXXX`` for any other (a character model has a space token), and ``\\\\`` for a
backslash that would otherwise start one of these. A corpus token spelled like one of the three
symbols is written as ``\\u003c...`` so that it stays a separate word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnkit.errors import ConfigError
from rnnkit.io import atomic_write_text
from rnnkit.text.vocab import BOS

if TYPE_CHECKING:
    from rnnkit.ngram.backoff import BackoffLM

BOS_SYM, EOS_SYM, UNK_SYM = "<s>", "</s>", "<unk>"
SYMBOLS = (BOS_SYM, EOS_SYM, UNK_SYM)
_ESCAPES = {" ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "s": " ", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPE_START = "\\strnu"  # a backslash before one of these is doubled
_ESCAPE_SEQ = re.compile(r"\\(?:([\\strn])|u([0-9a-fA-F]{4}))")
_DIGITS = "%.7f"  # log10 to 5e-8: scores round-trip far below 1e-6
NEVER = -99.0  # the log10 probability lmplz writes for <s>, which is never predicted
_CHUNK = 100_000  # entries formatted at a time: memory stays bounded, progress moves


def _needs_escape(c: str) -> bool:
    return c.isspace() or unicodedata.category(c) == "Cc"


def escape_token(token: str) -> str:
    """The ARPA spelling of a corpus token: no white space, reversible by ``unescape_token``.

    A backslash is doubled only where it would start an escape, so tokens such as PTB's
    ``1\\/2`` keep their spelling and other ARPA tools see the words of the raw text.
    """
    if token in SYMBOLS:
        return "\\u003c" + token[1:]
    if token.isprintable() and " " not in token and "\\" not in token:
        return token
    out = []
    for i, c in enumerate(token):
        if c == "\\":
            nxt = token[i + 1 : i + 2]
            out.append("\\\\" if nxt and (nxt in _ESCAPE_START or _needs_escape(nxt)) else c)
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif _needs_escape(c):
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def unescape_token(word: str) -> str:
    """Undo ``escape_token``; a backslash that starts no known escape is kept as it is."""
    if "\\" not in word:
        return word
    return _ESCAPE_SEQ.sub(
        lambda m: _UNESCAPES[m.group(1)] if m.group(1) else chr(int(m.group(2), 16)), word
    )


# ---------------------------------------------------------------------------------- writing
def write_arpa(lm, vocab, path: str | Path, progress: bool = False) -> list[int]:
    """Write a fitted ``kn`` or ``mkn`` ``NGramLM`` as an ARPA file (atomically).

    Listed at order k < n: every k-gram with a count plus every k-gram that is the context of
    a listed (k+1)-gram (such as ``<s> <s>``); order 1 lists every id but ``<pad>``; order n
    lists the counted n-grams. A listed context with a counted continuation carries its
    backoff weight log10 gamma.

    Args:
        lm: a fitted ``NGramLM`` with smoothing ``kn`` or ``mkn``.
        vocab: the ``Vocab`` the model was fitted with (V tokens).
        path: the file to write.
        progress: show a bar of the entries formatted (millions for a large corpus).

    Returns:
        the number of entries written per order.
    """
    from rnnkit.progress import progress_bar

    _check_writable(lm, vocab)
    entries = [int(m.sum()) for m in _listed(lm)]
    with progress_bar(sum(entries), enabled=progress, unit="entry", unit_scale=True) as bar:
        atomic_write_text(path, arpa_text(lm, vocab, bar.update))
    return entries


def _check_writable(lm, vocab) -> None:
    if getattr(lm, "counts", None) is None:
        raise ConfigError("the n-gram model is not fitted yet; call fit() before write_arpa")
    if lm.smoothing not in ("kn", "mkn"):
        raise ConfigError(
            f"ARPA files hold backoff models; {lm.smoothing} is not one: train with "
            "--smoothing kn or mkn"
        )
    if len(vocab) != lm.V or vocab.id_of(BOS) != lm.bos:
        raise ConfigError(
            f"the vocabulary ({len(vocab)} tokens) is not the one the model was fitted with "
            f"({lm.V} tokens); pass the model's own vocabulary"
        )


def _listed(lm) -> list[np.ndarray]:
    """Per order k (index k-1): (n_k,) bool, the table rows written to the file."""
    V, N, tables = lm.V, lm.order, lm.counts.tables
    listed = [t.counts > 0 for t in tables]
    for k in range(N - 1, 0, -1):  # a listed n-gram needs its context listed one order down
        listed[k - 1][tables[k].keys[listed[k]] // V] = True
    listed[0][:] = True
    listed[0][lm.pad] = False
    return listed


def _row_probs(lm) -> list[np.ndarray]:
    """p_k(w|h) of every row of every order's table: the interpolated value, which is what a
    backoff model stores for its listed n-grams."""
    probs = [np.asarray(lm._unigram, dtype=np.float64)]
    for k in range(2, lm.order + 1):
        table = lm.counts.tables[k - 1]
        g = np.where(lm.has_context[k - 1], lm.gamma[k - 1], 1.0)  # unseen context: pass p
        probs.append(lm.alpha[k - 1] + g[table.keys // lm.V] * probs[-1][table.suffix])
    return probs


def lean_arrays(lm) -> dict[str, np.ndarray]:
    """The ``BackoffLM`` arrays of a fitted kn or mkn ``NGramLM``: every row of its tables with
    its interpolated probability and, as a context, its backoff (log10, float32), keyed as the
    counts are. Exact: a row's stored value is what ``NGramLM`` computes for it, and a k-gram
    without a row backs off as ``NGramLM`` interpolates (an unseen context weighs 1)."""
    probs = _row_probs(lm)
    out = {}
    for k in range(1, lm.order + 1):
        with np.errstate(divide="ignore"):
            out[f"prob.{k}"] = np.log10(probs[k - 1]).astype(np.float32)
            if k < lm.order:
                gamma = np.where(lm.has_context[k], lm.gamma[k], 1.0)
                out[f"backoff.{k}"] = np.log10(gamma).astype(np.float32)
        if k > 1:
            out[f"keys.{k}"] = np.ascontiguousarray(lm.counts.tables[k - 1].keys, dtype=np.int64)
    return out


def _token_columns(lm, k: int, rows: np.ndarray) -> list[np.ndarray]:
    """Token ids of the k-grams at ``rows`` of the order-k table, first token first."""
    V, tables = lm.V, lm.counts.tables
    cols = []
    r = rows
    for j in range(k, 1, -1):
        keys = tables[j - 1].keys[r]
        cols.append(keys % V)
        r = keys // V
    cols.append(r)  # order-1 rows are token ids
    return cols[::-1]


def _format(values: np.ndarray, never: np.ndarray | None = None) -> np.ndarray:
    with np.errstate(divide="ignore"):
        logs = np.log10(values)
    if never is not None:
        logs[never] = NEVER
    return np.array([_DIGITS % x for x in logs.tolist()], dtype=object)


def arpa_text(lm, vocab, done=None) -> str:
    """The ARPA file of ``lm`` as one string (see ``write_arpa``); ``done(n)`` is called as
    each chunk of ``n`` entries is formatted."""
    _check_writable(lm, vocab)
    sym = np.array([escape_token(t) for t in vocab.itos], dtype=object)  # (V,) ARPA spellings
    sym[[lm.bos, lm.boundary, vocab.unk_id]] = SYMBOLS
    listed = _listed(lm)
    probs = _row_probs(lm)
    N = lm.order
    sections = []
    for k in range(1, N + 1):
        order_rows = np.flatnonzero(listed[k - 1])
        lines = []
        for start in range(0, len(order_rows), _CHUNK):
            rows = order_rows[start : start + _CHUNK]
            first, *rest = _token_columns(lm, k, rows)
            words = sym[first]
            for col in rest:
                words = words + " " + sym[col]  # elementwise on object arrays
            # <s> of a kenlm-style model is never predicted: written as lmplz writes it
            never = (rows == lm.bos) if k == 1 and lm.bos_style == "kenlm" else None
            line = _format(probs[k - 1][rows], never) + "\t" + words
            if k < N:  # rows of order k are the contexts of order k+1
                has = lm.has_context[k][rows]
                line[has] = line[has] + "\t" + _format(lm.gamma[k][rows[has]])
            lines.extend(line.tolist())
            if done is not None:
                done(len(rows))
        sections.append(f"\\{k}-grams:\n" + "\n".join(lines) + "\n")
    header = "\\data\\\n" + "".join(f"ngram {k}={int(m.sum())}\n" for k, m in enumerate(listed, 1))
    return header + "\n" + "\n".join(sections) + "\n\\end\\\n"


# ---------------------------------------------------------------------------------- reading
class ArpaLM:
    """An ARPA file queried by words: a word-level view of the ``BackoffLM`` that
    ``read_backoff`` reads (the one ARPA parser), with each sentence padded to n-1 ``<s>``.

    A word is looked up by its unescaped spelling; ``<s>``, ``</s>`` and ``<unk>`` always mean
    the symbols, and any other unknown word reads as ``<unk>`` (log10 -100 when the file has
    none, as KenLM adds it).

    Attributes:
        order: the highest order n.
        vocab: the unigram words in file order, unescaped (``<s>``, ``</s>``, ``<unk>`` as
            they are).
        counts: the number of n-grams per order.
        lm: the ``BackoffLM`` (``bos_style="padded"``).
    """

    def __init__(self, lm: BackoffLM):
        self.lm = lm
        self.order = lm.order
        self.counts = lm.counts
        self.vocab = [unescape_token(w) for w in lm.words]
        # unescaped word -> id; the three symbols always mean themselves
        self._ids = {w: i for i, w in enumerate(self.vocab) if lm.words[i] not in SYMBOLS}
        self._ids.update({BOS_SYM: lm.bos, EOS_SYM: lm.eos, UNK_SYM: lm.unk})

    def _encode(self, words: Sequence[str]) -> np.ndarray:
        return np.array([self._ids.get(w, self.lm.unk) for w in words], dtype=np.int64)

    def logprob10(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context) by the ARPA backoff rule; the last n-1 words of ``context``
        count (a shorter one is used as it is). Unknown words read as ``<unk>``."""
        ctx = self._encode(context)[max(len(context) - (self.order - 1), 0) :]
        return float(self.lm.logprobs10(ctx)[self._ids.get(word, self.lm.unk)])

    def token_logprobs(self, words: Sequence[str]) -> np.ndarray:
        """Natural-log probability of every word, (len(words),).

        Each sentence starts from ``<s>`` * (n-1); after a ``</s>`` the context starts over.
        """
        return self.lm.token_logprobs(self._encode(words))[0]

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """Natural-log probability of a sentence given as words (ending with ``</s>``)."""
        return float(self.token_logprobs(words).sum())


def read_arpa(path: str | Path) -> ArpaLM:
    """Read an ARPA file with ``read_backoff`` into an ``ArpaLM``.

    Raises:
        DataError: naming the file and line of the first problem (see ``read_backoff``).
    """
    from rnnkit.ngram.backoff import read_backoff

    lm = read_backoff(path)
    lm.bos_style = "padded"
    return ArpaLM(lm)
