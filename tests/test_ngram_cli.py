"""`rnnkit ngram train|eval|generate|export-arpa`, and `rnnkit eval|score` on n-gram runs."""

from __future__ import annotations

import json

import pytest
from conftest import call_cli, realdata, run_cli


@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory):
    from conftest import write_tiny_text

    root = tmp_path_factory.mktemp("ngram")
    text = write_tiny_text(root / "tiny.txt")
    out = root / "run"
    code, stdout, stderr = call_cli(
        ["ngram", "train", "--data", text, "--tokenizer", "word", "--order", "3", "--out", out]
    )
    assert code == 0, stderr
    return text, out, stdout


def test_train_writes_a_run_and_reports(ngram_run):
    _, out, stdout = ngram_run
    assert {"run.json", "vocab.json", "counts.safetensors"} <= {p.name for p in out.iterdir()}
    assert "3-gram kn" in stdout and "valid perplexity" in stdout
    doc = json.loads((out / "run.json").read_text())
    sizes = doc["fitted"]["sizes"]
    assert doc["kind"] == "ngram" and doc["config"]["order"] == 3
    assert len(sizes) == 3 and all(n > 0 for n in sizes)


def test_eval_prints_perplexity_and_rnnkit_eval_agrees(ngram_run):
    text, out, _ = ngram_run
    code, stdout, _ = call_cli(["ngram", "eval", out, "--split", "valid"])
    assert code == 0 and stdout.startswith("perplexity: ")
    ppl = float(stdout.split()[1])
    assert 1 < ppl < 50  # a repetitive made-up corpus
    code, stdout, _ = call_cli(["eval", out, "--split", "valid", "--json"])
    row = json.loads(stdout)
    assert row["perplexity"] == pytest.approx(ppl, rel=1e-4)
    assert row["tokens"] > 0


def test_score_ranks_lines_of_the_corpus_above_shuffled_words(ngram_run, tmp_path):
    _, out, _ = ngram_run
    f = tmp_path / "lines.txt"
    f.write_text(
        "The cat sees the red ball in the morning.\nmorning the in ball red the sees cat The.\n"
    )
    code, stdout, stderr = call_cli(["score", out, "--file", f, "--json"])
    assert code == 0, stderr
    rows = json.loads(stdout)["lines"]
    assert rows[0]["logprob"] > rows[1]["logprob"]
    assert rows[0]["tokens"] == rows[1]["tokens"] == 10  # 9 words and the line end


def test_generate_is_repeatable_with_a_seed(ngram_run):
    _, out, _ = ngram_run
    args = ["ngram", "generate", out, "--prompt", "The cat", "--length", "30", "--seed", "4"]
    a, b = call_cli(args), call_cli(args)
    assert a[0] == 0 and a[1] == b[1]
    assert a[1].startswith("The cat")
    assert "<pad>" not in a[1] and "<bos>" not in a[1]


def test_generate_at_temperature_0_is_greedy(ngram_run):
    _, out, _ = ngram_run
    args = ["ngram", "generate", out, "--prompt", "The cat", "--length", "20", "--temperature", "0"]
    a, b = call_cli([*args, "--seed", "1"]), call_cli([*args, "--seed", "2"])
    assert a[0] == 0, a[2]
    assert a[1] == b[1] and a[1].startswith("The cat")


