"""From a config's ``data`` field to encoded train and validation ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.config import TrainConfig
from rnnkit.errors import VocabError
from rnnkit.registry.datasets import default_tokenizer, load_split_text
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import Tokenizer, build_tokenizer
from rnnkit.text.vocab import Vocab


@dataclass
class LMData:
    tokenizer: Tokenizer
    vocab: Vocab
    train: np.ndarray  # (num_train_tokens,) int32
    valid: np.ndarray | None  # (num_valid_tokens,) int32


def resolve_tokenizer_name(config: TrainConfig) -> str:
    return config.tokenizer or default_tokenizer(config.data)


def load_lm_data(
    config: TrainConfig, vocab: Vocab | None = None, same_vocab: bool = False
) -> LMData:
    """Read, tokenize and encode the train and valid splits; build the vocab from train.

    With a given ``vocab`` and ``same_vocab``, the train text must give that very vocabulary
    (a resumed run on new data); otherwise ``VocabError``.
    """
    tokenizer = build_tokenizer(resolve_tokenizer_name(config), config.lowercase)
    train_text = load_split_text(config.data, "train")
    if vocab is None or same_vocab:
        built = build_vocab(train_text, tokenizer, config.min_freq, config.max_vocab)
        if vocab is not None and built != vocab:
            raise VocabError(f"{config.data} gives another vocabulary than the saved one")
        vocab = built
    train = encode_text(train_text, tokenizer, vocab)
    # Every source has a valid split (files are cut 90/10), so a failure here is a real error.
    valid = encode_text(load_split_text(config.data, "valid"), tokenizer, vocab)
    if len(valid) < 2:
        valid = None
    return LMData(tokenizer, vocab, train, valid)


def encode_split(data: str, split: str, tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    return encode_text(load_split_text(data, split), tokenizer, vocab)
