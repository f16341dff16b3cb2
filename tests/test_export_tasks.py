"""`rnnkit export` of classification / tagging runs (one program) and translation runs (encoder
and decoder step), on tiny runs: the files are loaded back with ``torch.export.load`` and
onnxruntime and driven from their sidecar alone, as a consumer without rnnkit would, and
must give rnnkit's labels, tags and greedy translations.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import call_cli, one_line_error, write_conll
from test_export import assert_close, assert_error

from rnnkit.classify.data import Encoded
from rnnkit.classify.predict import predict_lines, raw_sentences
from rnnkit.classify.train import load_run as load_classifier
from rnnkit.data.padding import pad_batch
from rnnkit.decode import BanTokens, reserved_ids, search
from rnnkit.errors import ExportError
from rnnkit.export import export_run
from rnnkit.export.formats import FORMATS, Format
from rnnkit.export.padded import PaddedScan
from rnnkit.export.seq2seq import MAX_LEN_A, MAX_LEN_B
from rnnkit.nn.layernorm_lstm import LayerNormLSTM
from rnnkit.seq2seq.train import load_run as load_translator
from rnnkit.seq2seq.translate import search_batch, source_ids, translate_lines

FORMATS_OUT = ("pt2", "onnx")


def _cli_run(root: Path, name: str, args: list) -> Path:
    out = root / name
    code, _, err = call_cli([*args, "--out", out])
    assert code == 0, err
    return out


class Program:
    """An exported file run by name: ``call(feed of numpy arrays) -> {output name: array}``,
    through onnxruntime or ``torch.export.load``, with the names its sidecar gives."""

    def __init__(self, path: Path, spec: dict):
        self.inputs = [s["name"] for s in spec["inputs"]]
        self.outputs = [s["name"] for s in spec["outputs"]]
        if path.suffix == ".onnx":
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.run = lambda feed: session.run(None, feed)
        else:
            module = torch.export.load(str(path)).module()
            self.run = lambda feed: [
                t.numpy() for t in module(*(torch.from_numpy(feed[n]) for n in self.inputs))
            ]

    def __call__(self, feed: dict) -> dict:
        out = self.run({n: feed[n] for n in self.inputs})
        return dict(zip(self.outputs, out, strict=True))


# ---- classification and tagging -----------------------------------------------------------------
@pytest.fixture(scope="module")
def classify_runs(tmp_path_factory, joint_run, intent_run) -> dict[str, Path]:
    """A joint bi-LSTM with a CRF and characters, an intent classifier (mean pooling,
    characters), and a two-layer one-way minGRU tagger without a CRF on the scratch backend."""
    root = tmp_path_factory.mktemp("export-classify")
    train = write_conll(root / "train.conll", 60, 3)
    small = ["--embed-size", "8", "--hidden-size", "8", "--epochs", "1", "--char-embed", "0"]
    slots = ["tag", "train", "--data", train, "--task", "slots", "--no-crf", "--cell", "mingru"]
    slots += ["--num-layers", "2", "--unidirectional", "--backend", "scratch", *small]
    return {
        "joint": joint_run[1],
        "intent": intent_run[1],
        "slots": _cli_run(root, "slots", slots),
    }


def _export_each(root: Path, runs: dict, sep: str) -> dict[tuple[str, str], Path]:
    """Each run exported to each format as ``root/<name><sep><format>`` (unchecked: the tests
    here compare)."""
    out = {}
    for name, run in runs.items():
        for fmt in FORMATS_OUT:
            out[name, fmt] = root / f"{name}{sep}{fmt}"
            export_run(run, fmt, out[name, fmt], check=False)
    return out


@pytest.fixture(scope="module")
def classify_files(tmp_path_factory, classify_runs) -> dict[tuple[str, str], Path]:
    return _export_each(tmp_path_factory.mktemp("classify-files"), classify_runs, ".")


LINES = [
    "What is the weather in Paris today?",
    "play Yellow by Adele!",
    "weather in oslo",
    "play thriller by queen please now",
]


def _classify_feed(meta: dict, lines: list[str]) -> dict:
    """A padded batch from raw lines, with the sidecar's tokenizer and vocabularies."""
    tok, vocab = meta["tokenizer"], meta["vocab"]
    sentences = []
    for line in lines:
        text = line.lower() if tok["lowercase"] else line
        sentences.append([w.strip(tok["strip"]) for w in text.split() if w.strip(tok["strip"])])
    S = max(map(len, sentences))
    ids = {t: i for i, t in enumerate(vocab["words"]["tokens"])}
    feed = {"words": np.zeros((len(lines), S), np.int64)}
    feed["lengths"] = np.array([len(s) for s in sentences], np.int64)
    for row, words in enumerate(sentences):
        feed["words"][row, : len(words)] = [ids.get(w, vocab["words"]["unk_id"]) for w in words]
    if "chars" in vocab:
        cids = {t: i for i, t in enumerate(vocab["chars"]["tokens"])}
        W = max(len(w) for s in sentences for w in s)
        feed["chars"] = np.zeros((len(lines), S, W), np.int64)
        for row, words in enumerate(sentences):
            for j, w in enumerate(words):
                feed["chars"][row, j, : len(w)] = [
                    cids.get(ch, vocab["chars"]["unk_id"]) for ch in w
                ]
    return feed, sentences


