"""N-gram counts in sorted numpy arrays, one table per order.

An n-gram of order k is keyed by ``rank(its first k-1 tokens) * V + last token``, where the
rank is the row of that (k-1)-gram in the table of order k-1 and order 1 is keyed by the token
id itself. Keys stay small whatever the order (a rank is below the number of distinct
(k-1)-grams), each table is one sorted ``int64`` array plus its counts, and the n-grams that
share a context sit next to each other, so per-context sums are one ``bincount``.

A sentence starts with ``<bos>`` padding: one, as KenLM and standard decoders do
(``bos_style="kenlm"``), or ``order - 1`` as NLTK pads on the left (``"padded"``), so that every
token is predicted from a full-length context. A sentence ends with the tokenizer's boundary
token (``<eos>`` for words, a newline for characters), which is predicted like any token.
Counted are the n-grams that end at a predicted token, of every order up to ``order``; the
n-grams made only of padding are kept in the tables with count 0, because they are the contexts
of the first tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.errors import DataError

BOS_STYLES = ("kenlm", "padded")


def bos_padding(order: int, bos_style: str = "padded") -> int:
    """How many ``<bos>`` start a sentence: ``order - 1`` (padded), one (kenlm; none for a
    unigram model, which has no context)."""
    return order - 1 if bos_style == "padded" else min(1, order - 1)


def pad_sentences(ids: np.ndarray, boundary: int, bos: int, order: int, bos_style="padded"):
    """Split a token stream into sentences at ``boundary`` and pad each on the left.

    Args:
        ids: (L,) token ids; a sentence ends with (and includes) ``boundary``. A last sentence
            without one ends at the end of the stream.
        bos_style: ``"padded"`` (``order - 1`` ``bos``) or ``"kenlm"`` (one).
    Returns:
        tokens (P,) int64: the padded stream, ``bos`` before each sentence;
        predicted (P,) bool: True at the original tokens;
        sentence (P,) int64: the sentence number of each position.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    pad = bos_padding(order, bos_style)
    if len(ids) == 0:
        return (np.empty(0, np.int64), np.empty(0, bool), np.empty(0, np.int64))
    ends = np.flatnonzero(ids == boundary)
    if len(ends) == 0 or ends[-1] != len(ids) - 1:
        ends = np.append(ends, len(ids) - 1)
    lengths = np.diff(np.concatenate([[-1], ends]))  # tokens per sentence
    sent_of_token = np.repeat(np.arange(len(ends)), lengths)
    pos = np.arange(len(ids)) + pad * (sent_of_token + 1)
    tokens = np.full(len(ids) + pad * len(ends), bos, dtype=np.int64)
    tokens[pos] = ids
    predicted = np.zeros(len(tokens), dtype=bool)
    predicted[pos] = True
    sentence = np.repeat(np.arange(len(ends)), lengths + pad)
    return tokens, predicted, sentence


def sentence_context(context, order: int, bos: int, unk: int, bos_style: str) -> list[int]:
    """The last n-1 ids a next token is predicted from after ``<bos>`` padding and ``context``
    (kenlm style: a ``<bos>`` inside the sentence reads as ``unk``)."""
    context = [int(t) for t in context]
    if bos_style == "kenlm":
        context = [unk if t == bos else t for t in context]
    ctx = [bos] * bos_padding(order, bos_style) + context
    return ctx[max(len(ctx) - (order - 1), 0) :] if order > 1 else []


def row_of(keys: list[np.ndarray], V: int, gram) -> int:
    """Row of the n-gram ``gram`` (ids) in ``keys[len(gram) - 1]`` of tables keyed as the counts
    are, or -1."""
    if not gram or len(gram) > len(keys):
        return -1
    r = gram[0] if 0 <= gram[0] < V else -1
    for k, w in enumerate(gram[1:], start=2):
        if r < 0:
            return -1
        table, key = keys[k - 1], r * V + w
        i = int(np.searchsorted(table, key))
        r = i if i < len(table) and table[i] == key else -1
    return r


def _grams(tokens: np.ndarray, sentence: np.ndarray, rank: np.ndarray, k: int, V: int):
    """``(pos, keys)``, (M,) each: the start and key of every k-gram of the padded stream that
    stays within a sentence and whose first k-1 tokens have a row in ``rank`` (P,) (-1: none)."""
    start = np.arange(max(len(tokens) - k + 1, 0))
    ok = (sentence[start] == sentence[start + k - 1]) & (rank[start] >= 0)
    pos = start[ok]
    return pos, rank[pos] * V + tokens[pos + k - 1]


