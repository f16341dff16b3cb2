"""`rnnkit seq2seq train|eval|attention` and `rnnkit translate` on a toy parallel corpus."""

from __future__ import annotations

import json

import pytest
from conftest import call_cli


def test_train_saves_a_run_and_learns_the_toy_task(seq2seq_run):
    root, out, stdout, stderr = seq2seq_run
    names = {p.name for p in out.iterdir()}
    assert {"run.json", "src_vocab.json", "tgt_vocab.json", "model.safetensors"} <= names
    assert "best valid BLEU" in stdout
    best = json.loads((out / "run.json").read_text())["history"]["best"]
    assert best > 60  # reversing 2-5 tokens is easy


def test_translate_reads_stdin_and_writes_a_line_each(seq2seq_run, monkeypatch, capsys):
    import io

    _, out, _, _ = seq2seq_run
    monkeypatch.setattr("sys.stdin", io.StringIO("a b c\n\nd e\n"))
    code, stdout, stderr = call_cli(["translate", out, "--beam", "3"])
    assert code == 0, stderr
    lines = stdout.split("\n")[:3]
    assert lines[0] == "C B A" and lines[1] == "" and lines[2] == "E D"


def test_beam_1_equals_greedy_through_the_cli(seq2seq_run, monkeypatch):
    import io

    _, out, _, _ = seq2seq_run
    text = "h g f e\nb a\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    beam1 = call_cli(["translate", out, "--beam", "1"])[1]
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    beam4 = call_cli(["translate", out, "--beam", "4", "--n-best", "2"])[1]
    assert beam1.splitlines()[0] == "E F G H"
    assert len(beam4.splitlines()[0].split("\t")) == 2


def test_eval_prints_bleu_and_attention_writes_a_png(seq2seq_run, tmp_path):
    _, out, _, _ = seq2seq_run
    code, stdout, _ = call_cli(["seq2seq", "eval", out, "--split", "valid", "--beam", "2"])
    assert code == 0 and stdout.startswith("bleu: ") and "|tok:none|" in stdout.splitlines()[0]
    code, stdout, _ = call_cli(["seq2seq", "eval", out, "--split", "valid", "--json"])
    row = json.loads(stdout)
    assert row["bleu"] == pytest.approx(100) and row["sentences"] == 30
    assert row["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|")

    png = tmp_path / "att.png"
    code, stdout, stderr = call_cli(
        ["seq2seq", "attention", out, "--sentence", "a b c", "--out", png]
    )
    assert code == 0, stderr
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_eval_searches_with_the_given_length_penalty(seq2seq_run, monkeypatch):
    import rnnkit.seq2seq.train as s2s_train

    _, out, _, _ = seq2seq_run
    seen = []
    evaluate = s2s_train.evaluate
    monkeypatch.setattr(
        s2s_train, "evaluate", lambda *a, **kw: seen.append(kw["alpha"]) or evaluate(*a, **kw)
    )
    code, stdout, err = call_cli(
        ["seq2seq", "eval", out, "--split", "valid", "--beam", "3", "--alpha", "1.5", "--json"]
    )
    assert code == 0, err
    assert seen == [1.5] and json.loads(stdout)["alpha"] == 1.5


def test_bleu_counts_unk_as_one_token():
    """Hypotheses keep <unk>: scored on rnnkit's tokens it is one wrong token; sacrebleu's 13a
    tokenizer would make three of it (``< unk >``), a different (and wrong) length."""
    from rnnkit.seq2seq.bleu import corpus_bleu
    from rnnkit.seq2seq.train import detok, evaluate  # noqa: F401 (evaluate scores with "none")

    hyp, ref = ["a man <unk> a red ball in the park ."], ["a man throws a red ball in the park ."]
    assert corpus_bleu(hyp, ref, tokenize="none") == pytest.approx(
        100 * (9 / 10 * 7 / 9 * 5 / 8 * 4 / 7) ** 0.25
    )
    assert corpus_bleu(hyp, ref, tokenize="13a") != corpus_bleu(hyp, ref, tokenize="none")


def test_bad_inputs(seq2seq_run, tmp_path):
    root, out, _, _ = seq2seq_run
    (tmp_path / "short.tgt").write_text("A\nB\n")
    code, _, stderr = call_cli(
        [
            "seq2seq",
            "train",
            "--src",
            root / "train.src",
            "--tgt",
            tmp_path / "short.tgt",
            "--out",
            tmp_path / "x",
        ]
    )
    assert code == 2 and "200" in stderr and "2" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = call_cli(["translate", tmp_path])
    assert code == 2 and "not a translation run" in stderr
    code, _, stderr = call_cli(["translate", out, "--beam", "0"])
    assert code == 2 and "--beam" in stderr
    code, _, stderr = call_cli(["seq2seq", "eval", out, "--split", "test"])
    assert code == 2 and "no test split" in stderr


def test_empty_lines_are_skipped_and_long_ones_cut_with_warnings(tmp_path):
    (tmp_path / "s").write_text("a b\n\nc d e f g h a b\nd\n" * 5)
    (tmp_path / "t").write_text("B A\nX\nH G F E D C B A\nD\n" * 5)
    args = ["seq2seq", "train", "--src", tmp_path / "s", "--tgt", tmp_path / "t", "--max-len", "4"]
    args += [
        "--embed-size",
        "8",
        "--hidden-size",
        "8",
        "--epochs",
        "1",
        "--min-freq",
        "1",
        "--out",
        tmp_path / "r",
    ]
    code, _, stderr = call_cli(args)
    assert code == 0, stderr
    assert "5 train pairs with an empty side were skipped" in stderr
    assert "5 train pairs were cut to --max-len 4" in stderr