@pytest.mark.parametrize("fmt", FORMATS_OUT)
@pytest.mark.parametrize("name", ["joint", "intent", "slots"])
def test_exported_classifier_labels_and_tags_as_rnnkit(classify_runs, classify_files, name, fmt):
    """From raw lines to label names and tag names with the sidecar alone: rnnkit's predictions;
    the scores themselves match the model's on the same padded batch."""
    path = classify_files[name, fmt]
    meta = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    program = Program(path, meta)
    feed, sentences = _classify_feed(meta, LINES)
    got = program(feed)
    config, vocabs, model = load_classifier(classify_runs[name])
    want = predict_lines(model, vocabs, LINES, lowercase=config.lowercase)
    assert [p.tokens for p in want] == sentences
    if "label_logits" in got:
        labels = meta["vocab"]["labels"]["tokens"]
        assert [labels[i] for i in got["label_logits"].argmax(1)] == [p.ranked[0][0] for p in want]
    if "tags" in got:
        names = meta["vocab"]["tags"]["tokens"]
        tags = [
            [names[i] for i in row[:n]] for row, n in zip(got["tags"], feed["lengths"], strict=True)
        ]
        assert tags == [p.tags for p in want]
        assert (got["tags"][1:, feed["lengths"].min() :] == 0).any()  # padding is 0
    # The scores on the batch rnnkit builds from the same lines.
    batch = Encoded(raw_sentences(LINES, config.lowercase)[0], vocabs, model.config.char_embed > 0)
    b = batch.batch(np.arange(len(LINES)))
    with torch.no_grad():
        logits, emissions = model(b.words, b.lengths, b.chars)
    assert np.array_equal(feed["words"], b.words.numpy())
    if logits is not None:
        assert_close(got["label_logits"], logits, f"{name} {fmt} label_logits")
    if emissions is not None:
        assert_close(got["tag_emissions"], emissions, f"{name} {fmt} tag_emissions")


def test_classify_sidecar_names_inputs_outputs_and_the_crf(classify_runs, classify_files):
    meta = json.loads(Path(f"{classify_files['joint', 'onnx']}.json").read_text())
    _, vocabs, model = load_classifier(classify_runs["joint"])
    assert meta["kind"] == "classify" and meta["task"] == "joint" and meta["opset"] == 20
    shapes = {s["name"]: s["shape"] for s in meta["inputs"] + meta["outputs"]}
    T, C = len(vocabs["tags"]), len(vocabs["labels"])
    assert shapes == {
        "words": ["batch", "time"],
        "lengths": ["batch"],
        "chars": ["batch", "time", "word_length"],
        "label_logits": ["batch", C],
        "tag_emissions": ["batch", "time", T],
        "tags": ["batch", "time"],
    }
    assert meta["vocab"]["tags"]["tokens"] == vocabs["tags"].itos
    assert meta["vocab"]["words"]["unk_id"] == vocabs["words"].unk_id
    start, transitions, end = (t.tolist() for t in model.crf._scores())
    assert meta["crf"]["transitions"] == transitions and meta["crf"]["start"] == start
    assert meta["crf"]["end"] == end and "Viterbi" in meta["crf"]["decode"]
    sess = ort.InferenceSession(str(classify_files["joint", "onnx"]))
    assert [i.name for i in sess.get_inputs()] == ["words", "lengths", "chars"]
    # A run without a CRF or a tagger says so.
    slots = json.loads(Path(f"{classify_files['slots', 'pt2']}.json").read_text())
    assert "crf" not in slots and [s["name"] for s in slots["outputs"]] == ["tag_emissions", "tags"]
    intent = json.loads(Path(f"{classify_files['intent', 'pt2']}.json").read_text())
    assert [s["name"] for s in intent["outputs"]] == ["label_logits"]
    assert "tags" not in intent["vocab"] and intent["call"].startswith("torch.export.load")


