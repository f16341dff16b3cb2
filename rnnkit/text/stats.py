"""Corpus statistics on id arrays: n-gram frequencies, Zipf exponent, a rank-frequency plot.

Everything works on the flat ``int`` id array from ``rnnkit.text.corpus.encode_text`` and stays
in numpy: an n-gram is packed into one ``int64`` key (base ``vocab_size``) and counted with
``np.unique``, so millions of tokens take well under a second and no Python tuples are built.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rnnkit.figures import new_figure, save_figure
from rnnkit.text.vocab import Vocab

_INT64_MAX = np.iinfo(np.int64).max
NGRAM_NAMES = {1: "unigrams", 2: "bigrams", 3: "trigrams"}


def _as_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}); got {ids.min()}..{ids.max()}")
    # int64 before any arithmetic: int32 keys would overflow for bigrams of a 50k vocabulary.
    return ids.astype(np.int64, copy=False)


def ngram_frequencies(ids: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """Counts of every distinct n-gram of ``ids``, sorted in descending order.

    Args:
        ids: token ids, shape (num_tokens,), values in ``[0, vocab_size)``.
        n: n-gram order (1 = unigrams).
        vocab_size: number of possible ids; the base of the n-gram key.

    Returns:
        int64 array of shape (num_distinct_ngrams,); it sums to ``num_tokens - n + 1``
        (empty when there are fewer than ``n`` tokens).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids = _as_ids(ids, vocab_size)
    windows = ids.size - n + 1
    if windows <= 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        counts = np.bincount(ids, minlength=vocab_size)
        counts = counts[counts > 0]
    elif vocab_size**n - 1 <= _INT64_MAX:  # Python ints: this test itself cannot overflow.
        keys = np.zeros(windows, dtype=np.int64)
        for i in range(n):
            keys = keys * vocab_size + ids[i : i + windows]
        _, counts = np.unique(keys, return_counts=True)
    else:
        # The key would overflow int64: count the (windows, n) rows directly (slower).
        rows = np.lib.stride_tricks.sliding_window_view(ids, n)
        _, counts = np.unique(rows, axis=0, return_counts=True)
    return np.sort(counts.astype(np.int64))[::-1]


def zipf_exponent(freqs: np.ndarray, top: int = 1000, min_count: int = 5) -> float:
    """Zipf exponent ``s`` of ``freq ~ rank**-s``, from a least-squares fit in log-log space.

    The fit uses the ``top`` most frequent ranks and drops ranks seen fewer than ``min_count``
    times, because sampling noise flattens the tail (every rare item has count 1 or 2) and would
    pull the slope towards 0. If that leaves fewer than two points, all top ranks are used.

    Args:
        freqs: frequencies in any order (they are sorted here).
        top: number of leading ranks to fit.
        min_count: smallest frequency that enters the fit.

    Returns:
        The negated slope; ``nan`` when there are fewer than two nonzero frequencies.
    """
    f = np.sort(np.asarray(freqs, dtype=np.float64))[::-1][:top]
    f = f[f > 0]
    frequent = int(np.count_nonzero(f >= min_count))
    if frequent >= 2:
        f = f[:frequent]
    if f.size < 2:
        return math.nan
    log_rank = np.log(np.arange(1, f.size + 1, dtype=np.float64))
    slope = np.polyfit(log_rank, np.log(f), 1)[0]
    return float(-slope)


def corpus_stats(ids: np.ndarray, vocab: Vocab, top: int = 10) -> dict:
    """Summary statistics of an encoded corpus.

    Args:
        ids: token ids, shape (num_tokens,).
        vocab: the vocabulary that encoded ``ids``.
        top: how many of the most frequent tokens to list.

    Returns:
        A JSON-ready dict: ``num_tokens``, ``vocab_size`` (ids in the vocabulary, reserved ones
        included), ``distinct_tokens`` (ids that occur), ``top_tokens`` (list of
        ``{"token", "count"}``, most frequent first), ``zipf_exponent`` (unigrams; None when
        undefined), ``distinct_bigrams``, ``distinct_trigrams``.
    """
    ids = _as_ids(ids, len(vocab))
    counts = np.bincount(ids, minlength=len(vocab))
    # Stable sort on -count: ties keep id order, which Vocab made deterministic.
    order = np.argsort(-counts, kind="stable")[:top]
    exponent = zipf_exponent(counts)
    return {
        "num_tokens": int(ids.size),
        "vocab_size": len(vocab),
        "distinct_tokens": int(np.count_nonzero(counts)),
        "top_tokens": [
            {"token": vocab.id_to_token(int(i)), "count": int(counts[i])}
            for i in order
            if counts[i] > 0
        ],
        "zipf_exponent": None if math.isnan(exponent) else exponent,
        "distinct_bigrams": int(ngram_frequencies(ids, 2, len(vocab)).size),
        "distinct_trigrams": int(ngram_frequencies(ids, 3, len(vocab)).size),
    }


def _log_spaced(num: int, points: int = 2000) -> np.ndarray:
    """At most ``points`` 0-based indices spread evenly in log scale over ``range(num)``."""
    if num <= points:
        return np.arange(num)
    return np.unique(np.geomspace(1, num, points).astype(np.int64) - 1)


def plot_zipf(
    ids: np.ndarray, vocab_size: int, path: str | Path, title: str | None = None, max_n: int = 3
) -> Path:
    """Write a PNG of n-gram frequency against rank on log-log axes (Zipf plot).

    One curve per order 1..``max_n``, labelled with its fitted exponent. The figure is drawn
    with the Agg canvas directly (no pyplot), so it needs no display and leaves the global
    matplotlib backend alone. Long curves are thinned to log-spaced ranks to keep it fast.

    Args:
        ids: token ids, shape (num_tokens,).
        vocab_size: number of possible ids.
        path: output PNG; written atomically.
        title: figure title (default: "Rank-frequency (Zipf) plot").
        max_n: highest n-gram order drawn.

    Returns:
        ``path`` as a ``Path``.
    """
    fig, ax = new_figure(7, 5)
    for n in range(1, max_n + 1):
        freqs = ngram_frequencies(ids, n, vocab_size)
        if freqs.size == 0:
            continue
        idx = _log_spaced(freqs.size)
        s = zipf_exponent(freqs)
        label = f"{NGRAM_NAMES.get(n, f'{n}-grams')} ({freqs.size:,} distinct, s = {s:.2f})"
        ax.loglog(idx + 1, freqs[idx], marker=".", markersize=3, linewidth=1, label=label)
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    ax.set_title(title or "Rank-frequency (Zipf) plot")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    save_figure(fig, path, dpi=100)
    return Path(path)
