"""The task endpoints of ``rnnkit serve``: /poem, /translate, /classify and /forecast, next to
/generate and /score, on tiny runs trained on toy data (FastAPI TestClient)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import call_cli, write_csv
from test_poetry_decoding import COMMON, POEMS
from test_serve_api import client, field_errors

from rnnkit.classify.predict import predict_lines
from rnnkit.forecast.pipeline import ForecastRun
from rnnkit.poetry.decoding import check_form
from rnnkit.seq2seq.translate import attend, source_tokens
from rnnkit.serve import load_models


# ---- runs of every kind ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def poem_dir(tmp_path_factory):
    """A tiny chinese-char LSTM trained on a few poems, marked as a poem run."""
    root = tmp_path_factory.mktemp("poem")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(POEMS * 4 + [COMMON]) + "\n", encoding="utf-8")
    (corpus / "valid.txt").write_text("\n".join(POEMS) + "\n", encoding="utf-8")
    out = root / "poems"
    args = ["train", "--data", corpus, "--tokenizer", "chinese-char", "--hidden-size", "32"]
    args += ["--num-layers", "1", "--seq-len", "16", "--batch-size", "4", "--max-steps", "20"]
    code, _, stderr = call_cli([*args, "--quiet", "--out", out])
    assert code == 0, stderr
    (out / "poem.json").write_text("{}", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory):
    """A linear forecaster that also reads the ``temp`` column."""
    root = tmp_path_factory.mktemp("features")
    data = write_csv(root / "sales.csv")
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--features", "temp"]
    args += ["--model", "linear", "--tau", "14", "--horizon", "3", "--out", root / "with-temp"]
    code, _, stderr = call_cli(args)
    assert code == 0, stderr
    return root / "with-temp"


@pytest.fixture(scope="module")
def models(
    poem_dir, seq2seq_run, intent_run, joint_run, forecast_run, features_dir, tmp_path_factory
):
    """Every served model by task, all loaded by one ``load_models`` call."""
    text_dir = shutil.copytree(poem_dir, tmp_path_factory.mktemp("text") / "chars")
    (text_dir / "poem.json").unlink()  # the same model, as a plain language model
    dirs = [poem_dir, text_dir, seq2seq_run[1], intent_run[1], joint_run[1], forecast_run[1]]
    loaded = load_models([*dirs, features_dir])
    keys = ["poem", "text", "translation", "intent", "joint", "forecast", "features"]
    return dict(zip(keys, loaded, strict=True))


def stdin_cli(monkeypatch, text: str, args: list) -> list[str]:
    """The stdout lines of ``rnnkit *args`` reading ``text`` on stdin."""
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, stdout, stderr = call_cli(args)
    assert code == 0, stderr
    return stdout.splitlines()


def one_line(response, status=422) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


# ---- loading and listing -----------------------------------------------------------------------
def test_every_kind_is_loaded_and_listed(models):
    m = models
    assert [(x.kind, x.task) for x in m.values()] == [
        ("lm", "poem"),
        ("lm", "text"),
        ("seq2seq", "translation"),
        ("classify", "intent"),
        ("classify", "joint"),
        ("forecast", "forecast"),
        ("forecast", "forecast"),
    ]
    info = {i["name"]: i for i in client(*m.values()).get("/models").json()}
    assert len(info) == 7
    poem, text = info[m["poem"].name], info[m["text"].name]
    assert poem["endpoints"] == ["/generate", "/score", "/poem"]
    assert text["endpoints"] == ["/generate", "/score"]
    assert poem["tokenizer"] == "chinese-char" and poem["vocab_size"] == len(m["poem"].vocab)
    translation = info[m["translation"].name]
    assert translation["endpoints"] == ["/translate"] and translation["config"]["hidden_size"] == 64
    assert translation["vocab_size"] is None and translation["tokenizer"] is None
    intent = info[m["intent"].name]
    assert intent["vocab_size"] == len(m["intent"].vocabs["words"])
    assert intent["config"]["pooling"] == "mean"
    forecast = info[m["forecast"].name]
    assert forecast["endpoints"] == ["/forecast"] and forecast["config"]["tau"] == 14


def test_serve_refuses_a_folder_that_is_no_run_naming_every_kind(cli, tmp_path, seq2seq_run):
    code, out, err = cli(["serve", tmp_path])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    for words in ["`rnnkit train`", "translation runs", "`rnnkit tag train`", "forecasting runs"]:
        assert words in err
    broken = shutil.copytree(seq2seq_run[1], tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    code, _, err = cli(["serve", broken])
    assert code == 2 and err.count("\n") == 1 and "incomplete" in err, err


# ---- /poem -------------------------------------------------------------------------------------
def test_poems_are_what_the_command_line_writes(models, poem_dir):
    body = {"form": "wujue", "rhyme": True, "seed": 5, "num": 3, "temperature": 1.2, "top_k": 20}
    r = client(models["poem"]).post("/poem", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "poems" and out["seed"] == 5 and len(out["poems"]) == 3
    assert all(check_form(p, "wujue") for p in out["poems"])
    args = ["poem", poem_dir, "--form", "wujue", "--rhyme", "--seed", "5", "--num", "3"]
    code, stdout, stderr = call_cli([*args, "--temperature", "1.2", "--top-k", "20"])
    assert code == 0, stderr
    assert out["poems"] == stdout.splitlines()


def test_poem_acrostic_start_and_a_drawn_seed_that_repeats(models):
    c = client(models["poem"])
    r = c.post("/poem", json={"acrostic": "春夏秋冬", "form": "qijue", "start": "春山"})
    assert r.status_code == 200, r.text
    (poem,) = r.json()["poems"]
    assert poem.startswith("春山") and check_form(poem, "qijue")
    body = {"acrostic": "春夏秋冬", "form": "qijue", "start": "春山", "seed": r.json()["seed"]}
    assert c.post("/poem", json=body).json()["poems"] == [poem]


def test_a_poem_run_still_generates_and_scores(models):
    c = client(models["poem"])
    assert c.post("/generate", json={"prompt": "春", "length": 5, "seed": 1}).status_code == 200
    assert c.post("/score", json={"text": POEMS[0]}).status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"num": 21}, "num"),
        ({"num": 0}, "num"),
        ({"temperature": "NaN"}, "temperature"),
        ({"temperature": 11}, "temperature"),
        ({"temperature": 1e-45}, "temperature"),  # 0 in float32: NaN probabilities
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1e-46}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"seed": -1}, "seed"),
        ({"form": "sonnet"}, "form"),
        ({"acrostic": "春" * 33}, "acrostic"),
        ({"lines": 4}, "lines"),
    ],
)
def test_poem_fields_are_bounded(models, body, field):
    assert field_errors(client(models["poem"]).post("/poem", json=body)) == [f"body.{field}"]


def test_poem_limits_and_decoder_errors(models):
    c = client(models["poem"], max_prompt_chars=4)
    r = c.post("/poem", json={"style": POEMS[0]})
    assert (
        field_errors(r) == ["body.style"] and "--max-prompt-chars" in r.json()["detail"][0]["msg"]
    )
    detail = one_line(c.post("/poem", json={"acrostic": "春夏秋冬夜", "form": "wujue"}))
    assert "4 lines" in detail
    assert "rhyme" in one_line(c.post("/poem", json={"rhyme": True}))


def test_poem_needs_a_poem_run(models):
    c = client(models["text"], models["translation"])
    detail = one_line(c.post("/poem", json={}), 404)
    assert "no poem model" in detail
    detail = one_line(c.post("/poem", json={"model": "chars"}))
    assert "'chars'" in detail and "does not answer /poem" in detail


# ---- /translate --------------------------------------------------------------------------------
def test_translations_are_what_the_command_line_writes(models, seq2seq_run, monkeypatch):
    lines = ["a b c", "", "h g f e d", "b a"]
    c = client(models["translation"])
    r = c.post("/translate", json={"text": lines, "beam": 3})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == models["translation"].name and out["attention"] is None
    cli_lines = stdin_cli(
        monkeypatch, "\n".join(lines) + "\n", ["translate", seq2seq_run[1], "--beam", "3"]
    )
    assert out["translations"] == cli_lines
    assert out["translations"][0] == "C B A" and out["translations"][1] == ""
    # One string of lines is the same request as the list.
    assert c.post("/translate", json={"text": "\n".join(lines), "beam": 3}).json() == out
    body = {"text": lines, "beam": 4, "n_best": 2, "alpha": 1.0}
    nbest = c.post("/translate", json=body).json()["translations"]
    args = ["translate", seq2seq_run[1], "--beam", "4", "--n-best", "2", "--alpha", "1.0"]
    cli_lines = stdin_cli(monkeypatch, "\n".join(lines) + "\n", args)
    assert nbest == [line.split("\t") if line else [] for line in cli_lines]
    assert all(len(h) == 2 for h in nbest if h)


def test_attention_weights_of_one_sentence(models):
    m = models["translation"]
    r = client(m).post("/translate", json={"text": "a b c", "beam": 1, "attention": True})
    assert r.status_code == 200, r.text
    out = r.json()
    att = out["attention"]
    assert att["source"] == ["a", "b", "c", "<eos>"] and att["target"] == ["C", "B", "A"]
    assert out["translations"] == ["C B A"]
    weights = np.array(att["weights"])
    assert weights.shape == (3, 4) and np.allclose(weights.sum(1), 1, atol=1e-5)
    direct = attend(m.model, source_tokens("a b c", m.config), m.config, m.src_vocab, m.tgt_vocab)
    assert np.allclose(weights, direct.weights.numpy())
    detail = one_line(client(m).post("/translate", json={"text": ["a b", "c"], "attention": True}))
    assert "one line" in detail


@pytest.mark.parametrize(
    "body, field",
    [
        ({"beam": 11}, "body.beam"),
        ({"beam": 0}, "body.beam"),
        ({"beam": 2, "n_best": 3}, "body.n_best"),
        ({"alpha": "Infinity"}, "body.alpha"),
        ({"alpha": -0.1}, "body.alpha"),
        ({"text": []}, "body.text.list"),
        ({"text": ""}, "body.text.string"),
        ({"text": 3}, "body.text.list"),
    ],
)
def test_translate_fields_are_bounded(models, body, field):
    r = client(models["translation"]).post("/translate", json={"text": "a b", **body})
    assert field_errors(r) == [field]


def test_translate_and_classify_text_within_the_server_limits(models):
    c = client(models["translation"], models["intent"], max_items=2, max_prompt_chars=20)
    for path in ("/translate", "/classify"):
        r = c.post(path, json={"text": ["a", "b", "c"]})
        assert field_errors(r) == ["body.text"] and "--max-items" in r.json()["detail"][0]["msg"]
        r = c.post(path, json={"text": "a b c d e f g h a b c"})
        assert field_errors(r) == ["body.text"]
        assert "--max-prompt-chars" in r.json()["detail"][0]["msg"]
        assert "blank" in one_line(c.post(path, json={"text": ["  ", ""]}))
        assert c.post(path, json={"text": ["a b", "c"]}).status_code == 200


# ---- /classify ---------------------------------------------------------------------------------
def test_labels_are_what_classify_predict_prints(models, intent_run, monkeypatch):
    lines = ["Weather in Oslo now?", "", "play yellow by queen"]
    r = client(models["intent"]).post("/classify", json={"text": lines, "top": 2})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == models["intent"].name and out["task"] == "intent"
    args = ["classify", "predict", intent_run[1], "--json", "--top", "2"]
    docs = [json.loads(line) for line in stdin_cli(monkeypatch, "\n".join(lines) + "\n", args)]
    for sentence, doc in zip(out["sentences"], docs, strict=True):
        assert sentence["text"] == doc["text"] and sentence["label"] == doc["label"]
        assert sentence["probability"] == doc.get("probability")
        assert sentence["top"] == doc.get("top", [])
        assert sentence["tags"] is None and sentence["entities"] is None
    assert [s["label"] for s in out["sentences"]] == ["Weather", None, "Music"]
    assert out["sentences"][0]["tokens"] == ["weather", "in", "oslo", "now"]


def test_tags_and_entities_are_what_tag_predict_prints(models, joint_run, monkeypatch):
    m = models["joint"]
    text = "What is the weather in Rome today?\nplay halo by queen"
    r = client(m).post("/classify", json={"text": text})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["task"] == "joint"
    docs = [
        json.loads(line)
        for line in stdin_cli(monkeypatch, text + "\n", ["tag", "predict", joint_run[1], "--json"])
    ]
    for sentence, doc in zip(out["sentences"], docs, strict=True):
        for key in ("text", "tokens", "tags", "entities", "label", "probability"):
            assert sentence[key] == doc[key], key
    assert {"type": "artist", "start": 3, "end": 4, "text": "queen"} in out["sentences"][1][
        "entities"
    ]
    direct = predict_lines(m.model, m.vocabs, text.splitlines(), lowercase=True)
    assert [s["tags"] for s in out["sentences"]] == [p.tags for p in direct]


def test_classify_bounds(models):
    c = client(models["intent"])
    assert field_errors(c.post("/classify", json={"text": "a", "top": 0})) == ["body.top"]
    assert field_errors(c.post("/classify", json={"text": "a", "top": 101})) == ["body.top"]
    assert field_errors(c.post("/classify", json={"text": "a", "labels": 1})) == ["body.labels"]
    assert field_errors(c.post("/classify", json={})) == ["body.text"]


# ---- /forecast ---------------------------------------------------------------------------------
def test_forecast_is_what_forecast_predict_writes(models, forecast_run, tmp_path):
    m = models["forecast"]
    r = client(m).post("/forecast", json={})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == m.name and out["target"] == "sales" and out["horizon"] == 7
    dest = tmp_path / "f.csv"
    code, _, stderr = call_cli(
        ["forecast", "predict", forecast_run[1], "--horizon", "7", "--out", dest]
    )
    assert code == 0, stderr
    rows = list(csv.reader(dest.open()))[1:]
    assert out["times"] == [row[1] for row in rows] and out["times"][0] == "2020-10-27"
    assert out["forecast"] == pytest.approx([float(row[2]) for row in rows], rel=1e-5)
    series = m.run.prep.series.values[:, 0]
    assert out["history"] == pytest.approx(series[-14:].tolist())
    # The same values sent as a history give the same forecast, without times.
    sent = client(m).post("/forecast", json={"history": series[-20:].tolist(), "horizon": 3}).json()
    assert sent["forecast"] == pytest.approx(out["forecast"][:3]) and sent["times"] is None
    assert sent["history"] == out["history"]
    run = ForecastRun.load(forecast_run[1])
    assert sent["forecast"] == pytest.approx(run.forecast_after(series[-20:, None], 3).tolist())


def test_forecast_bounds_and_errors(models):
    m = models["forecast"]
    c = client(m, max_items=30)
    tail = [10.0] * 14
    r = c.post("/forecast", json={"history": [10.0] * 13})
    assert field_errors(r) == ["body.history"] and "at least 14" in r.json()["detail"][0]["msg"]
    assert field_errors(c.post("/forecast", json={"history": [10.0] * 31})) == ["body.history"]
    assert field_errors(c.post("/forecast", json={"history": []})) == ["body.history"]
    assert field_errors(c.post("/forecast", json={"history": ["NaN", *tail]})) == ["body.history.0"]
    assert field_errors(c.post("/forecast", json={"history": [1e16, *tail]})) == ["body.history.0"]
    assert field_errors(c.post("/forecast", json={"horizon": 0})) == ["body.horizon"]
    assert field_errors(c.post("/forecast", json={"horizon": 1001})) == ["body.horizon"]
    assert "at most" in one_line(c.post("/forecast", json={"horizon": 8}))  # a direct model of 7


def test_a_run_with_features_forecasts_its_own_series_only(models):
    c = client(models["features"])
    assert len(c.post("/forecast", json={}).json()["forecast"]) == 3
    detail = one_line(c.post("/forecast", json={"history": [10.0] * 20}))
    assert "temp" in detail and "leave history out" in detail


# ---- one server, every kind --------------------------------------------------------------------
def test_one_server_serves_every_kind(models):
    m = models
    c = client(*m.values())
    assert c.post("/translate", json={"text": "a b"}).json()["model"] == m["translation"].name
    assert c.post("/poem", json={"seed": 1}).json()["model"] == m["poem"].name
    # Two language models and two classifiers: these endpoints need the name.
    assert "model is required" in one_line(c.post("/generate", json={"length": 2}))
    assert "model is required" in one_line(c.post("/classify", json={"text": "play halo"}))
    assert "model is required" in one_line(c.post("/forecast", json={}))
    joint = c.post("/classify", json={"text": "play halo", "model": m["joint"].name}).json()
    assert joint["task"] == "joint" and joint["sentences"][0]["tags"]
    r = c.post("/generate", json={"length": 2, "model": m["text"].name})
    assert r.status_code == 200
    # A model of the wrong kind: 422 naming the models that can serve the endpoint.
    detail = one_line(c.post("/translate", json={"text": "a", "model": m["intent"].name}))
    assert f"models that do: {m['translation'].name}" in detail
    detail = one_line(c.post("/classify", json={"text": "a", "model": m["forecast"].name}))
    assert f"{m['intent'].name}, {m['joint'].name}" in detail
    detail = one_line(c.post("/score", json={"text": "a", "model": m["translation"].name}))
    assert f"{m['poem'].name}, {m['text'].name}" in detail
    assert "no model named" in one_line(c.post("/forecast", json={"model": "nope"}), 404)


def test_task_endpoints_share_the_token_and_the_slots(models):
    m = models
    c = client(*m.values(), token="s3cret", max_concurrent=1)
    auth = {"Authorization": "Bearer s3cret"}
    requests = [
        ("/poem", {}),
        ("/translate", {"text": "a"}),
        ("/classify", {"text": "a", "model": m["intent"].name}),
        ("/forecast", {"model": m["forecast"].name}),
    ]
    for path, body in requests:
        assert c.post(path, json=body).status_code == 401
    c.app.state.slots.take()
    for path, body in requests:
        r = c.post(path, json=body, headers=auth)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
    c.app.state.slots.give_back()
    for path, body in requests:
        assert c.post(path, json=body, headers=auth).status_code == 200
    spec = c.get("/openapi.json", headers=auth).json()
    assert {"/poem", "/translate", "/classify", "/forecast"} <= set(spec["paths"])
    assert {"401", "404", "413", "422", "503"} <= set(
        spec["paths"]["/forecast"]["post"]["responses"]
    )


# ---- the README's curl examples ----------------------------------------------------------------
def readme_requests() -> tuple[list[str], list[tuple[str, dict | None]]]:
    """The run folders the README's `rnnkit serve` example serves, and its curl requests as
    ``(path, JSON body or None for a GET)``."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Serving over HTTP", 1)[1].split("```bash", 1)[1].split("```")[0]
    lines = section.replace("\\\n", " ").splitlines()
    serve = next(ln for ln in lines if ln.startswith("rnnkit serve "))
    runs = [w for w in serve.split()[2:] if w.startswith("runs/")]
    requests = []
    for ln in lines:
        if ln.startswith("curl "):
            path = re.search(r"localhost:8000(/\w*)", ln).group(1)
            body = re.search(r"-d '(.*?)'", ln)
            requests.append((path, json.loads(body.group(1)) if body else None))
    return runs, requests


def test_the_readme_serve_examples_work_with_several_models(
    trained_run, poem_dir, seq2seq_run, joint_run, forecast_run, tmp_path
):
    runs, requests = readme_requests()
    assert runs == ["runs/shakespeare", "runs/tang", "runs/de-en", "runs/snips", "runs/sales"]
    sources = [trained_run.dir, poem_dir, seq2seq_run[1], joint_run[1], forecast_run[1]]
    dirs = [shutil.copytree(s, tmp_path / r) for s, r in zip(sources, runs, strict=True)]
    c = client(*load_models(dirs), token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    assert len(requests) == 9 and {p for p, _ in requests} >= {"/generate", "/poem", "/forecast"}
    for path, body in requests:
        r = c.get(path, headers=auth) if body is None else c.post(path, json=body, headers=auth)
        assert r.status_code == 200, (path, body, r.text)
    # Two language models are served: a request that names none is refused, naming both.
    detail = one_line(c.post("/generate", json={"prompt": "a"}, headers=auth))
    assert detail.startswith("model is required") and "shakespeare, tang" in detail