def test_cli_classify_export_is_checked(cli, classify_runs, tmp_path):
    """The checked export (lengths 1, 7 and 64) of the last checkpoint."""
    out = tmp_path / "joint.pt2"
    args = [classify_runs["joint"], "--format", "pt2", "--which", "last", "--out", out]
    code, stdout, err = cli(["export", *args])
    assert code == 0, err
    assert "same outputs as rnnkit" in stdout and "Traceback" not in err
    assert json.loads(Path(f"{out}.json").read_text())["run"]["weights"] == "last"


# ---- translation ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seq2seq_runs(tmp_path_factory, seq2seq_run) -> dict[str, Path]:
    """The shared GRU with additive attention, and a two-layer one-way LSTM without attention
    on the scratch backend (its decoder reads one fixed context)."""
    root, run, _, _ = seq2seq_run
    lstm = ["seq2seq", "train", "--src", root / "train.src", "--tgt", root / "train.tgt"]
    lstm += ["--embed-size", "8", "--hidden-size", "8", "--epochs", "1", "--min-freq", "1"]
    lstm += ["--cell", "lstm", "--num-layers", "2", "--attention", "none", "--unidirectional"]
    lstm += ["--backend", "scratch", "--dropout", "0"]
    return {"gru": run, "lstm": _cli_run(tmp_path_factory.mktemp("export-s2s"), "lstm", lstm)}


@pytest.fixture(scope="module")
def seq2seq_dirs(tmp_path_factory, seq2seq_runs) -> dict[tuple[str, str], Path]:
    return _export_each(tmp_path_factory.mktemp("s2s-files"), seq2seq_runs, "-")


def translate_with_exported(directory: Path, lines: list[str]) -> list[str]:
    """Greedy translation as a consumer without rnnkit writes it, from the manifest alone."""
    meta = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    programs = meta["programs"]
    encoder = Program(directory / programs["encoder"]["file"], programs["encoder"])
    step = Program(directory / programs["decoder_step"]["file"], programs["decoder_step"])
    tok, source, dec = meta["tokenizer"], meta["vocab"]["source"], meta["decoding"]
    assert tok["tokenize"] == "whitespace" and not tok["lowercase"]
    ids = {t: i for i, t in enumerate(source["tokens"])}
    rows = [
        [ids.get(w, source["unk_id"]) for w in line.split()[: tok["max_len"]]] for line in lines
    ]
    rows = [r + [source["eos_id"]] for r in rows]
    src = np.full((len(rows), max(map(len, rows))), source["pad_id"], np.int64)
    for i, r in enumerate(rows):
        src[i, : len(r)] = r
    src_len = np.array([len(r) for r in rows], np.int64)
    feed = encoder({"src": src, "src_len": src_len})  # named as the step's inputs
    feed["prev_token"] = np.full(len(rows), dec["bos_id"], np.int64)
    limits = [math.floor(dec["max_len_a"] * n + dec["max_len_b"]) for n in src_len]
    out, done = [[] for _ in rows], [False] * len(rows)
    for t in range(max(limits)):
        res = step(feed)
        logits = res["logits"].copy()
        logits[:, dec["never_generated"]] = -np.inf
        token = logits.argmax(1)
        for i, tok_id in enumerate(token):
            if done[i] or t >= limits[i] or tok_id == dec["eos_id"]:
                done[i] = True
            else:
                out[i].append(int(tok_id))
        feed["prev_token"] = token.astype(np.int64)
        feed.update({s["input"]: res[s["output"]] for s in programs["decoder_step"]["state"]})
    target = meta["vocab"]["target"]["tokens"]
    return [" ".join(target[i] for i in row) for row in out]


SOURCES = ["a b c", "h g f e d", "d", "c c a b", "zz a"]  # "zz" is unknown


@pytest.mark.parametrize("fmt", FORMATS_OUT)
@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_greedy_translation_from_the_exported_programs_is_rnnkits(
    seq2seq_runs, seq2seq_dirs, name, fmt
):
    config, src_vocab, tgt_vocab, model = load_translator(seq2seq_runs[name])
    want = [t[0] for t in translate_lines(model, SOURCES, config, src_vocab, tgt_vocab, beam=1)]
    got = translate_with_exported(seq2seq_dirs[name, fmt], SOURCES)
    assert got == want
    if name == "gru":  # the trained run reverses its input in upper case
        assert got[0] == "C B A"


