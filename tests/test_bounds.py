"""One range per setting name: configs (YAML, the Python API) refuse what the command line
refuses, with the same words."""

from __future__ import annotations

from dataclasses import fields

import pytest

from rnnkit.bounds import BOUNDS, Bound, check, problem
from rnnkit.classify.config import ClassifyRunConfig
from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.forecast.config import ForecastConfig
from rnnkit.seq2seq.config import Seq2SeqRunConfig
from rnnkit.serve.settings import ServeSettings

# the smallest valid config of each kind, which every case changes in one field
CONFIGS = {
    TrainConfig: {},
    Seq2SeqRunConfig: {},
    ClassifyRunConfig: {},
    ForecastConfig: {"csv": "series.csv"},
    ServeSettings: {},
}


def _bad_value(name: str, current):
    bound = BOUNDS[name]
    if bound.low is None:
        return float("inf")
    below = bound.low if bound.low_open else bound.low - 1
    return int(below) if isinstance(current, int) else float(below)


def _cases():
    for cls, base in CONFIGS.items():
        for f in fields(cls):
            if f.name in BOUNDS:
                yield pytest.param(cls, base, f.name, id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize("cls, base, name", list(_cases()))
def test_every_bounded_field_is_checked(cls, base, name):
    current = getattr(cls(**base), name)
    value = _bad_value(name, current if current is not None else 1)
    with pytest.raises(ConfigError) as e:
        cls(**base, **{name: value})
    flag = "--" + name.replace("_", "-")
    assert str(e.value).startswith(flag), str(e.value)
    if value != float("inf"):  # an inf is refused by the type check, before the range
        assert str(e.value) == f"{flag} {problem(name, value)}"


def test_the_rule_in_words():
    assert Bound(low=0, low_open=True).rule() == "must be > 0"
    assert Bound(0, 1, high_open=True).rule() == "must be in [0, 1)"
    assert Bound(low=0, note="0 = off").rule() == "must be >= 0 (0 = off)"
    assert problem("seed", -1) == "must be in [0, 9223372036854775807], got -1"
    assert problem("dropout", float("nan")).startswith("must be in [0, 1)")
    assert problem("dropout", 0.5) is None
    assert problem("dropout", None) is None  # None: the model's default
    assert problem("not_a_setting", -1) is None


def test_a_config_file_and_the_command_line_say_the_same(tmp_path):
    from conftest import call_cli

    (tmp_path / "c.yaml").write_text("clip: -1\n")
    code, _, err = call_cli(["train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "o"])
    assert code == 2
    code2, _, err2 = call_cli(["train", "--clip", "-1", "--out", tmp_path / "o"])
    assert code2 == 2
    assert err.strip() == err2.strip() == "error: --clip must be >= 0 (0 = no clipping), got -1.0"


def test_check_names_the_setting_and_takes_numpy_integers():
    import numpy as np

    from rnnkit.errors import GenerationError

    assert check("tau", np.int64(3), integer=True) == 3
    assert check("beam", 2, integer=True) == 2
    with pytest.raises(ConfigError, match=r"^tau must be an integer, got 1\.5$"):
        check("tau", 1.5, integer=True)
    with pytest.raises(ConfigError, match=r"^tau must be an integer, got True$"):
        check("tau", True, integer=True)
    with pytest.raises(GenerationError, match=r"^--beam must be > 0, got 0$"):
        check("beam", 0, label="--beam", error=GenerationError)