def test_export_arpa_writes_a_file(ngram_run, tmp_path):
    _, out, _ = ngram_run
    arpa = tmp_path / "lm.arpa"
    code, stdout, stderr = call_cli(["ngram", "export-arpa", out, arpa])
    assert code == 0, stderr
    text = arpa.read_text(encoding="utf-8")
    assert text.startswith("\n\\data\\") or text.startswith("\\data\\")
    assert "\\3-grams:" in text and text.rstrip().endswith("\\end\\")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--order", "0"], "--order must be > 0, got 0"),
        (["--order", "80"], "larger than the training sentences allow"),
        (["--smoothing", "addk", "--k", "-1"], "--k must be > 0, got -1.0"),
        (["--smoothing", "mkn", "--discount", "0.5"], "kn only"),
    ],
)
def test_bad_train_options_are_one_line_errors(ngram_run, tmp_path, args, message):
    text, _, _ = ngram_run
    code, _, stderr = call_cli(["ngram", "train", "--data", text, "--out", tmp_path / "x", *args])
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_empty_corpus_and_existing_run_are_refused(ngram_run, tmp_path):
    text, out, _ = ngram_run
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, stderr = call_cli(["ngram", "train", "--data", empty, "--out", tmp_path / "e"])
    assert code == 2 and stderr.startswith("error: ")
    code, _, stderr = call_cli(["ngram", "train", "--data", text, "--out", out])
    assert code == 2 and "already holds an n-gram run" in stderr


def test_export_of_a_non_backoff_model_is_refused(ngram_run, tmp_path):
    text, _, _ = ngram_run
    out = tmp_path / "addk"
    assert call_cli(["ngram", "train", "--data", text, "--smoothing", "addk", "--out", out])[0] == 0
    code, _, stderr = call_cli(["ngram", "export-arpa", out, tmp_path / "a.arpa"])
    assert code == 2 and "kn or mkn" in stderr
    assert not (tmp_path / "a.arpa").exists()


def test_damaged_run_directory(ngram_run, tmp_path):
    code, _, stderr = call_cli(["ngram", "eval", tmp_path / "missing"])
    assert code == 2 and "run directory not found" in stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ngram.json").write_text("{not json")
    (bad / "vocab.json").write_text("{}")
    (bad / "counts.safetensors").write_bytes(b"\x00" * 16)
    code, _, stderr = call_cli(["ngram", "eval", bad])
    assert code == 2 and "damaged" in stderr


def test_help_lists_the_subcommands():
    code, stdout, _ = call_cli(["ngram", "--help"])
    assert code == 0
    for name in ("train", "eval", "generate", "export-arpa"):
        assert name in stdout


@realdata
@pytest.mark.parametrize(
    "data,tokenizer,order,low,high",
    [("ptb", "word", 3, 120, 200), ("tinyshakespeare", "char", 5, 3, 8)],
)
def test_real_datasets_end_to_end(tmp_path, data, tokenizer, order, low, high):
    out = tmp_path / "run"
    train = ["ngram", "train", "--data", data, "--tokenizer", tokenizer, "--order", order]
    code, _, stderr = run_cli([*train, "--smoothing", "mkn", "--out", out], keep_data=True)
    assert code == 0, stderr
    split = "test" if data == "ptb" else "valid"
    code, stdout, _ = run_cli(["ngram", "eval", out, "--split", split], keep_data=True)
    assert code == 0
    ppl = float(stdout.split()[1])
    assert low < ppl < high
    code, stdout, _ = run_cli(
        ["ngram", "generate", out, "--length", "50", "--seed", "0"], keep_data=True
    )
    assert code == 0 and stdout.strip()
    code, _, stderr = run_cli(["ngram", "export-arpa", out, tmp_path / "lm.arpa"], keep_data=True)
    assert code == 0, stderr
    # the exported file, read as KenLM reads it, gives the run's perplexity
    evaluate = ["ngram", "eval", tmp_path / "lm.arpa", "--data", data, "--split", split]
    code, stdout, stderr = run_cli(evaluate, keep_data=True)
    assert code == 0, stderr
    assert float(stdout.split()[1]) == pytest.approx(ppl, rel=1e-5)


def test_text_of_only_unseen_tokens_has_finite_perplexity(ngram_run, tmp_path):
    _, out, _ = ngram_run
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("zebra quantum xylophone\n" * 30)
    code, stdout, stderr = call_cli(
        ["ngram", "eval", out, "--data", unseen, "--split", "train", "--json"]
    )
    assert code == 0, stderr
    row = json.loads(stdout)
    assert row["unk_rate"] > 0.7 and row["perplexity"] is not None and row["perplexity"] > 1
