"""`rnnkit classify train|predict|eval` and `rnnkit tag train|predict|eval` on toy data."""

from __future__ import annotations

import io
import json
import shutil

from conftest import call_cli, realdata, write_tsv


def test_joint_training_learns_the_toy_task(joint_run):
    root, out, stdout = joint_run
    assert {"run.json", "vocabs.json", "model.safetensors", "metrics.jsonl"} <= {
        p.name for p in out.iterdir()
    }
    history = json.loads((out / "run.json").read_text())["history"]
    assert history["metric"] == "valid_score" and history["best"] > 0.95
    code, stdout, stderr = call_cli(["tag", "eval", out, "--data", root / "v.conll", "--json"])
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["slots"]["f1"] > 0.95 and result["intent"]["accuracy"] > 0.95
    assert set(result["slots"]["per_type"]) == {"city", "song", "artist"}
    code, stdout, _ = call_cli(["tag", "eval", out, "--data", root / "v.conll"])
    assert stdout.startswith("f1: ") and "sentence accuracy" in stdout


def test_tag_predict_prints_tokens_tags_and_entities(joint_run, monkeypatch):
    _, out, _ = joint_run
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("What is the weather in Rome today?\n\nplay halo by queen\n")
    )
    code, stdout, stderr = call_cli(["tag", "predict", out])
    assert code == 0, stderr
    lines = stdout.split("\n")
    assert "rome/B-city" in lines[0] and lines[1] == ""
    assert lines[2] == "play/O halo/B-song by/O queen/B-artist"
    assert "1 empty lines" in stderr
    monkeypatch.setattr("sys.stdin", io.StringIO("play imagine by adele\n"))
    code, stdout, _ = call_cli(["tag", "predict", out, "--json"])
    doc = json.loads(stdout)
    assert doc["label"] == "Music" and 0.5 < doc["probability"] <= 1
    assert {"type": "artist", "start": 3, "end": 4, "text": "adele"} in doc["entities"]


def test_classify_predict_and_eval(intent_run, tmp_path, monkeypatch):
    root, out = intent_run
    monkeypatch.setattr("sys.stdin", io.StringIO("Weather in Oslo now?\nplay yellow by queen\n"))
    code, stdout, stderr = call_cli(["classify", "predict", out])
    assert code == 0, stderr
    rows = [line.split("\t") for line in stdout.strip().split("\n")]
    assert [r[0] for r in rows] == ["Weather", "Music"] and all(float(r[1]) > 0.5 for r in rows)
    monkeypatch.setattr("sys.stdin", io.StringIO("play yellow\n"))
    code, stdout, _ = call_cli(["classify", "predict", out, "--json", "--top", "2"])
    doc = json.loads(stdout)
    assert [t["label"] for t in doc["top"]][0] == doc["label"] and len(doc["top"]) == 2
    test = write_tsv(tmp_path / "test.tsv", 50, 9)
    png = tmp_path / "cm.png"
    code, stdout, stderr = call_cli(["classify", "eval", out, "--data", test, "--confusion", png])
    assert code == 0, stderr
    assert stdout.startswith("accuracy: ") and "macro-F1" in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, stdout, _ = call_cli(["classify", "eval", out, "--data", test, "--json"])
    result = json.loads(stdout)
    assert result["intent"]["accuracy"] > 0.9
    assert sum(map(sum, result["intent"]["confusion"])) == 50


def test_bad_inputs_get_one_line(intent_run, joint_run, tmp_path):
    _, intent = intent_run
    root, joint, _ = joint_run

    def fails(args, *needles):
        code, stdout, stderr = call_cli(args)
        assert code == 2, stderr
        # Progress lines may come first; the error is the one last line.
        assert stderr.endswith("\n") and "Traceback" not in stderr, stderr
        assert stderr.rstrip("\n").split("\n")[-1].startswith("error: "), stderr
        for needle in needles:
            assert needle in stderr
        return stderr

    new_label = tmp_path / "new.tsv"
    new_label.write_text("play yellow\tMusic\nset an alarm\tAlarm\n")
    fails(["classify", "eval", intent, "--data", new_label], "Alarm", "not trained on")
    fails(["tag", "predict", intent], "classification run", "rnnkit classify")
    fails(["classify", "eval", tmp_path], "not a classification or tagging run")
    fails(["classify", "train", "--data", new_label, "--out", intent], "already holds a run")
    mismatch = tmp_path / "m.conll"
    folder = tmp_path / "folder" / "train"
    folder.mkdir(parents=True)
    (folder / "seq.in").write_text("a b\nc\n")
    (folder / "label").write_text("X\n")
    fails(["classify", "train", "--data", folder.parent, "--out", tmp_path / "o"], "2 lines", "1")
    (folder / "label").write_text("X\nY\n")
    (folder / "seq.out").write_text("O O\nO O\n")
    fails(["tag", "train", "--data", folder.parent, "--out", tmp_path / "o"], "line 2", "2 tags")
    mismatch.write_text("a O\n")
    fails(["classify", "train", "--data", mismatch, "--out", tmp_path / "o2"], "needs a label")
    one = tmp_path / "one.tsv"
    one.write_text("a b\tX\nc d\tX\ne\tX\n")
    fails(["classify", "train", "--data", one, "--out", tmp_path / "o3"], "single label")
    fails(["classify", "predict", intent, "--top", "0"], "--top")
    broken = tmp_path / "broken"
    shutil.copytree(intent, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    fails(["classify", "eval", broken, "--data", new_label], "does not fit the run's config")


def test_help_lists_the_commands():
    code, stdout, _ = call_cli(["classify", "--help"])
    assert code == 0 and all(c in stdout for c in ("train", "predict", "eval"))
    code, stdout, _ = call_cli(["tag", "train", "--help"])
    assert code == 0 and "--crf / --no-crf" in stdout and "[default: slots]" in stdout


@realdata
def test_snips_joint_trains_a_little_and_evaluates(tmp_path):
    out = tmp_path / "snips"
    args = ["tag", "train", "--task", "joint", "--max-steps", "60", "--epochs", "1"]
    code, stdout, stderr = call_cli([*args, "--out", out])
    assert code == 0, stderr
    code, stdout, stderr = call_cli(["classify", "eval", out, "--split", "test", "--json"])
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["sentences"] == 700
    # Against always answering the most frequent intent of the test set (18% here): 60 steps
    # reach about 79%.
    support = [sum(row) for row in result["intent"]["confusion"]]
    assert result["intent"]["accuracy"] > 2 * max(support) / sum(support)
    assert (out / "confusion-test.png").exists()
