"""Input the model cannot read is never silent: `rnnkit translate` (CLI, API) reads raw text
as the run's training data was made (case, Moses tokens) and warns about lines it mostly does
not know; `rnnkit score` counts unknown tokens per line and in all, and warns likewise."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from conftest import call_cli, write_tiny_text
from test_serve_api import client

from rnnkit.seq2seq.train import Seq2SeqRunConfig
from rnnkit.serve import load_models


def translate(monkeypatch, run, text: str, *args) -> tuple[list[str], str]:
    """``(stdout lines, stderr)`` of ``rnnkit translate RUN *args`` reading ``text``."""
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = call_cli(["translate", run, *args])
    assert code == 0, err
    return out.splitlines(), err


def as_multi30k_run(run, dest):
    """A copy of the toy run whose run file says it was trained on multi30k by a version that
    did not record the tokenization: its config has ``lowercase: false`` and no ``tokenize``."""
    shutil.copytree(run, dest)
    doc = json.loads((dest / "run.json").read_text())
    config = doc["config"]
    config.pop("tokenize", None)
    for key in ("src_file", "tgt_file", "valid_src_file", "valid_tgt_file", "tsv"):
        config[key] = None
    config |= {"data": "multi30k", "lowercase": False}
    (dest / "run.json").write_text(json.dumps(doc))
    return dest


# ---- translate -----------------------------------------------------------------------------------
def test_an_older_multi30k_run_reads_raw_input_as_its_corpus_was_made(
    seq2seq_run, tmp_path, monkeypatch
):
    run = as_multi30k_run(seq2seq_run[1], tmp_path / "de-en")
    raw, err = translate(monkeypatch, run, "A B, C.\nD E, F.\n", "--n-best", "2")
    assert err == ""  # the raw lines are known words once read right
    # The same weights read whitespace tokens as given (the toy run itself).
    tokens = "a b , c .\nd e , f .\n"
    assert raw == translate(monkeypatch, seq2seq_run[1], tokens, "--n-best", "2")[0]


def test_config_records_the_preprocessing_and_older_runs_still_load():
    config = Seq2SeqRunConfig()  # multi30k
    assert (config.lowercase, config.tokenize) == (True, "moses")
    older = Seq2SeqRunConfig.from_dict({"data": "multi30k", "lowercase": False})
    assert (older.lowercase, older.tokenize) == (True, "moses")
    files = Seq2SeqRunConfig.from_dict({"data": None, "src_file": "s", "tgt_file": "t"})
    assert (files.lowercase, files.tokenize) == (False, "whitespace")  # as before
    assert Seq2SeqRunConfig.from_dict({**files.to_dict(), "tokenize": "moses"}).tokenize == "moses"


def test_a_line_of_unknown_words_gets_a_warning(seq2seq_run, monkeypatch):
    run = seq2seq_run[1]
    out, err = translate(monkeypatch, run, "a b c\nxqzj vvkp wrrt\nb a zz\n")
    assert len(out) == 3
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: line 2: 3 of 3 source tokens are unknown")
    assert "xqzj, vvkp, wrrt" in lines[0]


def test_train_on_raw_files_with_moses_tokens(tmp_path, monkeypatch):
    """Raw files with --tokenize moses --lowercase train on the tokens translate reads."""
    src = ["Ein Hund.", "Zwei Hunde, ein Ball.", "Der Mann\u2019s Hut!"] * 20
    tgt = ["A dog.", "Two dogs, a ball.", "The man's hat!"] * 20
    (tmp_path / "s.txt").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    args = ["seq2seq", "train", "--src", tmp_path / "s.txt", "--tgt", tmp_path / "t.txt"]
    args += ["--tokenize", "moses", "--lowercase", "--min-freq", "1", "--embed-size", "8"]
    args += ["--hidden-size", "8", "--max-steps", "2", "--quiet", "--out", out]
    code, _, err = call_cli(args)
    assert code == 0, err
    assert json.loads((out / "run.json").read_text())["config"]["tokenize"] == "moses"
    src_vocab = json.loads((out / "src_vocab.json").read_text())
    tokens = src_vocab["tokens"] if isinstance(src_vocab, dict) else src_vocab
    assert {"hund", ".", ",", "!", "&apos;"} <= set(tokens)
    assert "hund." not in tokens
    _, err = translate(monkeypatch, out, "Zwei Hunde.\n")
    assert err == ""


def test_the_api_says_which_lines_are_mostly_unknown(seq2seq_run):
    (model,) = load_models([seq2seq_run[1]])
    r = client(model).post("/translate", json={"text": ["a b c", "xqzj vvkp"], "beam": 2})
    assert r.status_code == 200, r.text
    warnings = r.json()["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("line 2: 2 of 2 source tokens")
    assert client(model).post("/translate", json={"text": "a b"}).json()["warnings"] == []


# ---- score -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def word_ngram(tmp_path_factory):
    root = tmp_path_factory.mktemp("ngram-unk")
    text = write_tiny_text(root / "tiny.txt")
    out = root / "run"
    args = ["ngram", "train", "--data", text, "--tokenizer", "word", "--order", "3", "--out", out]
    code, _, err = call_cli(args)
    assert code == 0, err
    return out


LINES = "the cat sees the red ball\nxqzj vvkp wrrt\nthe cat sees a zebra\n"


def test_score_counts_unknown_tokens_and_warns(word_ngram, tmp_path):
    f = tmp_path / "lines.txt"
    f.write_text(LINES)
    code, out, err = call_cli(["score", word_ngram, "--file", f, "--json"])
    assert code == 0, err
    result = json.loads(out)
    rows, total = result["lines"], result["total"]
    assert [r["unknown"] for r in rows] == [0, 3, 1]
    assert rows[1]["unknown_rate"] == pytest.approx(3 / 4)  # 3 words and the line end
    assert total["unknown"] == 4 and total["unknown_rate"] == pytest.approx(4 / total["tokens"])
    warnings = err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: line 2: 3 of 4 tokens")

    code, out, err = call_cli(["score", word_ngram, "--file", f, "--rank"])
    assert code == 0 and "warning: line 2" in err
    header, *rows, last = out.splitlines()
    assert header == "logprob\tperplexity\ttokens\tunknown\tline"
    assert {r.split("\t")[3] for r in rows} == {"0", "3", "1"}
    assert last.endswith("4 unknown (" + f"{100 * 4 / total['tokens']:.1f}%)")


def test_score_of_a_neural_run_counts_unknown_characters(trained_run, tmp_path):
    f = tmp_path / "lines.txt"
    f.write_text("the cat\n\u4e00\u4e8c\u4e09\n")  # characters never seen in training
    code, out, err = call_cli(["score", trained_run.dir, "--file", f, "--json"])
    assert code == 0, err
    rows = json.loads(out)["lines"]
    assert [r["unknown"] for r in rows] == [0, 3]
    assert "warning: line 2: 3 of 4 tokens" in err
