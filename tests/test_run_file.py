"""The one run file: every kind of run writes ``run.json``, and one loader reads it (and the
files of earlier layouts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import call_cli

from rnnkit.errors import RunDirError
from rnnkit.registry.runs import FORMAT, RUN_FILE, read_run, run_kind

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = {
    "lm": "config.yaml",
    "ngram": "ngram.json",
    "seq2seq": "seq2seq.json",
    "classify": "classify.json",
    "forecast": "forecast.json",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, trained_run, seq2seq_run, joint_run, forecast_run) -> dict:
    """A run of every kind, written by today's training commands."""
    ngram = tmp_path_factory.mktemp("runfile") / "ngram"
    code, _, err = call_cli(["ngram", "train", "--data", trained_run.text, "--out", ngram])
    assert code == 0, err
    return {
        "lm": trained_run.dir,
        "ngram": ngram,
        "seq2seq": seq2seq_run[1],
        "classify": joint_run[1],
        "forecast": forecast_run[1],
    }


def _build(kind: str, model: dict):
    """The network of a run built from the model config its run file holds."""
    if kind == "lm":
        from rnnkit.models.lm import LMConfig, RNNLanguageModel

        return RNNLanguageModel(LMConfig(**model))
    if kind == "seq2seq":
        from rnnkit.seq2seq.models import build_seq2seq

        return build_seq2seq(model)
    if kind == "classify":
        from rnnkit.classify.models import SequenceModel, SequenceModelConfig

        return SequenceModel(SequenceModelConfig.from_dict(model))
    from rnnkit.forecast.pipeline import build_model

    return build_model(model)


@pytest.mark.parametrize("kind", list(LEGACY))
def test_every_kind_writes_one_run_file(runs, kind):
    run = runs[kind]
    raw = json.loads((run / RUN_FILE).read_text())
    assert raw["format"] == FORMAT and raw["kind"] == kind
    assert set(raw) == {"format", "kind", "config", "model", "history", "fitted"}
    assert not any((run / name).exists() for name in LEGACY.values())
    doc = read_run(run, kind)
    if kind == "ngram":
        assert doc.model is None and doc.history == {}
        assert doc.config["order"] == 3 and len(doc.fitted["sizes"]) == 3
        return
    # The model config builds the very network whose weights the run holds.
    from safetensors.torch import load_file

    saved = load_file(str(run / "model.safetensors"))
    model = _build(kind, doc.model)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        k: tuple(v.shape) for k, v in saved.items()
    }
    h = doc.history
    assert h["steps"] > 0 and h["seconds"] > 0 and h["stop"]
    assert h["best"] is not None and h["best_step"] is not None
    assert h["epochs"] and all(r["kind"] == "eval" for r in h["epochs"])
    best = [r[h["metric"]] for r in h["epochs"] if r["step"] == h["best_step"]]
    assert best == [h["best"]]


@pytest.mark.parametrize("kind", list(LEGACY))
def test_earlier_layouts_read_as_run_files(kind):
    """The runs-v1 fixtures: each config comes back whole from its own file."""
    import yaml

    run = FIXTURES / "runs-v1" / kind
    doc = read_run(run, kind)
    assert doc.source == str(run / LEGACY[kind])
    old = (run / LEGACY[kind]).read_text()
    if kind == "lm":
        assert doc.config == yaml.safe_load(old) and doc.history == {"metric": "valid_loss"}
    elif kind == "ngram":
        assert {**doc.config, **doc.fitted} == {
            k: v for k, v in json.loads(old).items() if k != "kind"
        }
    else:
        assert doc.config == json.loads(old)["config"]
    if kind in ("seq2seq", "classify", "forecast"):  # their best value named its metric
        h = doc.history
        assert h["metric"] in ("bleu", "valid_score", "valid_mse") and "best" in h
        assert h["best"] is None or h["best"] in [r.get(h["metric"]) for r in h["epochs"]]


def test_a_run_file_wins_over_an_earlier_layout(runs, tmp_path):
    run = shutil.copytree(runs["lm"], tmp_path / "run")
    (run / "config.yaml").write_text("hidden_size: [broken\n")
    assert read_run(run).config["hidden_size"] == 32


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"format": 99, "kind": "lm", "config": {}}', "upgrade rnnkit"),
        ('{"format": 1, "kind": "transformer", "config": {}}', "unknown kind 'transformer'"),
        ('{"format": 1, "kind": "lm", "config": [1]}', "not a mapping"),
        ('{"format": 1, "config": {}}', "damaged"),
        ("[1, 2]", "not a JSON object"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_a_damaged_run_file_is_one_error(tmp_path, text, needle):
    (tmp_path / RUN_FILE).write_text(text)
    with pytest.raises(RunDirError) as e:
        read_run(tmp_path)
    assert needle in str(e.value) and RUN_FILE in str(e.value) and "\n" not in str(e.value)
    assert run_kind(tmp_path) is None


def test_a_run_of_another_kind_names_both(runs):
    with pytest.raises(RunDirError) as e:
        read_run(runs["seq2seq"], "forecast")
    assert "is a translation run" in str(e.value) and "not a forecasting run" in str(e.value)


def test_an_incomplete_run_names_what_is_missing(runs, tmp_path):
    run = shutil.copytree(runs["classify"], tmp_path / "run")
    (run / "vocabs.json").unlink()
    with pytest.raises(RunDirError, match="missing vocabs.json"):
        read_run(run, "classify")


def test_info_shows_the_model_config(runs):
    code, out, err = call_cli(["info", runs["seq2seq"]])
    assert code == 0, err
    lines = out.splitlines()
    assert "model" in lines and "  attention: additive" in lines[lines.index("model") :]