def listed_grams(keys: list[np.ndarray], V: int, tokens: np.ndarray, sentence: np.ndarray):
    """The n-grams of a padded stream that tables keyed as the counts are list, order by order.

    Args:
        keys: ``keys[k-1]`` (n_k,) sorted keys of order k (order 1: unused, the id is the row).
        tokens, sentence: (P,) from ``pad_sentences``.
    Yields:
        per order k = 1, 2, ...: ``(pos, row)``, (M_k,) int64 each: the start of every k-gram
        that stays within a sentence and is listed, and its row in the table of order k.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    pos = np.flatnonzero((tokens >= 0) & (tokens < V))
    row = tokens[pos]
    yield pos, row
    # past the end, a sentence no position is in: one test keeps a k-gram within the stream
    # and within its sentence
    sentence = np.append(sentence, np.full(len(keys), -1, dtype=np.int64))
    for k in range(2, len(keys) + 1):
        table = keys[k - 1]
        ok = sentence[pos] == sentence[pos + k - 1]
        pos, row = pos[ok], row[ok]
        last = tokens[pos + k - 1]
        if len(table) and len(pos):
            # searchsorted narrows its range from one query to the next, so the queries go in
            # sorted: pos is kept in the order of the shorter keys, runs a stable sort exploits
            by_key = _key_order(row, last, V, k)
            pos, key = pos[by_key], row[by_key] * V + last[by_key]
            # sorted, equal keys sit together: each distinct key is searched once
            first = np.empty(len(key), bool)
            first[0] = True
            np.not_equal(key[1:], key[:-1], out=first[1:])
            distinct = key[first]
            row = np.minimum(np.searchsorted(table, distinct), len(table) - 1)
            which = np.cumsum(first) - 1  # the distinct key of each query
            hit = (table[row] == distinct)[which]
            pos, row = pos[hit], row[which[hit]]
        else:
            pos, row = pos[:0], row[:0]
        yield pos, row


def _key_order(context: np.ndarray, last: np.ndarray, V: int, k: int) -> np.ndarray:
    """The stable order of the keys ``context * V + last``. Bigram contexts are token ids in
    stream order, not runs: two 16-bit radix passes (numpy's stable sort of uint16) sort them
    in linear time where a comparison sort of the keys takes several times longer."""
    if k == 2 and V <= 1 << 16:
        by_last = np.argsort(last.astype(np.uint16), kind="stable")
        return by_last[np.argsort(context[by_last].astype(np.uint16), kind="stable")]
    return np.argsort(context * V + last, kind="stable")


@dataclass
class Table:
    """The n-grams of one order k.

    keys (n_k,) int64, sorted: ``context_rank * V + token`` (order 1: the token id);
    counts (n_k,) int64: occurrences ending at a predicted token (0 for padding-only n-grams);
    suffix (n_k,) int64: row of the last k-1 tokens in the table of order k-1 (order 1: -1).
    """

    keys: np.ndarray
    counts: np.ndarray
    suffix: np.ndarray


class NGramCounts:
    """Counts of every order 1..``order`` of a padded corpus (see the module docstring).

    Args:
        order: the highest order n (>= 1).
        vocab_size: V; every token id is in ``[0, V)``.
    """

    def __init__(self, order: int, vocab_size: int, tables: list[Table] | None = None):
        self.order = order
        self.V = vocab_size
        self.tables: list[Table] = tables or []

    @classmethod
    def count(
        cls,
        tokens: np.ndarray,
        predicted: np.ndarray,
        sentence: np.ndarray,
        order: int,
        vocab_size: int,
    ) -> NGramCounts:
        """Count a padded stream from ``pad_sentences``."""
        V = vocab_size
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= V):
            raise DataError(f"token ids must lie in [0, {V}); encode the text with its vocab")
        self = cls(order, V)
        unigram_counts = np.bincount(tokens[predicted], minlength=V).astype(np.int64)
        self.tables.append(
            Table(np.arange(V, dtype=np.int64), unigram_counts, np.full(V, -1, np.int64))
        )
        rank = tokens  # rank of the (k-1)-gram starting at each position (-1: none)
        P = len(tokens)
        for k in range(2, order + 1):
            pos, keys = _grams(tokens, sentence, rank, k, V)
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            counts = np.bincount(inverse, weights=predicted[pos + k - 1], minlength=len(uniq))
            suffix = rank[pos[first] + 1]
            self.tables.append(Table(uniq, counts.astype(np.int64), suffix))
            rank = np.full(P, -1, dtype=np.int64)
            rank[pos] = inverse
        return self

    @property
    def sizes(self) -> list[int]:
        """Number of n-grams with a nonzero count, per order."""
        return [int((t.counts > 0).sum()) for t in self.tables]

    def lookup(self, tokens: np.ndarray, sentence: np.ndarray) -> list[np.ndarray]:
        """Row of the k-gram starting at each position, for every order k (index k-1).

        Returns a list of (P,) int64 arrays; -1 where that k-gram is not in the table (or
        would cross a sentence end).
        """
        ranks = []
        for pos, row in listed_grams([t.keys for t in self.tables], self.V, tokens, sentence):
            rank = np.full(len(tokens), -1, dtype=np.int64)
            rank[pos] = row
            ranks.append(rank)
        return ranks

    def first_tokens(self) -> list[np.ndarray]:
        """Per order k (index k-1): (n_k,) the first token of every row."""
        first = [self.tables[0].keys]
        for t in self.tables[1:]:
            first.append(first[-1][t.keys // self.V])
        return first

    def row_of(self, gram: list[int] | tuple[int, ...]) -> int:
        """Row of one n-gram in the table of its order, or -1."""
        return row_of([t.keys for t in self.tables], self.V, gram)

    def continuations(self, k: int, context_row: int) -> slice:
        """Rows of the table of order k whose first k-1 tokens are ``context_row``."""
        keys = self.tables[k - 1].keys
        lo = np.searchsorted(keys, context_row * self.V)
        hi = np.searchsorted(keys, (context_row + 1) * self.V)
        return slice(int(lo), int(hi))

    def nbytes(self) -> int:
        return sum(t.keys.nbytes + t.counts.nbytes + t.suffix.nbytes for t in self.tables)
