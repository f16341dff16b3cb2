"""BLEU and chrF.

``sentence_bleu`` is the textbook definition of Papineni et al. (2002) applied to one sentence,
written out so it can be checked by hand. ``corpus_bleu`` and ``corpus_chrf`` are sacrebleu's
numbers, the ones to report and compare.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from rnnkit.bounds import check
from rnnkit.errors import ConfigError, DataError


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    """How often each n-gram (a tuple of ``n`` tokens) occurs in ``tokens``."""
    check("order", n, label="n-gram order", integer=True)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _token_list(tokens, what: str) -> list[str]:
    if isinstance(tokens, str):
        raise ConfigError(f"{what} is a string; give a list of tokens, e.g. sentence.split()")
    return list(tokens)


def _reference_lists(references) -> list[list[str]]:
    """One reference as a token list, or several as a list of token lists -> list of lists."""
    refs = _token_list(references, "references")
    if not refs:
        raise DataError("sentence_bleu got no reference; give at least one")
    if all(isinstance(r, str) for r in refs):
        return [refs]  # a single reference given as its tokens
    return [_token_list(r, "a reference") for r in refs]


def sentence_bleu(
    candidate: Sequence[str],
    references: Sequence[Sequence[str]] | Sequence[str],
    max_n: int = 4,
    weights: Sequence[float] | None = None,
) -> float:
    """BLEU of one tokenized sentence, as defined by Papineni et al. (2002), without smoothing.

    - Modified precision p_n (n = 1..max_n): each candidate n-gram counts at most as often as
      it occurs in any single reference (clipping), divided by the number of candidate n-grams.
    - Brevity penalty: BP = 1 if c > r else exp(1 - r / c), with c the candidate length and r
      the reference length closest to c (on a tie, the shorter one).
    - BLEU = BP * exp(sum_n w_n log p_n), uniform weights w_n = 1 / max_n by default.

    There is no smoothing: the result is 0.0 when any p_n with a positive weight is 0 (for
    instance a candidate shorter than max_n words, or with no matching 4-gram), and for an
    empty candidate. For a corpus score use ``corpus_bleu``, which is sacrebleu's.

    Args:
        candidate: the candidate's tokens.
        references: one reference as a token list, or several as a list of token lists.
        max_n: the longest n-gram order.
        weights: max_n non-negative weights, at least one positive (default uniform).

    Returns:
        A number in [0, 1].
    """
    check("order", max_n, label="max_n", integer=True)
    if weights is None:
        weights = [1.0 / max_n] * max_n
    weights = [float(w) for w in weights]
    if len(weights) != max_n or min(weights) < 0 or max(weights) <= 0:
        raise ConfigError(
            f"weights must be {max_n} non-negative numbers, at least one positive; got {weights}"
        )
    cand = _token_list(candidate, "candidate")
    refs = _reference_lists(references)
    c = len(cand)
    if c == 0:
        return 0.0

    log_sum = 0.0
    for n, w in enumerate(weights, start=1):
        if w == 0:
            continue  # this order does not enter the score
        counts = ngram_counts(cand, n)
        total = sum(counts.values())
        # Clip each n-gram's count by its largest count in any one reference.
        max_ref: Counter = Counter()
        for ref in refs:
            max_ref |= ngram_counts(ref, n)  # | keeps the maximum of each count
        matched = sum(min(k, max_ref[g]) for g, k in counts.items())
        if matched == 0:
            return 0.0
        log_sum += w * math.log(matched / total)

    r = min((len(ref) for ref in refs), key=lambda length: (abs(length - c), length))
    bp = 1.0 if c > r else math.exp(1.0 - r / c)
    return bp * math.exp(log_sum)


def _check_corpus(hypotheses, references) -> tuple[list[str], list[str]]:
    hyps, refs = list(hypotheses), list(references)
    if len(hyps) != len(refs):
        raise DataError(
            f"{len(hyps)} hypotheses but {len(refs)} references; give one reference per "
            "hypothesis, in the same order"
        )
    if not hyps:
        raise DataError("no hypotheses to score; give at least one sentence")
    for name, items in (("hypothesis", hyps), ("reference", refs)):
        bad = next((i for i, x in enumerate(items) if not isinstance(x, str)), None)
        if bad is not None:
            raise ConfigError(
                f"{name} {bad} is a {type(items[bad]).__name__}, not a string; "
                "join token lists with ' '.join(tokens)"
            )
    return hyps, refs


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "13a"
) -> float:
    """sacrebleu's corpus BLEU (0-100) of one reference per hypothesis.

    The standard comparable number: n-gram statistics summed over the corpus, then BLEU-4
    with sacrebleu's defaults (``exp`` smoothing, mixed case as given, ``13a`` tokenization).

    Args:
        hypotheses: system outputs, one string per sentence.
        references: the reference translation of each, one string per sentence.
        tokenize: a sacrebleu tokenizer name (``13a``, ``intl``, ``none``, ...).
    """
    return signed_corpus_bleu(hypotheses, references, tokenize=tokenize)[0]


def signed_corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "13a"
) -> tuple[float, str]:
    """``corpus_bleu`` and sacrebleu's signature of how it was computed (e.g.
    ``nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|version:2.4.3``), to print beside it."""
    from sacrebleu.metrics import BLEU  # imported on first use: it takes about 0.3 s

    hyps, refs = _check_corpus(hypotheses, references)
    if tokenize not in BLEU.TOKENIZERS:
        raise ConfigError(
            f"unknown sacrebleu tokenizer {tokenize!r}; choose one of {', '.join(BLEU.TOKENIZERS)}"
        )
    # force=True only silences sacrebleu's "forgot to detokenize?" log lines, which tokenized
    # corpora such as multi30k always trigger; the score is the same.
    metric = BLEU(tokenize=tokenize, force=True)
    score = float(metric.corpus_score(hyps, [refs]).score)
    return score, str(metric.get_signature())


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus chrF (0-100; character 6-grams, beta 2) of one reference each."""
    import sacrebleu

    hyps, refs = _check_corpus(hypotheses, references)
    return float(sacrebleu.corpus_chrf(hyps, [refs]).score)
