"""Runs written by earlier versions of rnnkit still load, answer and (language models) resume.

``tests/fixtures`` holds one tiny run of each kind from each earlier run format:

- ``runs-v0``: the version before the one trainer (flat task configs with
  ``embed``/``hidden``/``layers`` and ``None`` for "no limit");
- ``runs-v1``: the version before the one run file (``config.yaml``, ``ngram.json``,
  ``seq2seq.json``, ``classify.json`` and ``forecast.json``, each with its own layout).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import call_cli

FIXTURES = Path(__file__).parent / "fixtures" / "runs-v0"
KINDS = ("lm", "ngram", "seq2seq", "classify", "forecast")


@pytest.fixture(params=["runs-v0", "runs-v1"])
def runs(request, tmp_path) -> Path:
    """A copy of one version's fixtures (loading must not need to write, but resuming does)."""
    shutil.copytree(FIXTURES.parent / request.param, tmp_path / "runs")
    return tmp_path / "runs"


@pytest.mark.parametrize("kind", KINDS)
def test_info_reads_every_kind(runs, kind):
    code, out, err = call_cli(["info", runs / kind, "--json"])
    assert code == 0, err
    assert json.loads(out)["kind"] == kind


def test_language_model_generates_and_resumes(runs):
    code, out, err = call_cli(["generate", runs / "lm", "--length", "20", "--seed", "1"])
    assert code == 0, err
    assert len(out) > 20  # a line start, then 20 characters
    corpus = FIXTURES / "lm-corpus.txt"
    code, _, err = call_cli(
        ["train", "--resume", runs / "lm", "--data", corpus, "--max-steps", "6", "--quiet"]
    )
    assert code == 0, err
    rows = [json.loads(x) for x in (runs / "lm" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 6


def test_translation_run_loads_with_the_new_names(runs, monkeypatch):
    from rnnkit.seq2seq.train import load_run

    config, src_vocab, tgt_vocab, model = load_run(runs / "seq2seq")
    assert (config.embed_size, config.hidden_size, config.num_layers) == (4, 8, 1)
    assert config.patience == 0 and config.max_steps == 0  # None once meant "no limit"
    monkeypatch.setattr("sys.stdin", io.StringIO("a b c\n"))
    code, out, err = call_cli(["translate", runs / "seq2seq", "--beam", "2"])
    assert code == 0, err
    assert len(out.splitlines()) == 1


def test_classification_run_loads_and_predicts(runs, monkeypatch):
    from rnnkit.classify.train import load_run

    config, vocabs, model = load_run(runs / "classify")
    assert config.hidden_size == 4 and config.patience == 5
    monkeypatch.setattr("sys.stdin", io.StringIO("play yellow by adele\n"))
    code, out, err = call_cli(["classify", "predict", runs / "classify"])
    assert code == 0, err
    assert out.split()[0] in ("Music", "Weather")


def test_forecasting_run_loads_and_evaluates(runs):
    from rnnkit.forecast.pipeline import ForecastRun

    run = ForecastRun.load(runs / "forecast")
    assert run.config.hidden_size == 4 and run.config.max_minutes == 0
    result = run.evaluate("test")
    assert set(result["models"]) >= {run.name, "naive", "linear"}


def test_ngram_run_scores(runs):
    code, out, err = call_cli(["eval", runs / "ngram", "--data", FIXTURES / "lm-corpus.txt"])
    assert code == 0, err


def test_loading_a_run_leaves_the_global_rng_alone(runs):
    """A model is built before its weights are loaded; its thrown-away initialisation must
    not move the random state of the program that loads it."""
    import torch

    from rnnkit.classify.train import load_run as load_classify
    from rnnkit.forecast.pipeline import ForecastRun
    from rnnkit.seq2seq.train import load_run as load_seq2seq
    from rnnkit.train.checkpoint import load_for_inference

    loaders = [
        lambda: load_for_inference(runs / "lm"),
        lambda: load_seq2seq(runs / "seq2seq"),
        lambda: load_classify(runs / "classify"),
        lambda: ForecastRun.load(runs / "forecast"),
    ]
    for load in loaders:
        before = torch.get_rng_state()
        load()
        assert torch.equal(torch.get_rng_state(), before)
