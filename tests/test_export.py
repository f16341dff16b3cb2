"""`rnnkit export` (ONNX and TorchScript, with the sidecar JSON) and `rnnkit info`, on tiny runs.

The exported files are run with onnxruntime and ``torch.jit.load`` and compared with rnnkit on
the same inputs: fp32 everywhere, so the only differences are the runtimes' rounding, and the
tolerance is ``ATOL`` (absolute; the tiny models' logits are of order 1).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import call_cli, one_line_error, write_tiny_text

from rnnkit.errors import ExportError
from rnnkit.export import export_run
from rnnkit.export.formats import FORMATS, PROGRAM_FORMATS, Format
from rnnkit.export.lm import on_torch_layers
from rnnkit.forecast.pipeline import ForecastRun
from rnnkit.infer.generate import generate_text
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn.recurrent import MIN_CELLS
from rnnkit.train.checkpoint import load_for_inference

# Loading a TorchScript file is what a consumer does; torch 2.13 warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

ATOL = 1e-5  # fp32 through two runtimes; the observed differences are about 3e-7


def session(path: Path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_close(got, want, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=what)


def assert_error(code: int, err: str, *needles: str) -> None:
    assert code == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(n in lines[0] for n in needles), err


# ---- runs ----------------------------------------------------------------------------------------
def _train(root: Path, name: str, *args) -> Path:
    out = root / name
    small = ["--hidden-size", "16", "--seq-len", "12", "--batch-size", "4", "--max-steps", "3"]
    code, _, err = call_cli(["train", "--data", root / "tiny.txt", *small, *args, "--out", out])
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def lm_runs(tmp_path_factory, trained_run) -> dict[str, Path]:
    """A run of each cell: the shared LSTM (1 layer, 32 units), a 2-layer GRU on the scratch
    backend (exported through torch.nn.GRU), a 2-layer RNN fed one-hot vectors, a 2-layer
    minGRU and a minLSTM fed one-hot vectors."""
    root = tmp_path_factory.mktemp("export-lm")
    write_tiny_text(root / "tiny.txt")
    return {
        "lstm": trained_run.dir,
        "gru": _train(root, "gru", "--model", "gru", "--num-layers", "2", "--backend", "scratch"),
        "rnn": _train(root, "rnn", "--model", "rnn", "--num-layers", "2", "--embed-size", "0"),
        "mingru": _train(root, "mingru", "--model", "mingru", "--num-layers", "2"),
        "minlstm": _train(root, "minlstm", "--model", "minlstm", "--embed-size", "0"),
    }


def _load(path: Path, fmt: str):
    """The written file as its runtime runs it: ``run(tokens, *state) -> [outputs]``."""
    if fmt.startswith("onnx"):
        sess = session(path)
        names = [i.name for i in sess.get_inputs()]
        return lambda *xs: sess.run(
            None, {n: np.asarray(x) for n, x in zip(names, xs, strict=True)}
        )
    if fmt == "torchscript":
        module = torch.jit.load(str(path))
    else:
        module = torch.export.load(str(path)).module()
    return lambda *xs: list(module(*xs))


# ---- language models -----------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mingru", "minlstm"])
def test_exported_step_matches_rnnkit_over_two_calls(lm_runs, tmp_path, cell):
    """Batch 2, the state carried from the first call into the second, on each side, in every
    format that carries the cell (a minRNN's scan: pt2 and onnx)."""
    run = lm_runs[cell]
    formats = PROGRAM_FORMATS if cell in MIN_CELLS else list(FORMATS)
    for fmt in formats:
        export_run(run, fmt, tmp_path / f"m.{fmt}", check=False)  # compared here instead
    _, _, vocab, model = load_for_inference(run)
    runs = {fmt: _load(tmp_path / f"m.{fmt}", fmt) for fmt in formats}
    c = model.config
    state_names = ["h_0", "c_0"] if c.cell == "lstm" else ["h_0"]
    zeros = [torch.zeros(c.num_layers, 2, c.hidden_size) for _ in state_names]
    want_state, states = None, dict.fromkeys(formats, zeros)
    gen = torch.Generator().manual_seed(0)
    for call, length in enumerate((6, 3)):
        tokens = torch.randint(0, len(vocab), (2, length), generator=gen)
        with torch.no_grad():
            logits, _, want_state = model(tokens, state=want_state)
            outs = {fmt: run(tokens, *states[fmt]) for fmt, run in runs.items()}
        want = [logits, *(want_state if isinstance(want_state, tuple) else [want_state])]
        for fmt, out in outs.items():
            assert len(out) == len(want), fmt
            for name, got, w in zip(["logits", *state_names], out, want, strict=True):
                assert_close(got, w, f"{cell}, {fmt}, {name}, call {call + 1}")
            states[fmt] = [torch.as_tensor(o) for o in out[1:]]


def _generate_with_onnxruntime(onnx_path: Path, prompt: str, length: int) -> str:
    """Greedy generation as a consumer without rnnkit writes it, from the sidecar alone."""
    meta = json.loads(Path(f"{onnx_path}.json").read_text(encoding="utf-8"))
    vocab = meta["vocab"]
    ids = {t: i for i, t in enumerate(vocab["tokens"])}
    assert meta["tokenizer"]["name"] == "char"  # one token per code point
    context = [meta["generation"]["start_id"]] + [ids.get(ch, vocab["unk_id"]) for ch in prompt]
    feed = {"tokens": np.array([context], dtype=np.int64)}
    for spec in meta["inputs"][1:]:  # zero state, batch 1
        feed[spec["name"]] = np.zeros([1 if d == "batch" else d for d in spec["shape"]], "float32")
    sess = session(onnx_path)
    out_names = [o["name"] for o in meta["outputs"]]
    written = []
    for _ in range(length):
        outputs = dict(zip(out_names, sess.run(None, feed), strict=True))
        last = outputs["logits"][0, -1].copy()
        last[vocab["never_sampled"]] = -np.inf
        token = int(np.argmax(last))
        written.append(vocab["tokens"][token])
        feed = {"tokens": np.array([[token]], dtype=np.int64)}
        feed.update({s["input"]: outputs[s["output"]] for s in meta["state"]})
    return prompt + meta["tokenizer"]["join"].join(written)


@pytest.mark.parametrize("cell", ["lstm", "minlstm"])
def test_greedy_generation_from_the_sidecar_matches_rnnkit(lm_runs, tmp_path, cell):
    out = tmp_path / "lm.onnx"
    export_run(lm_runs[cell], "onnx", out)
    _, tokenizer, vocab, model = load_for_inference(lm_runs[cell])
    for prompt in ("The cat", ""):
        want = generate_text(model, tokenizer, vocab, prompt, 20, temperature=0)
        assert _generate_with_onnxruntime(out, prompt, 20) == want


def test_sidecar_describes_everything_a_consumer_needs(lm_runs, tmp_path):
    out = tmp_path / "gru.onnx"
    export_run(lm_runs["gru"], "onnx", out)
    meta = json.loads((tmp_path / "gru.onnx.json").read_text(encoding="utf-8"))
    _, tokenizer, vocab, _ = load_for_inference(lm_runs["gru"])
    assert meta["format"] == "onnx" and meta["file"] == "gru.onnx" and meta["opset"] == 20
    assert meta["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert meta["kind"] == "lm" and meta["task"] == "text"
    assert meta["model"] == {
        "cell": "gru",
        "num_layers": 2,
        "hidden_size": 16,
        "vocab_size": len(vocab),
        "embed_size": 16,
        "tie_weights": False,
        "backend": "scratch",
        "exported_layers": "torch.nn",
    }
    shapes = {s["name"]: s["shape"] for s in meta["inputs"] + meta["outputs"]}
    assert shapes == {
        "tokens": ["batch", "time"],
        "h_0": [2, "batch", 16],
        "logits": ["batch", "time", len(vocab)],
        "h_n": [2, "batch", 16],
    }
    assert [s["dtype"] for s in meta["inputs"]] == ["int64", "float32"]
    assert meta["state"] == [{"input": "h_0", "output": "h_n"}]
    assert meta["vocab"]["tokens"] == vocab.itos and meta["vocab"]["unk_id"] == vocab.unk_id
    assert meta["tokenizer"]["name"] == tokenizer.name == "char"
    assert meta["tokenizer"]["boundary"] == "\n" and meta["tokenizer"]["join"] == ""
    assert meta["generation"]["start_id"] == vocab.id_of("\n")
    assert "argmax" in meta["generation"]["recipe"]
    # The ONNX graph has the names and dynamic axes the sidecar gives.
    sess = session(out)
    assert [(i.name, i.shape) for i in sess.get_inputs()] == [
        ("tokens", ["batch", "time"]),
        ("h_0", [2, "batch", 16]),
    ]
    assert [o.name for o in sess.get_outputs()] == ["logits", "h_n"]


def test_cli_export_says_how_a_scratch_run_was_exported(cli, lm_runs, tmp_path):
    out = tmp_path / "gru.pt"
    code, stdout, err = cli(["export", lm_runs["gru"], "--format", "torchscript", "--out", out])
    assert code == 0, err
    assert "note: the run uses the scratch backend" in err and "torch.nn GRU" in err
    assert "DeprecationWarning" not in err and "TracerWarning" not in err
    assert f"wrote {out}" in stdout and "same outputs as rnnkit" in stdout
    assert json.loads(Path(f"{out}.json").read_text())["call"].startswith("module(tokens, h_0)")
    code, stdout, err = cli(["export", "--help"])
    assert code == 0 and "scratch backend" in stdout and "pip install" in stdout


@pytest.mark.parametrize("cell", ["rnn", "mingru"])  # both 2 layers of 16
def test_cli_pt2_export_is_checked_at_every_length(cli, lm_runs, tmp_path, cell):
    """The program is run back at lengths 1, 7 and 64 before it is written; one program
    serves a whole prompt and then one token per call."""
    out = tmp_path / f"{cell}.pt2"
    code, stdout, err = cli(["export", lm_runs[cell], "--format", "pt2", "--out", out])
    assert code == 0, err
    assert "same outputs as rnnkit" in stdout and "Warning" not in err
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["format"] == "pt2" and meta["call"].startswith("torch.export.load(file)")
    program = torch.export.load(str(out)).module()
    _, _, vocab, model = load_for_inference(lm_runs[cell])
    tokens = torch.randint(0, len(vocab), (1, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, _, _ = model(tokens)
        prompt, state = program(tokens[:, :5], torch.zeros(2, 1, 16))  # the prompt in one call
        step, _ = program(tokens[:, 5:6], state)  # then one token
    assert_close(prompt, want[:, :5], "pt2 prompt")
    assert_close(step, want[:, 5:6], "pt2 next token")


@pytest.mark.parametrize(("fmt", "opset"), [("onnx", 21), ("onnx-legacy", 13)])
def test_export_of_the_last_checkpoint_at_another_opset(cli, trained_run, tmp_path, fmt, opset):
    out = tmp_path / "last.onnx"
    args = [trained_run.dir, "--format", fmt, "--which", "last", "--opset", str(opset)]
    code, stdout, err = cli(["export", *args, "--out", out])
    assert code == 0, err
    assert "Warning" not in err and "[torch.onnx]" not in stdout + err
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["run"]["weights"] == "last" and meta["opset"] == opset


# ---- forecasting ---------------------------------------------------------------------------------
def test_exported_forecaster_matches_rnnkit(forecast_run, tmp_path):
    data, run_dir, _ = forecast_run
    for fmt in FORMATS:
        export_run(run_dir, fmt, tmp_path / f"f.{fmt}", check=False)
    meta = json.loads((tmp_path / "f.onnx.json").read_text())
    run = ForecastRun.load(run_dir)
    X, _, _ = run.prep.windows["test"]
    X = X[:2].astype(np.float32)  # batch 2
    want = run.predict_scaled(X, run.config.horizon)
    got_onnx = session(tmp_path / "f.onnx").run(None, {"window": X})[0]
    with torch.no_grad():
        got_ts = torch.jit.load(str(tmp_path / "f.torchscript"))(torch.from_numpy(X))
        got_pt2 = torch.export.load(str(tmp_path / "f.pt2")).module()(torch.from_numpy(X))
    assert_close(got_pt2, want, "pt2 forecast")
    assert_close(got_onnx, want, "onnx forecast")
    assert_close(got_ts, want, "torchscript forecast")
    # From the raw series, with only the sidecar's scaler: rnnkit's forecast on its own scale.
    assert meta["tau"] == 14 and meta["horizon"] == 7 and meta["columns"] == ["sales"]
    assert [s["shape"] for s in meta["inputs"]] == [["batch", 14, 1]]
    center, scale = np.array(meta["scaler"]["center"]), np.array(meta["scaler"]["scale"])
    values = run.prep.series.values
    window = ((values[-meta["tau"] :] - center) / scale)[None].astype(np.float32)
    scaled = session(tmp_path / "f.onnx").run(None, {"window": window})[0][0]
    got = scaled * scale[0] + center[0]
    np.testing.assert_allclose(got, run.forecast_after(values, 7), rtol=1e-5, atol=1e-4)


# ---- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    [
        "seq2seq-torchscript",
        "ngram-like",
        "unknown-format",
        "missing-run",
        "opset-for-torchscript",
        "opset-for-pt2",
    ],
)
def test_bad_export_input_is_one_error_line(cli, tmp_path, trained_run, seq2seq_run, case):
    out = tmp_path / "m.onnx"
    ngram = tmp_path / "ng"
    ngram.mkdir()
    (ngram / "ngram.json").write_text("{}")
    args, needles = {
        "seq2seq-torchscript": (
            [seq2seq_run[1], "--format", "torchscript"],
            ["--format torchscript", "pt2 or onnx"],
        ),
        "ngram-like": ([ngram, "--format", "onnx"], ["not n-gram runs"]),
        "unknown-format": ([trained_run.dir, "--format", "tflite"], ["tflite", "onnx"]),
        "missing-run": ([tmp_path / "nowhere", "--format", "onnx"], ["not found"]),
        "opset-for-torchscript": (
            [trained_run.dir, "--format", "torchscript", "--opset", "17"],
            ["--opset"],
        ),
        "opset-for-pt2": ([trained_run.dir, "--format", "pt2", "--opset", "17"], ["--opset"]),
    }[case]
    code, stdout, err = cli(["export", *args, "--out", out])
    assert_error(code, err, *needles)
    assert stdout == "" and not out.exists()


@pytest.mark.parametrize("fmt", ["onnx-legacy", "torchscript"])
def test_minrnn_runs_name_the_formats_that_carry_them(cli, lm_runs, tmp_path, fmt):
    out = tmp_path / "m.onnx"
    code, stdout, err = cli(["export", lm_runs["mingru"], "--format", fmt, "--out", out])
    assert_error(code, err, f"--format {fmt}", "use --format pt2 or onnx")
    assert stdout == "" and not out.exists() and not Path(f"{out}.json").exists()


def test_a_minrnn_poem_run_exports_as_a_poem_model(lm_runs, tmp_path):
    poem = shutil.copytree(lm_runs["minlstm"], tmp_path / "poem")
    (poem / "poem.json").write_text(json.dumps({"data": "tang-poetry", "form": "jueju"}))
    report = export_run(poem, "pt2", tmp_path / "poem.pt2")
    assert report.kind == "lm" and report.max_diff is not None and report.max_diff < ATOL
    meta = json.loads((tmp_path / "poem.pt2.json").read_text(encoding="utf-8"))
    assert meta["task"] == "poem" and meta["state"] == [{"input": "h_0", "output": "h_n"}]
    assert meta["model"]["cell"] == "minlstm" and meta["model"]["embed_size"] == 0
    assert meta["model"]["exported_layers"] == "rnnkit (scan)"
    assert [s["name"] for s in meta["inputs"]] == ["tokens", "h_0"]


def test_layer_norm_lstm_is_refused():
    config = LMConfig(vocab_size=7, cell="lnlstm", hidden_size=4, num_layers=1, backend="scratch")
    message = one_line_error(ExportError, on_torch_layers, RNNLanguageModel(config))
    assert "lnlstm" in message


def test_missing_onnx_package_names_the_extra(monkeypatch, trained_run, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    message = one_line_error(ExportError, export_run, trained_run.dir, "onnx", tmp_path / "m.onnx")
    assert "pip install 'rnnkit[export]'" in message


def test_a_file_that_fails_the_check_is_not_written(monkeypatch, trained_run, tmp_path):
    real = FORMATS["torchscript"]

    def off_by_a_little(path):
        run = real.runner(path)
        return lambda feed: [t + 1e-3 for t in run(feed)]

    broken = Format(real.name, real.runtime, real.write, off_by_a_little)
    monkeypatch.setitem(FORMATS, "torchscript", broken)
    out = tmp_path / "m.pt"
    message = one_line_error(ExportError, export_run, trained_run.dir, "torchscript", out)
    assert "differs from rnnkit" in message
    assert list(tmp_path.iterdir()) == []  # neither the file, its sidecar nor a temp file


def test_exporting_a_run_again_writes_the_same_bytes(trained_run, tmp_path):
    # torch names the folder inside a TorchScript archive after the file it writes, so the
    # file is written under its own name (a temp file name would differ every time); each
    # export runs in its own process, as TorchScript renames classes traced twice in one
    digests = []
    for name in ("a", "b"):
        out = tmp_path / name / "model.pt"
        command = ["export", str(trained_run.dir), "--format", "torchscript", "--no-check"]
        subprocess.run([sys.executable, "-m", "rnnkit", *command, "--out", str(out)], check=True)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        assert json.loads(out.with_name("model.pt.json").read_text())["sha256"] == digests[-1]
        assert sorted(p.name for p in out.parent.iterdir()) == ["model.pt", "model.pt.json"]
    assert digests[0] == digests[1]


# ---- rnnkit info ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def info_runs(tmp_path_factory, trained_run, seq2seq_run, joint_run, forecast_run) -> dict:
    """A run directory of every kind `rnnkit info` reads."""
    root = tmp_path_factory.mktemp("info")
    poem = shutil.copytree(trained_run.dir, root / "poem")
    (poem / "poem.json").write_text(json.dumps({"data": "tang-poetry", "form": "jueju"}))
    ngram = root / "ngram"
    code, _, err = call_cli(["ngram", "train", "--data", trained_run.text, "--out", ngram])
    assert code == 0, err
    return {
        "lm": trained_run.dir,
        "poem": poem,
        "ngram": ngram,
        "seq2seq": seq2seq_run[1],
        "classify": joint_run[1],
        "forecast": forecast_run[1],
    }


EXPECTED = {  # run -> (kind, task, text that must appear, best metric)
    "lm": ("lm", "text", ["tokens", "model.safetensors", "30 steps"], "valid_ppl"),
    "poem": ("lm", "poem", ["poems", "jueju"], "valid_ppl"),
    "ngram": ("ngram", "text", ["1-grams", "counts.safetensors", "training tokens"], None),
    "seq2seq": ("seq2seq", "translation", ["source", "target", "epochs"], "valid_bleu"),
    "classify": ("classify", "joint", ["words", "tags", "epochs"], "valid_score"),
    "forecast": ("forecast", "forecast", ["sales", "model.safetensors"], "valid_mse"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_info_describes_every_kind_of_run(cli, info_runs, name):
    kind, task, words, metric = EXPECTED[name]
    code, text, err = cli(["info", info_runs[name]])
    assert code == 0, err
    assert f"kind       {kind} (" in text and f"task {task}" in text
    for word in ["run", "vocabulary" if kind != "forecast" else "columns", "files", "config"]:
        assert any(line.startswith(word) for line in text.splitlines()), (word, text)
    assert all(w in text for w in words), text
    code, doc, err = cli(["info", info_runs[name], "--json"])
    assert code == 0, err
    info = json.loads(doc)
    assert info["kind"] == kind and info["task"] == task and info["config"]
    if info["vocab_size"] is not None:
        assert f"{info['vocab_size']:,}" in text
    assert all(size > 0 for size in info["files"].values()) and info["files"]
    if metric is None:
        assert info["history"] is None and info["parameters"] is None
        return
    history = info["history"]
    assert history["steps"] > 0 and history["seconds"] > 0
    assert history["best"]["metric"].startswith(metric) and history["best"]["value"] is not None
    assert f"best       {metric}" in text
    assert info["parameters"] > 0 and f"{info['parameters']:,}" in text


def test_info_parameter_count_is_the_models(cli, trained_run):
    _, _, _, model = load_for_inference(trained_run.dir)
    code, doc, err = cli(["info", trained_run.dir, "--json"])
    assert json.loads(doc)["parameters"] == sum(p.numel() for p in model.parameters())
    assert json.loads(doc)["vocab_size"] == model.config.vocab_size


@pytest.mark.parametrize("where", ["missing", "empty", "half-lm"])
def test_info_refuses_what_is_not_a_run(cli, tmp_path, trained_run, where):
    path = tmp_path / where
    if where == "empty":
        path.mkdir()
    if where == "half-lm":
        path.mkdir()
        shutil.copy(trained_run.dir / "run.json", path)
    code, stdout, err = cli(["info", path])
    needle = {"missing": "not found", "empty": "not an rnnkit run", "half-lm": "vocab.json"}
    assert_error(code, err, str(path), needle[where])
    assert stdout == ""