class ExportedStepper:
    """rnnkit's ``Stepper`` over the exported encoder and decoder step: beam search reorders
    the step's state and encoder inputs by rows, as any consumer's search would."""

    def __init__(self, directory: Path, src: np.ndarray, src_len: np.ndarray):
        meta = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        parts = meta["programs"]
        self.encoder = Program(directory / parts["encoder"]["file"], parts["encoder"])
        self.decoder = Program(directory / parts["decoder_step"]["file"], parts["decoder_step"])
        self.pairs = [(s["input"], s["output"]) for s in parts["decoder_step"]["state"]]
        self.src, self.src_len, self.bos = src, src_len, meta["decoding"]["bos_id"]
        self.batch, self.model = len(src), torch.nn.Module()  # search() toggles its mode

    def start(self, repeats: int = 1):
        memory = self.encoder({"src": self.src, "src_len": self.src_len})
        rows = np.repeat(np.arange(self.batch), repeats)
        self.memory = {
            k: v[:, rows] if k in dict(self.pairs) else v[rows] for k, v in memory.items()
        }
        state = {k: self.memory[k] for k, _ in self.pairs}
        return self.step(torch.full((len(rows),), self.bos), state)

    def step(self, y_prev, state):
        out = self.decoder({**self.memory, **state, "prev_token": y_prev.numpy()})
        return torch.from_numpy(out["logits"]), {i: out[o] for i, o in self.pairs}

    def select(self, state, index):
        self.memory = {k: v[:, index] if k in state else v[index] for k, v in self.memory.items()}
        return {k: v[:, index.numpy()] for k, v in state.items()}


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_beam_search_over_the_exported_programs_is_rnnkits(seq2seq_runs, seq2seq_dirs, name):
    """rnnkit's beam search (beam 3, two best) driven by the onnx files gives the model's
    hypotheses and scores."""
    _, src_vocab, tgt_vocab, model = load_translator(seq2seq_runs[name])
    rows = [source_ids(line.split(), src_vocab) for line in SOURCES]
    src, src_len = pad_batch(rows, src_vocab.id_of("<pad>"))
    want = search_batch(model, src, src_len, tgt_vocab, beam=3, n_best=2)
    stepper = ExportedStepper(seq2seq_dirs[name, "onnx"], src.numpy(), src_len.numpy())
    lens = [math.floor(MAX_LEN_A * n + MAX_LEN_B) for n in src_len.tolist()]
    eos = tgt_vocab.id_of("<eos>")
    ban = BanTokens(reserved_ids(tgt_vocab, keep=["<eos>"]))
    got = search(stepper, max_len=lens, eos=eos, processors=[ban], beam=3, n_best=2)
    assert [[h.tokens for h in hs] for hs in got] == [[h.tokens for h in hs] for hs in want]
    for hs_got, hs_want in zip(got, want, strict=True):
        np.testing.assert_allclose([h.score for h in hs_got], [h.score for h in hs_want], atol=1e-4)


def test_decoding_defaults_are_the_translate_commands():
    defaults = search_batch.__kwdefaults__
    assert (defaults["max_len_a"], defaults["max_len_b"]) == (MAX_LEN_A, MAX_LEN_B)


def test_exported_encoder_and_step_match_rnnkit(seq2seq_runs, seq2seq_dirs):
    """Outputs of both programs against the model's own encode and step, on a padded batch
    of two lengths, for the LSTM (two states, fixed context)."""
    _, _, _, model = load_translator(seq2seq_runs["lstm"])
    src = torch.tensor([[4, 5, 6, 3], [7, 3, 0, 0]])
    src_len = torch.tensor([4, 2])
    with torch.no_grad():
        memory = model.encode(src, src_len)
        prev = torch.tensor([2, 9])
        logits, (h, c), _ = model.step(prev, memory.state, memory)
    for fmt in FORMATS_OUT:
        directory = seq2seq_dirs["lstm", fmt]
        meta = json.loads((directory / "manifest.json").read_text())["programs"]
        enc = Program(directory / meta["encoder"]["file"], meta["encoder"])
        step = Program(directory / meta["decoder_step"]["file"], meta["decoder_step"])
        got = enc({"src": src.numpy(), "src_len": src_len.numpy()})
        assert_close(got["context"], memory.context, f"{fmt} context")
        assert_close(got["h_0"], memory.state[0], f"{fmt} h_0")
        assert_close(got["c_0"], memory.state[1], f"{fmt} c_0")
        res = step({**got, "prev_token": prev.numpy()})
        assert_close(res["logits"], logits, f"{fmt} logits")
        assert_close(res["h_n"], h, f"{fmt} h_n")
        assert_close(res["c_n"], c, f"{fmt} c_n")


