"""Sequence to sequence: encoder-decoder models, attention, beam search, BLEU."""
