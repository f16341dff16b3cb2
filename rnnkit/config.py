"""Training configuration: one frozen dataclass, validated once, kept in the run file.

Precedence when a run is set up: defaults < ``--config FILE.yaml`` < flags given on the command
line. A resumed run starts from its saved config and only the fields in ``RESUMABLE`` may
change.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from rnnkit.bounds import check_fields, flag
from rnnkit.errors import ConfigError, check_choice, show_value

OPTIMIZERS = ("sgd", "adam", "adamw")
_ZERO_IS_OFF = ("max_steps", "max_minutes", "patience")
_RENAMED = {"embed": "embed_size", "hidden": "hidden_size", "layers": "num_layers"}
SCHEDULES = ("plateau", "exponential", "constant")
PRECISIONS = ("fp32", "bf16", "fp16")  # ``rnnkit.train.precision``
# Choices the command line offers, named here so that it needs neither torch nor numpy:
BACKEND_NAMES = ("scratch", "torch")  # recurrent layers, ``rnnkit.nn.recurrent.BACKENDS``
LM_CELLS = ("rnn", "lstm", "gru", "lnlstm", "mingru", "minlstm")  # ``rnnkit.nn.recurrent.CELLS``
SMOOTHINGS = ("mle", "addk", "kn", "mkn", "stupid")  # n-gram models, ``rnnkit.ngram.model``


@dataclass(frozen=True)
class LoopConfig:
    """How any task trains: batch, optimizer, schedule, budgets, runtime.

    Every task's run config (language model, translation, classification, forecasting) is a
    ``LoopConfig`` with its own data and model fields added, so the one ``Trainer`` reads the
    same fields everywhere and each is validated here, once. A task changes a default by
    declaring the field again with its own value.
    """

    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip: float = 5.0  # max global gradient norm; 0 disables clipping
    lr_schedule: str = "plateau"
    lr_decay: float = 0.5
    decay_start: int = 0  # exponential schedule: epochs at the initial rate
    plateau_patience: int = 0
    # length of training
    epochs: int = 10
    max_steps: int = 0  # 0: no limit
    max_minutes: float = 0.0  # 0: no limit
    patience: int = 0  # early stopping after this many evaluations without improvement
    eval_every: int = 0  # steps; 0: at the end of each epoch only
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"  # autocast: fp32, bf16, or fp16 (CUDA, with a gradient scaler)
    compile: bool = False  # torch.compile the model for training

    def __post_init__(self):
        self._check_types()
        check_fields(self)
        self._check_choice("optimizer", OPTIMIZERS)
        self._check_choice("lr_schedule", SCHEDULES)
        self._check_choice("precision", PRECISIONS)

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        check_choice(name, getattr(self, name), choices)

    def _check_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value, hint = getattr(self, f.name), hints[f.name]
            opt = flag(f.name)
            # YAML reads integers of any size, .nan and .inf: none is a usable setting (and an
            # int of thousands of bits has no float() nor repr()).
            if isinstance(value, int) and value.bit_length() > 64:
                raise ConfigError(
                    f"{opt} is out of range ({show_value(value)}); give a smaller number"
                )
            allowed, is_bool = allowed_types(hint), isinstance(value, bool)
            ok = isinstance(value, allowed) and (bool in allowed or not is_bool)
            if not ok and float in allowed and isinstance(value, int) and not is_bool:
                object.__setattr__(self, f.name, float(value))
                ok = True
            if not ok:
                names = "/".join(t.__name__ for t in allowed if t is not type(None))
                raise ConfigError(f"config field {f.name} must be {names}, got {show_value(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{opt} must be a finite number, got {value}")

    # ---- construction and persistence ---------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, source: str = "config"):
        if not isinstance(d, dict):
            raise ConfigError(f"{source} must be a mapping of field: value")
        known = {f.name for f in fields(cls)}
        # Older translation, classification and forecasting runs wrote None for "no limit"
        # and the short names of the sizes.
        d = {k: 0 if v is None and k in _ZERO_IS_OFF else v for k, v in d.items()}
        d = {_RENAMED.get(k, k) if _RENAMED.get(k) in known else k: v for k, v in d.items()}
        # YAML keys may be numbers, dates or strings with line breaks: sort and show them as text
        unknown = sorted(_shown(k) for k in set(d) - known)
        if unknown:
            raise ConfigError(
                f"{source} has unknown keys {', '.join(unknown)}; known keys are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path):
        return cls.from_dict(load_yaml(path), source=str(path))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def pick(self, *names: str) -> dict:
        """``{name: value}`` of fields ``names`` for a model config, whose short names
        ``embed``, ``hidden``, ``layers`` read ``embed_size``, ``hidden_size``, ``num_layers``."""
        return {name: getattr(self, _RENAMED.get(name, name)) for name in names}


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """Everything a language-model run needs (data, model, batching; the loop from
    ``LoopConfig``)."""

    # data
    data: str = "tinyshakespeare"
    tokenizer: str | None = None  # None: the dataset's default
    lowercase: bool = False
    min_freq: int = 1
    max_vocab: int | None = None
    # model
    model: str = "lstm"
    embed_size: int | None = None  # None: = hidden_size; 0: one-hot input
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    init_range: float = 0.0
    forget_bias: float = 0.0
    locked_dropout: bool = False
    weight_drop: float = 0.0
    backend: str = "torch"
    # batching
    seq_len: int = 100
    sampling: str = "sequential"
    eval_batch_size: int = 10

    def __post_init__(self):
        super().__post_init__()
        self._check_choice("sampling", ("random", "sequential"))
        self._check_choice("model", LM_CELLS)

    def model_fields(self, vocab_size: int) -> dict:
        """The fields of the model's ``rnnkit.models.lm.LMConfig`` (for runs whose run file
        does not hold the model config)."""
        return {"vocab_size": vocab_size, "cell": self.model, **self.pick(*_MODEL_FIELDS)}


# TrainConfig fields that LMConfig takes under the same name, in LMConfig's order
_MODEL_FIELDS = (
    "hidden_size", "num_layers", "embed_size", "dropout", "tie_weights", "backend",
    "init_range", "forget_bias", "locked_dropout", "weight_drop",
)  # fmt: skip

# Fields a resumed run may change: how long and on what it trains, never what it is.
RESUMABLE = frozenset(
    {"data", "epochs", "max_steps", "max_minutes", "patience", "eval_every", "log_every"}
    | {"device", "precision", "compile"}
)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    import yaml  # here: reading YAML is rare, importing it costs every command

    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, RecursionError) as e:
        raise ConfigError(f"{path} is not valid YAML ({_yaml_problem(e)}); fix the file") from e
    return d if d is not None else {}


def _yaml_problem(e: Exception) -> str:
    """What went wrong, in one line. Besides YAMLError (and UnicodeDecodeError), PyYAML's
    constructors raise plain errors on a bad scalar (2020-13-45, !!int x, an int of 5000 digits)
    and its parser recurses once per level of nesting."""
    import yaml

    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, TypeError | AttributeError):
        return "a value that does not fit its tag"
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        mark = e.problem_mark
        return e.problem + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark else "")
    lines = str(e).splitlines()
    return lines[0] if lines and lines[0].strip() else type(e).__name__


def _shown(key) -> str:
    return key if isinstance(key, str) and key.isprintable() and len(key) <= 60 else show_value(key)


def allowed_types(hint) -> tuple[type, ...]:
    """The classes a field's type hint admits (``int | None``: int and NoneType)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(typing.get_origin(a) or a for a in typing.get_args(hint))
    return (typing.get_origin(hint) or hint,)
