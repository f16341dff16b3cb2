"""The range of every numeric setting, by name, in one table.

The command line checks each numeric option against ``BOUNDS`` as it parses it (``bound_all``),
and every config checks its fields against the same table (``check_fields``), so ``--clip``,
``--seed`` or ``--dropout`` follow one rule whichever command or YAML file gives them. The
table holds the widest range every command accepts; a command that needs a narrower one (a
translation model has no one-hot input, so no ``--embed-size 0``) refuses the rest itself.
Imports neither torch nor numpy: ``--help`` and the parse run without them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import click

from rnnkit.errors import ConfigError

# Sampling (``rnnkit.infer.draw``) runs in float64, the torch warpers (``rnnkit.decode.warpers``)
# in float32. Logits divided by a temperature below about 1e-38 overflow to inf (then inf - inf
# is NaN in the softmax), one above float32's largest becomes inf, and a top-p that rounds to 0
# drops every token. These bounds sit well inside float32's range, so both agree: below a
# temperature of 1e-3 sampling is greedy in all but name, above 10 it is close to uniform, and
# any top-p below the best token's probability keeps that token alone.
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 10.0
MIN_TOP_P = 1e-6


@dataclass(frozen=True)
class Bound:
    """``low <= value <= high`` (``<`` where open); None is "no bound" on that side. ``note``
    is said after the rule: what 0 means where 0 is a setting of its own (``0 = off``), or why
    the bound is where it is."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    note: str = ""
    or_zero: bool = False  # 0 is allowed besides the range (a temperature: 0 = greedy)

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.or_zero and value == 0:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def rule(self) -> str:
        """The rule in words: ``must be > 0``, ``must be in [0, 1)``."""
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"must be in {left}{_number(self.low)}, {_number(self.high)}{right}"
        elif self.low is not None:
            text = f"must be {'>' if self.low_open else '>='} {_number(self.low)}"
        else:
            text = "must be a finite number"
        if self.or_zero:
            return text.replace("must be", f"must be 0 ({self.note}) or", 1)
        return text + (f" ({self.note})" if self.note else "")


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


POSITIVE = Bound(low=0, low_open=True)
NON_NEGATIVE = Bound(low=0)
FRACTION = Bound(0, 1, high_open=True)  # dropout-like: 1 would drop everything
FINITE = Bound()


def _off(zero: str) -> Bound:
    return Bound(low=0, note=zero)


# name (as the option's parameter and the config field spell it) -> its range
BOUNDS: dict[str, Bound] = {
    # how long and how fast to train
    "batch_size": POSITIVE,
    "eval_batch_size": POSITIVE,
    "epochs": POSITIVE,
    "max_steps": _off("0 = no limit"),
    "max_minutes": _off("0 = no limit"),
    "minutes": POSITIVE,
    "patience": _off("0 = off"),
    "plateau_patience": NON_NEGATIVE,
    "eval_every": _off("0 = at each epoch end"),
    "log_every": POSITIVE,
    "lr": POSITIVE,
    "lr_decay": Bound(0, 1, low_open=True),
    "decay_start": NON_NEGATIVE,
    "momentum": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "clip": _off("0 = no clipping"),
    "seed": Bound(0, 2**63 - 1),
    # model
    "embed_size": NON_NEGATIVE,  # language models: 0 = one-hot input
    "hidden_size": POSITIVE,
    "num_layers": POSITIVE,
    "char_embed": _off("0 = no character CNN"),
    "char_filters": POSITIVE,
    "dropout": FRACTION,
    "weight_drop": FRACTION,
    "word_dropout": FRACTION,
    "label_smoothing": FRACTION,
    "teacher_forcing": Bound(0, 1),
    "init_range": NON_NEGATIVE,
    "forget_bias": FINITE,
    # data
    "seq_len": POSITIVE,
    "max_len": POSITIVE,
    "min_freq": POSITIVE,
    "max_vocab": Bound(low=5, note="room for the reserved tokens"),
    "holdout": Bound(0, 1, low_open=True, high_open=True),
    "chunk_mb": POSITIVE,
    "tau": POSITIVE,
    "horizon": POSITIVE,
    "period": POSITIVE,
    "order": POSITIVE,
    "k": POSITIVE,
    "discount": FRACTION,
    # decoding
    "length": NON_NEGATIVE,
    "num": POSITIVE,
    "beam": POSITIVE,
    "eval_beam": POSITIVE,
    "n_best": POSITIVE,
    "alpha": _off("0 = no length penalty"),
    "temperature": Bound(MIN_TEMPERATURE, MAX_TEMPERATURE, note="greedy", or_zero=True),
    "top_k": _off("0 = off"),
    "top_p": Bound(MIN_TOP_P, 1, note="1 = off"),
    # reports, serving, export
    "top": POSITIVE,
    "last": _off("0 = the whole split"),
    "port": Bound(1, 65535),
    "max_prompt_chars": POSITIVE,
    "max_tokens": POSITIVE,
    "max_items": POSITIVE,
    "max_body_bytes": POSITIVE,
    "max_concurrent": POSITIVE,
    "retry_after": POSITIVE,
    "max_batch": POSITIVE,
    "max_wait": POSITIVE,
    "opset": POSITIVE,
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def problem(name: str, value) -> str | None:
    """Why ``value`` is out of range for the setting ``name``, or None (also for names
    without a bound and for None, which means "the default" or "off")."""
    bound = BOUNDS.get(name)
    if bound is None or value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        return None  # the type check is the caller's
    return None if bound.holds(value) else f"{bound.rule()}, got {value}"


def check(name: str, value, *, label: str | None = None, integer: bool = False, error=ConfigError):
    """Raise ``error`` (``ConfigError`` unless told) when ``value`` breaks the rule of ``name``
    in ``BOUNDS``, or with ``integer`` is no int: ``<label> must be > 0, got 0``. ``label``
    names the setting in the message (``name`` unless told). Returns ``value``."""
    label = label or name
    # numbers.Integral: a numpy integer is one too (bool is, but means something else)
    if integer and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise error(f"{label} must be an integer, got {value!r}")
    why = problem(name, value)
    if why:
        raise error(f"{label} {why}")
    return value


def check_fields(config) -> None:
    """Raise ``ConfigError`` for the first field of the dataclass ``config`` out of range."""
    for f in fields(config):
        check(f.name, getattr(config, f.name), label=flag(f.name))


def numeric(param: click.Parameter) -> bool:
    return isinstance(param.type, click.types.IntParamType | click.types.FloatParamType)


def _checked(callback):
    def check(ctx: click.Context, param: click.Parameter, value):
        # multiple=True or nargs>1 options give tuples: each element follows the rule
        for item in value if isinstance(value, tuple) else (value,):
            why = problem(param.name, item)
            if why:  # worded as a config file's value is: the same rule, the same message
                raise ConfigError(f"{max(param.opts, key=len)} {why}")
        return callback(ctx, param, value) if callback else value

    return check


def bound_all(command: click.Command) -> None:
    """Check every numeric option of ``command`` and its subcommands against ``BOUNDS`` as
    it is parsed (before any data is read or model built)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            bound_all(sub)
        return
    for param in command.params:
        if numeric(param) and param.name in BOUNDS:
            param.callback = _checked(param.callback)
