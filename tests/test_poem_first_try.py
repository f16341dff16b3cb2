"""`rnnkit poem train` for a first try: the tiny preset, the defaults --help shows, the corpus
preparation's progress bar and the curves' title, on a small made-up poem collection."""

from __future__ import annotations

import json
import random
import re

import pytest
from conftest import call_cli

from rnnkit.commands.poem import PRESETS
from rnnkit.poetry.data import FILES

_CHARS = "春夏秋冬山水風月花雲天地人心日夜江河白青紅長明清寒暮歸來去遠近高深"


@pytest.fixture
def poem_data(tmp_path, monkeypatch):
    """$RNNKIT_DATA holding the 58 poem files, three made-up 五言绝句 in each."""
    rng = random.Random(0)
    for file in FILES:
        path = tmp_path / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        poems = []
        for i in range(3):
            lines = ["".join(rng.choice(_CHARS) for _ in range(5)) for _ in range(4)]
            text = [f"{lines[0]}，{lines[1]}。", f"{lines[2]}，{lines[3]}。"]
            poems.append({"title": f"題{i}", "author": "無名", "paragraphs": text})
        path.write_text(json.dumps(poems, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    return tmp_path


def _train(out, *extra):
    return call_cli(["poem", "train", "--preset", "tiny", "--max-steps", "2", "--out", out, *extra])


def _train_small(out, *extra):
    """The default preset, made small enough for a test."""
    sizes = ["--hidden-size", "16", "--num-layers", "1", "--seq-len", "8", "--batch-size", "4"]
    return call_cli(["poem", "train", *sizes, "--max-steps", "2", "--out", out, *extra])


def test_help_shows_the_defaults_a_poem_run_gets():
    code, stdout, _ = call_cli(["poem", "train", "--help"])
    assert code == 0
    text = " ".join(stdout.split())
    assert "tiny" in text and "differ" not in text
    for flag, field in (("--seq-len", "seq_len"), ("--batch-size", "batch_size")):
        shown = ", ".join(f"{name} {p[field]}" for name, p in PRESETS.items())
        help_line = re.search(rf"{flag} INTEGER (.*?\])", text).group(1)
        assert help_line.endswith(f"[default: from --preset: {shown}]")
    # rnnkit train's defaults (seq-len 100, batch 32, min-freq 1) are not a poem run's
    assert "[default: 100]" not in text
    assert "--min-freq INTEGER Tokens seen fewer times map to <unk>. [default: 2]" in text


def test_tiny_preset_trains_with_the_defaults_shown(poem_data, tmp_path):
    out = tmp_path / "run"
    code, _, stderr = _train(out, "--quiet")
    assert code == 0, stderr
    config = json.loads((out / "run.json").read_text(encoding="utf-8"))["config"]
    assert {k: config[k] for k in PRESETS["tiny"]} == PRESETS["tiny"]
    assert config["min_freq"] == 2 and config["tokenizer"] == "chinese-char"


def test_corpus_preparation_shows_progress_unless_quiet(poem_data, tmp_path):
    code, _, stderr = _train_small(tmp_path / "a", "--eval-every", "0")
    assert code == 0, stderr
    for stage in ("reading poem files", "cleaning poems", "holding out 5%", "counting"):
        assert stage in stderr
    code, _, stderr = _train_small(tmp_path / "b", "--quiet")
    assert code == 0 and "cleaning poems" not in stderr


def test_curves_are_titled_with_the_poem_corpus(poem_data, tmp_path, monkeypatch):
    import rnnkit.train.trainer as trainer

    titles = []
    monkeypatch.setattr(
        trainer, "plot_curves", lambda rows, path, title, metric: titles.append(title)
    )
    code, _, stderr = _train_small(tmp_path / "run", "--quiet", "--form", "wujue")
    assert code == 0, stderr
    assert titles and titles[-1] == "lstm on tang-poetry, wujue"


@pytest.mark.parametrize(
    "yaml, needle", [("model: transformer\n", "transformer"), ("hidden_size: abc\n", "hidden_size")]
)
def test_a_bad_config_field_fails_before_the_corpus_is_prepared(poem_data, tmp_path, yaml, needle):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml)
    out = tmp_path / "run"
    code, _, stderr = _train(out, "--config", config)
    assert code == 2 and needle in stderr
    assert "reading poem files" not in stderr  # no progress bar: the corpus was not read
    assert not out.exists()
