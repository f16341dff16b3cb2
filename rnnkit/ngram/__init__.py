"""Counting n-gram language models: vectorised counts, smoothing, ARPA files."""

from rnnkit.ngram.arpa import ArpaLM, read_arpa, write_arpa
from rnnkit.ngram.backoff import BackoffLM, read_backoff
from rnnkit.ngram.counts import NGramCounts, pad_sentences
from rnnkit.ngram.model import SMOOTHINGS, NGramLM

__all__ = [
    "SMOOTHINGS",
    "ArpaLM",
    "BackoffLM",
    "NGramCounts",
    "NGramLM",
    "pad_sentences",
    "read_arpa",
    "read_backoff",
    "write_arpa",
]
