"""Counting n-gram language models: vectorised counts, smoothing, ARPA files."""

from rnnkit.ngram.counts import NGramCounts, pad_sentences
from rnnkit.ngram.model import SMOOTHINGS, NGramLM

__all__ = ["SMOOTHINGS", "NGramCounts", "NGramLM", "pad_sentences"]
