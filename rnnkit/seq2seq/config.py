"""The settings of a translation run, importable without torch (the command line builds its
flags from them)."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.config import LoopConfig
from rnnkit.errors import ConfigError

TOKENIZERS = ("whitespace", "moses")  # how raw text becomes tokens (rnnkit.seq2seq.data)


@dataclass(frozen=True)
class Seq2SeqRunConfig(LoopConfig):
    """Data, model and training settings of a translation run (JSON-able)."""

    data: str | None = "multi30k"
    src_lang: str = "de"
    tgt_lang: str = "en"
    src_file: str | None = None
    tgt_file: str | None = None
    valid_src_file: str | None = None
    valid_tgt_file: str | None = None
    tsv: str | None = None
    # How raw text becomes tokens, at training (files) and at translation (any input). A
    # registered corpus sets both to how its files were made (lower-cased, Moses tokens);
    # tokenize None (runs written before it was recorded) means just that.
    lowercase: bool = False
    tokenize: str | None = None
    max_len: int = 50
    min_freq: int = 2
    max_vocab: int | None = None
    embed_size: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    cell: str = "gru"
    bidirectional: bool = True
    attention: str = "additive"
    dropout: float = 0.3
    backend: str = "torch"
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    eval_beam: int = 1
    # the loop's defaults for translation
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    lr_schedule: str = "constant"
    log_every: int = 100

    def __post_init__(self):
        super().__post_init__()
        if self.embed_size == 0:  # the bounds allow it for language models' one-hot input
            raise ConfigError("--embed-size must be > 0: translation models embed their tokens")
        from rnnkit.seq2seq.data import CORPORA  # only when a config is made, not for --help

        corpus = CORPORA.get(self.data) if self.data is not None else None
        if self.tokenize is None:
            object.__setattr__(self, "tokenize", corpus["tokenize"] if corpus else "whitespace")
        if corpus is not None and corpus["lowercase"]:
            object.__setattr__(self, "lowercase", True)  # its text is lower-case already
        self._check_choice("tokenize", TOKENIZERS)
        sources = [self.data is not None, self.src_file is not None, self.tsv is not None]
        if sum(sources) != 1:
            raise ConfigError("give exactly one of --data NAME, --src FILE --tgt FILE, --tsv FILE")
        if (self.src_file is None) != (self.tgt_file is None):
            raise ConfigError("--src and --tgt go together: give both aligned files")

    def model_config(self, src_vocab: int, tgt_vocab: int) -> dict:
        shape = self.pick(
            "embed", "hidden", "layers", "cell", "bidirectional", "attention", "dropout", "backend"
        )
        return {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, **shape}
