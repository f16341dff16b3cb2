"""``NGramLM``: a counting language model of any order with the classic smoothings.

Notation: h is the context (the last n-1 tokens), w the next token, c(hw) the count of the
n-gram hw, c(h.) = sum_w c(hw), h' the context without its first token, and E the set of
tokens a model predicts: every vocabulary entry but ``<pad>``, so ``<unk>`` has probability
too (unseen test tokens are read as ``<unk>``) and perplexity stays finite where the smoothing
gives unseen tokens mass. Probabilities sum to 1 over E for every context, except with stupid
backoff.

- ``mle``: c(hw) / c(h.). A context never seen in training falls back to its longest seen
  suffix; an unseen token in a seen context has probability 0 (perplexity becomes infinite).
- ``addk``: (c(hw) + k) / (c(h.) + k |E|); Laplace when k = 1. No lower orders.
- ``kn``: interpolated Kneser-Ney (Chen & Goodman 1998; Jurafsky & Martin, ch. 3), one
  discount D_k per order:
  p_k(w|h) = max(a(hw) - D_k, 0) / a(h.) + D_k N1+(h.) / a(h.) * p_{k-1}(w|h'),
  with a = the count for the highest order and the continuation count N1+(.hw) (how many
  different tokens precede hw) below it; at the bottom p_0(w) = 1 / |E|. D_k is estimated as
  n1 / (n1 + 2 n2) from the count-of-counts of a at that order.
- ``mkn``: modified Kneser-Ney as KenLM estimates it: three discounts per order, D1, D2, D3+
  for a = 1, 2, >= 3, from n1..n4 (Chen & Goodman's formulas), continuation counts below the
  top order as for ``kn``.
- ``stupid``: stupid backoff (Brants et al. 2007): S(w|h) = c(hw) / c(h.) if c(hw) > 0, else
  0.4 S(w|h'); S(w) = (c(w) + 1) / (N + |E|). These are scores, not probabilities: they do not
  sum to 1, and the "perplexity" reported for them is not comparable with the others.

Sentence starts (``bos_style``): ``kenlm``, the default for kn and mkn, starts a sentence with
one ``<bos>`` (KenLM's ``<s>``) as KenLM and standard decoders do: a token near the start has a
shorter context; ``<bos>`` is never predicted (probability 0, not one of the events E, as in
``lmplz``), and a lower-order n-gram that begins with ``<bos>`` keeps its plain count (nothing
can precede it, so it has no continuation count). With ``mkn`` the model is ``lmplz``'s: same
adjusted counts, discounts and uniform base 1 / |E|. ``padded``, the only style of mle, addk and
stupid, starts a sentence with n-1 ``<bos>`` as NLTK does and counts the padding n-grams, so
every token has a full-length context.

A context with no counted continuation passes its lower order through unchanged (kn, mkn,
mle, stupid). When discounts cannot be estimated (tiny or artificial corpora: for kn n1 or n2
is 0; for mkn, as lmplz tests, n1, n2 or n3 is 0 or a Dj falls outside (0, j], where lmplz
also takes Dj = 0) the default is used, with a warning: 0.75 for kn, (0.5, 1.0, 1.5) for mkn.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from rnnkit.bounds import check
from rnnkit.config import SMOOTHINGS
from rnnkit.errors import ConfigError, DataError, RnnkitWarning, check_choice
from rnnkit.ngram.counts import BOS_STYLES, NGramCounts, pad_sentences, sentence_context
from rnnkit.ngram.sampling import sample_ids
from rnnkit.text.vocab import BOS, PAD

KN_DEFAULT = 0.75
MKN_DEFAULT = (0.5, 1.0, 1.5)
STUPID_ALPHA = 0.4


class NGramLM:
    """An n-gram language model over a ``Vocab``'s ids.

    Args:
        order: n >= 1 (1 = unigram, 2 = bigram, ...).
        smoothing: one of ``SMOOTHINGS``.
        k: the added count of ``addk``.
        discount: ``kn`` only: one discount for every order, or one per order (index 0 is the
            unigram level); None estimates them.
        bos_style: ``"kenlm"`` (one ``<bos>``, KenLM's counts) or ``"padded"`` (n-1 ``<bos>``);
            None: kenlm for kn and mkn, padded for the others (their only style).
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "kn",
        k: float = 1.0,
        discount: float | Sequence[float] | None = None,
        bos_style: str | None = None,
    ):
        check("order", order, integer=True)
        check_choice("smoothing", smoothing, SMOOTHINGS)
        check("k", k)
        if discount is not None:
            if smoothing != "kn":
                raise ConfigError("a fixed discount applies to --smoothing kn only")
            ds = [discount] * order if isinstance(discount, (int, float)) else list(discount)
            if len(ds) != order or not all(0 <= d < 1 for d in ds):
                raise ConfigError(
                    f"discount must be one value or {order} values, each in [0, 1); got {discount}"
                )
            discount = [float(d) for d in ds]
        backoff = smoothing in ("kn", "mkn")
        if bos_style is None:
            bos_style = "kenlm" if backoff else "padded"
        check_choice("bos_style", bos_style, BOS_STYLES)
        if bos_style == "kenlm" and not backoff:
            raise ConfigError(
                f"bos style kenlm applies to --smoothing kn and mkn; {smoothing} is padded only"
            )
        self.bos_style = bos_style
        self.order = order
        self.smoothing = smoothing
        self.k = float(k)
        self.fixed_discount = discount
        self.counts: NGramCounts | None = None
        self.discounts: list[list[float]] = []

    # ------------------------------------------------------------------ fitting
    def fit(
        self, ids: np.ndarray, vocab_size: int, boundary: int, bos: int, pad: int = 0, unk: int = 1
    ):
        """Count ``ids`` (a stream whose sentences end with ``boundary``) and estimate.

        Args:
            ids: (L,) int token ids in ``[0, vocab_size)``.
            boundary: the sentence-end id; bos: the padding id; pad: the id never predicted;
            unk: the unknown id (a ``<bos>`` inside a kenlm-style sentence is read as it).
        """
        ids = np.asarray(ids).reshape(-1)
        if len(ids) == 0:
            raise DataError("cannot fit an n-gram model on an empty corpus; give some text")
        self.boundary, self.bos, self.pad, self.V = int(boundary), int(bos), int(pad), vocab_size
        self.unk = int(unk)
        tokens, predicted, sentence = self._pad(ids)
        longest = int(np.bincount(sentence[predicted]).max())
        if self.order > longest + 1:
            raise ConfigError(
                f"order {self.order} is larger than the training sentences allow (the longest "
                f"has {longest} tokens with its end): use an order of at most {longest + 1}"
            )
        self.counts = NGramCounts.count(tokens, predicted, sentence, self.order, vocab_size)
        self._estimate()
        return self

    def fit_vocab(self, ids: np.ndarray, vocab, boundary_token: str) -> NGramLM:
        """``fit`` with the ids of a ``Vocab``: its ``<bos>``, ``<pad>`` and boundary token."""
        boundary = vocab.token_to_id(boundary_token)
        return self.fit(ids, len(vocab), boundary, vocab.id_of(BOS), vocab.id_of(PAD), vocab.unk_id)

    def _pad(self, ids: np.ndarray):
        if self.bos_style == "kenlm":  # <bos> only starts a sentence; inside one it is unknown
            ids = np.where(ids == self.bos, self.unk, ids)
        return pad_sentences(ids, self.boundary, self.bos, self.order, self.bos_style)

    @property
    def num_events(self) -> int:
        # every id but <pad>; kenlm: and but <bos>, which is never predicted (lmplz's |V|)
        return self.V - 1 - (self.bos_style == "kenlm")

    def _adjusted(self, k: int) -> np.ndarray:
        """The count a k-gram contributes at order k: plain for mle/addk/stupid and the top
        order, continuation counts N1+(. g) below it for kn/mkn."""
        table = self.counts.tables[k - 1]
        if self.smoothing not in ("kn", "mkn") or k == self.order:
            return table.counts.astype(np.float64)
        above = self.counts.tables[k]
        seen = above.counts > 0
        a = np.bincount(above.suffix[seen], minlength=len(table.keys)).astype(np.float64)
        if self.bos_style == "kenlm":
            # Nothing precedes a <bos>-initial n-gram, so it keeps its plain count (lmplz).
            # With n-1 <bos> of padding every lower-order n-gram has a left neighbour instead.
            starts = self.counts.first_tokens()[k - 1] == self.bos
            a[starts] = table.counts[starts]
        return a

    def _estimate_discounts(self, k: int, a: np.ndarray) -> list[float]:
        if self.smoothing == "kn" and self.fixed_discount is not None:
            return [self.fixed_discount[k - 1]]
        a = a[a > 0]
        n = [int((a == j).sum()) for j in (1, 2, 3, 4)]
        if self.smoothing == "kn":
            d = n[0] / (n[0] + 2 * n[1]) if n[0] and n[1] else float("nan")
            if not 0 < d < 1:
                self._warn_default(k, n, KN_DEFAULT)
                return [KN_DEFAULT]
            return [d]
        # lmplz's test: n1, n2, n3 divide (n4 = 0 gives D3+ = 3), and Dj <= j; but Dj > 0,
        # where lmplz takes 0, so that no context is left without mass for unseen tokens
        ok = all(n[:3])
        if ok:
            y = n[0] / (n[0] + 2 * n[1])
            ds = [1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]]
            ok = all(0 < d <= j for j, d in enumerate(ds, start=1))
        if not ok:
            self._warn_default(k, n, MKN_DEFAULT)
            return list(MKN_DEFAULT)
        return ds

    def _warn_default(self, k: int, n: list[int], default) -> None:
        warnings.warn(
            f"order {k}: discounts cannot be estimated from these counts (n1..n4 = "
            f"{', '.join(map(str, n))}); using the default {default}",
            RnnkitWarning,
            stacklevel=4,
        )

    def _estimate(self) -> None:
        """Per order k: alpha for every k-gram and (gamma, total) for every context."""
        # gamma and totals: per context row of order k-1 (order 1: one value)
        self.alpha, self.gamma, self.totals, self.discounts = [], [], [], []
        for k in range(1, self.order + 1):
            table = self.counts.tables[k - 1]
            a = self._adjusted(k)
            ctx = table.keys // self.V if k > 1 else np.zeros(len(a), np.int64)
            n_ctx = len(self.counts.tables[k - 2].keys) if k > 1 else 1
            total = np.bincount(ctx, weights=a, minlength=n_ctx)
            safe = np.where(total > 0, total, 1.0)
            gamma = np.zeros(n_ctx)  # only kn and mkn pass mass to the lower order
            if self.smoothing in ("kn", "mkn"):
                ds = self._estimate_discounts(k, a)
                self.discounts.append(ds)
                if len(ds) == 1:
                    d = np.where(a > 0, ds[0], 0.0)
                else:
                    d = np.select([a == 1, a == 2, a >= 3], ds, 0.0)
                d = np.minimum(d, a)
                alpha = (a - d) / safe[ctx]
                gamma = np.bincount(ctx, weights=d, minlength=n_ctx) / safe
            else:  # addk keeps the counts (see _addk_probs); mle, stupid: relative frequency
                alpha = a if self.smoothing == "addk" else a / safe[ctx]
            self.alpha.append(alpha)
            self.gamma.append(gamma)
            self.totals.append(total)
        self.has_context = [t > 0 for t in self.totals]
        self._unigram = self._unigram_probs()

    def _unigram_probs(self) -> np.ndarray:
        """p_1(w) over all ids (V,), 0 for ``<pad>`` (and a kenlm-style ``<bos>``)."""
        E = self.num_events
        counts = self.counts.tables[0].counts.astype(np.float64)
        if self.smoothing in ("kn", "mkn"):
            p = self.alpha[0] + self.gamma[0][0] / E
        elif self.smoothing == "mle":
            p = self.alpha[0].copy()
        elif self.smoothing == "addk":
            p = (counts + self.k) / (counts.sum() + self.k * E)
        else:  # stupid: add-one at the bottom so every token has a score
            p = (counts + 1) / (counts.sum() + E)
        p[self.pad] = 0.0
        if self.bos_style == "kenlm":
            p[self.bos] = 0.0
        return p

    # ------------------------------------------------------------------ scoring
    def _probs(self, ranks: list[np.ndarray], targets: np.ndarray, ends: np.ndarray):
        """p(token at ``ends`` | its context) given the lookup ranks of the padded stream.

        ranks[k-1][i]: row of the k-gram starting at i. ``ends``: (M,) positions predicted.
        """
        w = targets
        p = self._unigram[w]
        if self.smoothing == "addk":  # the top order alone (a unigram model is p)
            return self._addk_probs(ranks, ends, w) if self.order > 1 else p
        for k in range(2, self.order + 1):
            start = ends - k + 1
            ok = start >= 0
            s = np.where(ok, start, 0)
            ctx = np.where(ok, ranks[k - 2][s], -1)  # (k-1)-gram starting at `start`
            row = np.where(ok, ranks[k - 1][s], -1)  # k-gram starting at `start`
            seen_ctx = ctx >= 0
            seen_ctx[seen_ctx] = self.has_context[k - 1][ctx[seen_ctx]]
            alpha = np.zeros(len(w))
            hit = row >= 0
            alpha[hit] = self.alpha[k - 1][row[hit]]
            if self.smoothing == "stupid":
                found = hit.copy()
                found[hit] = self.counts.tables[k - 1].counts[row[hit]] > 0
                new = np.where(found & seen_ctx, alpha, STUPID_ALPHA * p)
            else:
                gamma = np.ones(len(w))
                gamma[seen_ctx] = self.gamma[k - 1][ctx[seen_ctx]]
                new = alpha + gamma * p
            p = np.where(seen_ctx, new, p)
        return p

    def _addk_probs(self, ranks, ends, w):
        n, E = self.order, self.num_events
        start = ends - n + 1
        ctx = ranks[n - 2][start]
        row = ranks[n - 1][start]
        c = np.zeros(len(w))
        c[row >= 0] = self.counts.tables[n - 1].counts[row[row >= 0]]
        total = np.zeros(len(w))
        total[ctx >= 0] = self.totals[n - 1][ctx[ctx >= 0]]
        p = (c + self.k) / (total + self.k * E)
        return np.where(w == self.pad, 0.0, p)

    def token_logprobs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Natural-log probability of every token of a stream, each sentence from its ``<bos>``
        padding.

        Returns (logprobs (L,), sentence index (L,)).
        """
        self._check_fitted()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.V):
            raise DataError(f"token ids must lie in [0, {self.V}); encode with the model's vocab")
        tokens, predicted, sentence = self._pad(ids)
        ranks = self.counts.lookup(tokens, sentence)
        ends = np.flatnonzero(predicted)
        with np.errstate(divide="ignore"):
            return np.log(self._probs(ranks, tokens[ends], ends)), sentence[ends]

    def perplexity(self, ids: np.ndarray) -> float:
        """exp of the mean negative log-probability per token (every token is predicted)."""
        lp, _ = self.token_logprobs(ids)
        if len(lp) == 0:
            raise DataError("cannot compute perplexity of an empty text")
        return float(math.exp(-lp.mean())) if np.isfinite(lp).all() else math.inf

    def prob(self, word: int, context: Sequence[int] = ()) -> float:
        """p(word | context); ``context`` shorter than n-1 is padded with ``<bos>``."""
        return float(self.distribution(context)[word])

    def distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        """p(. | context) over every id (V,); ``<pad>`` gets 0.

        Only the last n-1 tokens of ``context`` count; a shorter one follows the sentence
        start's ``<bos>`` padding.
        """
        self._check_fitted()
        n = self.order
        ctx = sentence_context(context, n, self.bos, self.unk, self.bos_style)
        if self.smoothing == "addk" and n > 1:  # the top order alone; unigrams as below
            return self._addk_distribution(ctx)
        p = self._unigram.copy()
        for k in range(2, min(n, len(ctx) + 1) + 1):
            h = ctx[len(ctx) - (k - 1) :]
            r = self.counts.row_of(h)
            if r < 0 or not self.has_context[k - 1][r]:
                break  # longer contexts contain this one: none of them was seen either
            block = self.counts.continuations(k, r)
            words = self.counts.tables[k - 1].keys[block] % self.V
            alpha = self.alpha[k - 1][block]
            if self.smoothing == "stupid":
                counted = self.counts.tables[k - 1].counts[block] > 0
                new = STUPID_ALPHA * p
                new[words[counted]] = alpha[counted]
            else:
                new = self.gamma[k - 1][r] * p
                new[words] += alpha
            p = new
        p[self.pad] = 0.0
        return p

    def _addk_distribution(self, ctx: list[int]) -> np.ndarray:
        n, E = self.order, self.num_events
        c = np.zeros(self.V)
        total = 0.0
        r = self.counts.row_of(ctx)
        if r >= 0:
            table, block = self.counts.tables[n - 1], self.counts.continuations(n, r)
            c[table.keys[block] % self.V] = table.counts[block]
            total = float(self.totals[n - 1][r])
        p = (c + self.k) / (total + self.k * E)
        p[self.pad] = 0.0
        return p

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        length: int,
        prefix: Sequence[int] = (),
        seed: int | None = None,
        temperature: float = 1.0,
        banned: Sequence[int] = (),
    ) -> list[int]:
        """Sample ``length`` tokens after ``prefix`` (which follows a sentence start).

        After the boundary token the context starts over from ``<bos>``. ``banned`` ids (and
        ``<pad>``, ``<bos>``) are never drawn. With stupid backoff the scores are normalised.
        ``temperature`` 0 takes the most likely token each time (greedy).
        """
        return sample_ids(
            self.distribution, self.V, [self.pad, self.bos, *banned], prefix, length,
            end=self.boundary, keep=self.order - 1, temperature=temperature, seed=seed,
            stuck="no token has probability here; use a smoothed model",
        )  # fmt: skip

    # ------------------------------------------------------------------ misc
    def _check_fitted(self) -> None:
        if self.counts is None:
            raise ConfigError("the n-gram model is not fitted yet; call fit() first")

    @property
    def sizes(self) -> list[int]:
        """Number of counted n-grams per order."""
        return self.counts.sizes

    def nbytes(self) -> int:
        """Bytes held by the counts and the derived per-n-gram and per-context arrays."""
        derived = (self.alpha, self.gamma, self.totals, self.has_context)
        return self.counts.nbytes() + sum(a.nbytes for arrays in derived for a in arrays)
