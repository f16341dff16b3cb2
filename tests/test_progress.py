"""Progress bars of the commands that can take minutes: evaluation of a language model, a beam
search over a translation split, an ARPA export. They go to stderr when it is a terminal
(``RNNKIT_PROGRESS=1`` shows them here, where it is not) and stdout keeps only the results."""

from __future__ import annotations

import re

import pytest
from conftest import call_cli


@pytest.fixture
def shown(monkeypatch):
    monkeypatch.setenv("RNNKIT_PROGRESS", "1")
    monkeypatch.delenv("RNNKIT_DATA", raising=False)


def _finished(stderr: str, unit: str) -> bool:
    """Whether stderr holds a bar that reached its total, e.g. ``30/30 [00:01<00:00, 20sent/s]``."""
    return any(a == b for a, b in re.findall(rf"(\S+)/(\S+) \[[^\]]*{unit}", stderr))


def test_seq2seq_eval_shows_the_sentences_translated(shown, seq2seq_run):
    _, out, _, _ = seq2seq_run
    code, stdout, stderr = call_cli(["seq2seq", "eval", out, "--split", "valid", "--beam", "2"])
    assert code == 0, stderr
    assert "beam 2" in stderr and _finished(stderr, "sent/s")
    assert stdout.startswith("bleu: ")


def test_eval_of_a_language_model_shows_the_tokens_scored(shown, trained_run):
    code, stdout, stderr = call_cli(["eval", trained_run.dir, "--data", trained_run.text])
    assert code == 0, stderr
    assert _finished(stderr, "tok/s")
    assert stdout.startswith("perplexity: ")


def test_arpa_export_shows_the_entries_written(shown, tiny_text, tmp_path):
    run = tmp_path / "ngram"
    assert call_cli(["ngram", "train", "--data", tiny_text, "--order", "3", "--out", run])[0] == 0
    code, stdout, stderr = call_cli(["ngram", "export-arpa", run, tmp_path / "lm.arpa"])
    assert code == 0, stderr
    assert _finished(stderr, "entry/s")
    assert stdout.startswith("wrote ")


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch, trained_run):
    monkeypatch.delenv("RNNKIT_PROGRESS", raising=False)
    code, _, stderr = call_cli(["eval", trained_run.dir, "--data", trained_run.text])
    assert code == 0 and "tok/s" not in stderr
