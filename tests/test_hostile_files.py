"""Hostile and damaged run directories: refused with one line, never executed, never trusted.

Every case copies a trained run, damages one file, and runs the command that reads it: the
command must exit with code 2 and a one-line ``error:`` naming the file, and a payload that
would create a marker file must not have run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import call_cli

MARKER = "rnnkit-payload-ran"


class Payload:
    """Unpickling this runs ``os.system`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _copy(src, tmp_path: Path, name: str = "run") -> Path:
    dst = tmp_path / name
    shutil.copytree(Path(src), dst)
    return dst


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


def _header_len(path: Path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def assert_refused(args, *needles) -> str:
    code, out, err = call_cli([str(a) for a in args])
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ---- code in a pickle --------------------------------------------------------------------------
def test_pickled_payload_in_trainer_state_is_refused_unrun(tmp_path, trained_run):
    run = _copy(trained_run, tmp_path)
    marker = tmp_path / MARKER
    torch.save({"step": 1, "payload": Payload(marker)}, run / "trainer_state.pt")
    assert_refused(
        ["train", "--resume", run, "--max-steps", "40", "--quiet"], "cannot be loaded safely"
    )
    assert not marker.exists()
    code, out, err = call_cli(["info", str(run)])  # info reads the state too
    assert not marker.exists() and "Traceback" not in err
    assert code in (0, 2)


def test_pickled_payload_under_a_weight_file_name_is_refused(tmp_path, trained_run):
    run = _copy(trained_run, tmp_path)
    marker = tmp_path / MARKER
    torch.save(Payload(marker), run / "model.safetensors")  # a pickle, not safetensors
    assert_refused(["generate", run, "--length", "5"], "model.safetensors")
    assert not marker.exists()


# ---- damaged weights ---------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "data bit", "header bit", "empty", "zeros"])
def test_damaged_weights_are_detected(tmp_path, trained_run, damage):
    run = _copy(trained_run, tmp_path)
    path = run / "model.safetensors"
    size = path.stat().st_size
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: size // 2])
    elif damage == "data bit":
        _flip(path, size - 17)
    elif damage == "header bit":
        _flip(path, _header_len(path) - 40)  # inside the JSON header
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(bytes(size))
    assert_refused(["generate", run, "--length", "5"], "model.safetensors")


def test_a_flipped_bit_anywhere_in_the_data_is_caught(tmp_path, trained_run):
    run = _copy(trained_run, tmp_path)
    path = run / "model.safetensors"
    start, size = _header_len(path), path.stat().st_size
    original = path.read_bytes()
    for at in range(start, size, max(1, (size - start) // 7)):
        path.write_bytes(original)
        _flip(path, at)
        assert_refused(["eval", run], "checksum mismatch")


@pytest.mark.parametrize("which", ["seq2seq", "classify", "forecast"])
def test_damaged_weights_of_task_runs(
    tmp_path, monkeypatch, which, seq2seq_run, intent_run, forecast_run
):
    src = {"seq2seq": seq2seq_run[1], "classify": intent_run[1], "forecast": forecast_run[1]}
    run = _copy(src[which], tmp_path)
    path = run / "model.safetensors"
    _flip(path, path.stat().st_size - 5)
    monkeypatch.setattr("sys.stdin", io.StringIO("a b c\n"))
    command = {
        "seq2seq": ["translate", run],
        "classify": ["classify", "predict", run],
        "forecast": ["forecast", "predict", run, "--horizon", "3"],
    }[which]
    assert_refused(command, "checksum mismatch")


def test_damaged_ngram_counts(tmp_path, trained_run):
    run = tmp_path / "ngram"
    code, _, err = call_cli(["ngram", "train", "--data", str(trained_run.text), "--out", str(run)])
    assert code == 0, err
    path = run / "counts.safetensors"
    start, size = _header_len(path), path.stat().st_size
    original = path.read_bytes()
    for at in (start + 3, (start + size) // 2, size - 2):  # a key, a count, a suffix id
        path.write_bytes(original)
        _flip(path, at)
        assert_refused(["ngram", "export-arpa", run, tmp_path / "x.arpa"], "counts.safetensors")
    path.write_bytes(original)
    path = run / "backoff.safetensors"  # the lean store that generate, eval and score read
    start, size = _header_len(path), path.stat().st_size
    original = path.read_bytes()
    for at in (start + 3, (start + size) // 2, size - 2):
        path.write_bytes(original)
        _flip(path, at)
        assert_refused(["ngram", "generate", run, "--length", "3"], "backoff.safetensors")


def test_last_weights_and_state_from_different_checkpoints(tmp_path, trained_run):
    from rnnkit.train.checkpoint import RunDir, save_weights

    run = _copy(trained_run, tmp_path)
    rd = RunDir(run)
    model = rd.load_model(rd.load_config(), len(rd.load_vocab()), "last")
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    save_weights(model, rd.last_path)  # well-formed weights of another checkpoint
    assert_refused(
        ["train", "--resume", run, "--max-steps", "40", "--quiet"], "different checkpoints"
    )


# ---- configuration and vocabulary --------------------------------------------------------------
@pytest.mark.parametrize(
    "edit,needle",
    [
        (lambda c: c.update(hidden_size="big"), "hidden_size"),
        (lambda c: c.update(num_layers=2.5), "num_layers"),
        (lambda c: c.update(model="transformer"), "transformer"),
        (lambda c: c.update(surprise=1), "surprise"),
        (lambda c: c.pop("hidden_size") and c.update(hidden_size=[32]), "hidden_size"),
    ],
)
def test_config_with_wrong_types_or_unknown_keys(tmp_path, trained_run, edit, needle):
    run = _copy(trained_run, tmp_path)
    doc = json.loads((run / "run.json").read_text())
    edit(doc["config"])
    (run / "run.json").write_text(json.dumps(doc))
    assert_refused(["generate", run, "--length", "5"], "run.json", needle)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['touch {marker}']\n",
        "hidden_size: !!python/object/apply:os.system ['touch {marker}']\n",
        "a: &a [*a]\n",  # a recursive alias
        "- just\n- a list\n",
        "{{{{ not yaml\n",
    ],
)
def test_hostile_yaml_is_refused_unrun(tmp_path, trained_run, text):
    run = _copy(trained_run, tmp_path)
    marker = tmp_path / MARKER
    (run / "run.json").unlink()  # a run of the layout that kept its config in YAML
    (run / "config.yaml").write_text(text.format(marker=marker))
    assert_refused(["generate", run, "--length", "5"], "config.yaml")
    assert not marker.exists()
    cfg = tmp_path / "c.yaml"  # the same through --config
    cfg.write_text(text.format(marker=marker))
    assert_refused(["train", "--config", cfg, "--out", tmp_path / "new"], "c.yaml")
    assert not marker.exists()


@pytest.mark.parametrize("change", ["drop a token", "add tokens", "not a list", "bad json"])
def test_vocab_that_does_not_fit_the_weights(tmp_path, trained_run, change):
    run = _copy(trained_run, tmp_path)
    path = run / "vocab.json"
    doc = json.loads(path.read_text())
    tokens = doc["tokens"] if isinstance(doc, dict) else doc
    if change == "drop a token":
        tokens.pop()
    elif change == "add tokens":
        tokens.extend(["zz1", "zz2"])
    if change == "not a list":
        path.write_text(json.dumps({"tokens": 5}))
    elif change == "bad json":
        path.write_text('{"tokens": [')
    else:
        path.write_text(json.dumps(doc))
    assert_refused(["generate", run, "--length", "5"], "vocab")


def test_no_loader_in_the_package_can_run_code():
    """YAML through safe_load only, torch.load only with weights_only=True, no pickle, no
    np.load with pickles allowed: checked over the package's source."""
    import re

    root = Path(__file__).resolve().parents[1] / "rnnkit"
    unsafe = re.compile(
        r"yaml\.(load|unsafe_load|full_load)\(|\bimport pickle\b|\bimport dill\b"
        r"|allow_pickle\s*=\s*True"
    )
    found, loads = [], 0
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {m.group(0)}" for m in unsafe.finditer(text)]
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            loads += 1
            if "weights_only=True" not in m.group(1):
                found.append(f"{path.name}: torch.load without weights_only=True")
    assert loads >= 1 and found == []


def test_prepared_corpus_with_an_id_past_the_vocabulary(tmp_path, trained_run):
    out = tmp_path / "prepared"
    code, _, err = call_cli(["data", "prepare", str(trained_run.text), "--out", str(out)])
    assert code == 0, err
    data = bytearray((out / "train.bin").read_bytes())  # uint8 ids: the vocabulary is small
    data[len(data) // 2] = 255
    (out / "train.bin").write_bytes(bytes(data))
    assert_refused(
        ["train", "--data", out, "--out", tmp_path / "run", "--quiet"], "train.bin", "255"
    )
