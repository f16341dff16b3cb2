"""The settings of a classification or tagging run, importable without torch (the command
line builds its flags from them)."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.config import LoopConfig
from rnnkit.errors import ConfigError

TASKS = ("intent", "slots", "joint")


@dataclass(frozen=True)
class ClassifyRunConfig(LoopConfig):
    """Data, model and training settings of a classification / tagging run (JSON-able)."""

    data: str = "snips"
    valid: str | None = None
    test: str | None = None
    task: str = "intent"
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    holdout: float = 0.1
    embed_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "attention"
    char_embed: int = 32
    char_filters: int = 64
    crf: bool = True
    dropout: float = 0.3
    backend: str = "torch"
    class_weights: str = "none"
    word_dropout: float = 0.5
    # the loop's defaults for classification
    lr: float = 1e-3
    lr_schedule: str = "constant"
    epochs: int = 20
    patience: int = 5
    log_every: int = 100

    def __post_init__(self):
        super().__post_init__()
        if self.embed_size == 0:  # the bounds allow it for language models' one-hot input
            raise ConfigError("--embed-size must be > 0: classification models embed their tokens")
        self._check_choice("task", TASKS)
        self._check_choice("class_weights", ("none", "balanced"))

    @property
    def wants_labels(self) -> bool:
        return self.task in ("intent", "joint")

    @property
    def wants_tags(self) -> bool:
        return self.task in ("slots", "joint")
