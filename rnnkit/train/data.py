"""From a config's ``data`` field to encoded train and validation ids.

``data`` names a registered dataset, a text file or folder (read, tokenized and encoded here),
or a prepared corpus (``rnnkit data prepare``: a folder with ``prepared.json``), whose ids are
memory-mapped as they are, with the vocabulary and tokenizer they were prepared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.bounds import flag
from rnnkit.config import TrainConfig
from rnnkit.data.prepared import PreparedCorpus, is_prepared, open_prepared
from rnnkit.errors import ConfigError, VocabError
from rnnkit.registry.datasets import DATASETS, default_tokenizer, load_split_text
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import Tokenizer, build_tokenizer
from rnnkit.text.vocab import Vocab

_DEFAULTS = TrainConfig()


@dataclass
class LMData:
    tokenizer: Tokenizer
    vocab: Vocab
    train: np.ndarray  # (num_train_tokens,) integer ids; a read-only memmap when prepared
    valid: np.ndarray | None  # (num_valid_tokens,)


def prepared_source(data: str) -> PreparedCorpus | None:
    """The prepared corpus ``data`` names, or None. Registered names win, as they do for text."""
    if data in DATASETS or not is_prepared(data):
        return None
    return open_prepared(data)


def resolve_data_config(config: TrainConfig) -> TrainConfig:
    """``config`` with its tokenizer filled in.

    For a prepared corpus the tokenizer and vocabulary settings (``tokenizer``, ``lowercase``,
    ``min_freq``, ``max_vocab``) become the ones it was prepared with; a field set to something
    else than both its default and the prepared value raises ``ConfigError``.
    """
    corpus = prepared_source(config.data)
    if corpus is not None:
        return _prepared_config(config, corpus)
    if config.tokenizer is None:
        return config.replace(tokenizer=default_tokenizer(config.data))
    return config


def _prepared_config(config: TrainConfig, corpus: PreparedCorpus) -> TrainConfig:
    tok = corpus.tokenizer.to_dict()
    wanted = {"tokenizer": tok["name"], "min_freq": corpus.min_freq, "max_vocab": corpus.max_vocab}
    if "lowercase" in tok:  # only the word tokenizer reads it; elsewhere the flag is inert
        wanted["lowercase"] = tok["lowercase"]
    for name, value in wanted.items():
        have = getattr(config, name)
        if have != value and have != getattr(_DEFAULTS, name):
            raise ConfigError(
                f"{flag(name)} {have} conflicts with the prepared corpus {config.data} "
                f"({name} {value}); drop {flag(name)}, or prepare the corpus again with it"
            )
    return config.replace(**wanted)


def load_lm_data(
    config: TrainConfig, vocab: Vocab | None = None, same_vocab: bool = False
) -> LMData:
    """Read, tokenize and encode the train and valid splits; build the vocab from train.

    With a given ``vocab`` and ``same_vocab``, the train text must give that very vocabulary
    (a resumed run on new data); otherwise ``VocabError``. A prepared corpus brings its own
    vocabulary, so a given ``vocab`` must always equal it.
    """
    corpus = prepared_source(config.data)
    if corpus is not None:
        _prepared_config(config, corpus)  # refuse conflicting settings
        prepared_vocab = corpus.vocab()
        if vocab is not None and vocab != prepared_vocab:
            raise VocabError(
                f"{config.data} was prepared with another vocabulary than the saved one"
            )
        tokenizer, vocab = corpus.tokenizer, prepared_vocab
        valid = corpus.ids("valid") if "valid" in corpus.splits else None
        train = corpus.ids("train")
    else:
        tokenizer = build_tokenizer(resolve_data_config(config).tokenizer, config.lowercase)
        train_text = load_split_text(config.data, "train")
        if vocab is None or same_vocab:
            built = build_vocab(train_text, tokenizer, config.min_freq, config.max_vocab)
            if vocab is not None and built != vocab:
                raise VocabError(f"{config.data} gives another vocabulary than the saved one")
            vocab = built
        train = encode_text(train_text, tokenizer, vocab)
        # Every source has a valid split (files are cut 90/10): a failure here is a real error.
        valid = encode_text(load_split_text(config.data, "valid"), tokenizer, vocab)
    return LMData(tokenizer, vocab, train, None if valid is None or len(valid) < 2 else valid)


def encode_split(data: str, split: str, tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    """The ids of ``split`` of ``data`` under ``vocab``: encoded from text, or memory-mapped
    from a prepared corpus (which must have been prepared with that tokenizer and vocab)."""
    corpus = prepared_source(data)
    if corpus is None:
        return encode_text(load_split_text(data, split), tokenizer, vocab)
    if corpus.tokenizer.to_dict() != tokenizer.to_dict() or corpus.vocab() != vocab:
        raise VocabError(
            f"the prepared corpus {data} has another tokenizer or vocabulary than the run; "
            f"give its text source instead (--data {corpus.source})"
        )
    return corpus.ids(split)