def test_translation_manifest(seq2seq_runs, seq2seq_dirs):
    directory = seq2seq_dirs["gru", "onnx"]
    assert sorted(p.name for p in directory.iterdir()) == [
        "decoder_step.onnx",
        "encoder.onnx",
        "manifest.json",
    ]
    meta = json.loads((directory / "manifest.json").read_text())
    _, src_vocab, tgt_vocab, model = load_translator(seq2seq_runs["gru"])
    assert meta["kind"] == "seq2seq" and meta["task"] == "translation" and meta["format"] == "onnx"
    enc, step = meta["programs"]["encoder"], meta["programs"]["decoder_step"]
    C, H, V = model.config.context_size, model.config.hidden, len(tgt_vocab)
    assert {s["name"]: s["shape"] for s in enc["outputs"]} == {
        "enc_out": ["batch", "src_len", C],
        "enc_keys": ["batch", "src_len", H],
        "src_mask": ["batch", "src_len"],
        "h_0": [1, "batch", H],
    }
    assert [s["name"] for s in step["inputs"]] == [
        "prev_token",
        "h_0",
        "enc_out",
        "enc_keys",
        "src_mask",
    ]
    assert [s["name"] for s in step["outputs"]] == ["logits", "h_n", "attention"]
    assert step["outputs"][0]["shape"] == ["batch", V]
    assert step["state"] == [{"input": "h_0", "output": "h_n"}] and enc["state"] == []
    assert meta["vocab"]["target"]["tokens"] == tgt_vocab.itos
    assert meta["vocab"]["source"]["eos_id"] == src_vocab.id_of("<eos>")
    assert meta["decoding"]["bos_id"] == tgt_vocab.id_of("<bos>")
    assert tgt_vocab.id_of("<eos>") not in meta["decoding"]["never_generated"]
    for part in (enc, step):
        assert len(part["sha256"]) == 64 and part["opset"] == 20
    # The ONNX graphs take the names and dynamic axes the manifest gives.
    sess = ort.InferenceSession(str(directory / "decoder_step.onnx"))
    assert [i.shape for i in sess.get_inputs()][2] == ["batch", "src_len", C]


def test_cli_translation_export_is_checked(cli, seq2seq_runs, tmp_path):
    out = tmp_path / "mt"
    code, stdout, err = cli(["export", seq2seq_runs["gru"], "--format", "pt2", "--out", out])
    assert code == 0, err
    assert f"wrote {out}" in stdout and "same outputs as rnnkit" in stdout
    assert "Warning" not in err
    assert sorted(p.name for p in out.iterdir()) == [
        "decoder_step.pt2",
        "encoder.pt2",
        "manifest.json",
    ]
    code, stdout, err = cli(["export", "--help"])
    assert code == 0 and "decoder_step" in stdout and "Viterbi" in stdout


# ---- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["s2s-torchscript", "tag-onnx-legacy", "s2s-out-file"])
def test_bad_task_export_is_one_error_line(cli, tmp_path, seq2seq_run, joint_run, case):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    args, needles = {
        "s2s-torchscript": (
            [seq2seq_run[1], "--format", "torchscript", "--out", tmp_path / "m"],
            ["--format torchscript", "scan", "pt2 or onnx"],
        ),
        "tag-onnx-legacy": (
            [joint_run[1], "--format", "onnx-legacy", "--out", tmp_path / "m"],
            ["--format onnx-legacy", "pt2 or onnx"],
        ),
        "s2s-out-file": (
            [seq2seq_run[1], "--format", "pt2", "--out", taken],
            ["is a file", "directory"],
        ),
    }[case]
    code, stdout, err = cli(["export", *args])
    assert_error(code, err, *needles)
    assert stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_translation_that_fails_the_check_writes_nothing(monkeypatch, seq2seq_run, tmp_path):
    real = FORMATS["pt2"]

    def off_by_a_little(path):
        run = real.runner(path)
        return lambda feed: [t.float() + 1e-3 for t in run(feed)]

    monkeypatch.setitem(FORMATS, "pt2", Format("pt2", real.runtime, real.write, off_by_a_little))
    message = one_line_error(ExportError, export_run, seq2seq_run[1], "pt2", tmp_path / "mt")
    assert "differs from rnnkit" in message
    assert list(tmp_path.iterdir()) == []  # no directory, file or temp file


def test_a_cell_without_a_scan_form_is_refused():
    message = one_line_error(ExportError, PaddedScan, LayerNormLSTM(4, 4), "lnlstm")
    assert "lnlstm" in message and "export a run of" in message
