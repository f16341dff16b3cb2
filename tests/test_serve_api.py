"""The HTTP API of ``rnnkit serve`` (FastAPI TestClient), its command line and a real server."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
from conftest import cli_env, one_line_error, stop_process

from rnnkit.errors import GenerationError, RunDirError
from rnnkit.infer.generate import generate_text
from rnnkit.serve import ServeSettings, create_app, load_models
from rnnkit.serve.registry import unique_names

with warnings.catch_warnings():
    # Newer Starlette suggests another HTTP client for its TestClient; httpx still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PROMPT = "The cat"


@pytest.fixture(scope="module")
def lm(trained_run):
    """The shared tiny character LSTM, loaded once as a served model."""
    (model,) = load_models([trained_run.dir])
    return model


def client(*models, **settings) -> TestClient:
    return TestClient(create_app(models, ServeSettings(**settings)))


def sse_events(body: str) -> list[dict]:
    """Parse a text/event-stream body made of ``data: <json>`` events."""
    events = []
    for block in body.split("\n\n"):
        if block.strip():
            assert block.startswith("data: ") and "\n" not in block, block
            events.append(json.loads(block[len("data: ") :]))
    return events


def field_errors(response) -> list[str]:
    """The ``loc`` paths of a FastAPI 422 answer, such as ``body.prompt``."""
    assert response.status_code == 422, response.text
    return [".".join(map(str, e["loc"])) for e in response.json()["detail"]]


# ---- endpoints ---------------------------------------------------------------------------------
def test_health_and_models(lm):
    c = client(lm)
    assert c.get("/health").json() == {"status": "ok", "models": 1}
    (info,) = c.get("/models").json()
    assert info["name"] == "run" and info["kind"] == "lm" and info["task"] == "text"
    assert info["tokenizer"] == "char"
    assert info["vocab_size"] == len(lm.vocab)
    assert info["config"]["hidden_size"] == 32


def test_generate_writes_what_the_command_line_writes(lm):
    body = {"prompt": PROMPT, "length": 30, "seed": 4, "temperature": 0.8}
    r = client(lm).post("/generate", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "run" and out["tokens"] == 30 and out["seed"] == 4
    assert out["seconds"] >= 0 and out["warnings"] == []
    expected = generate_text(lm.model, lm.tokenizer, lm.vocab, PROMPT, 30, 0.8, seed=4)
    assert PROMPT + out["text"] == expected


def test_same_seed_same_text_and_the_drawn_seed_repeats(lm):
    c = client(lm)
    body = {"prompt": PROMPT, "length": 40}
    a = c.post("/generate", json={**body, "seed": 1}).json()["text"]
    assert c.post("/generate", json={**body, "seed": 1}).json()["text"] == a
    assert c.post("/generate", json={**body, "seed": 2}).json()["text"] != a
    drawn = c.post("/generate", json=body).json()
    again = c.post("/generate", json={**body, "seed": drawn["seed"]}).json()
    assert again["text"] == drawn["text"]


def test_stream_pieces_add_up_to_the_whole_text(lm):
    c = client(lm, max_concurrent=1)
    body = {"prompt": PROMPT, "length": 25, "seed": 7}
    whole = c.post("/generate", json=body).json()
    r = c.post("/generate", json={**body, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    *pieces, last = events
    assert all(set(e) == {"text"} for e in pieces) and len(pieces) == 25
    assert "".join(e["text"] for e in pieces) == whole["text"]
    assert last["done"] is True and last["tokens"] == 25 and last["seed"] == 7
    assert last["model"] == "run"
    c.app.state.slots.take()  # the stream gave its slot back


def test_an_error_during_a_stream_ends_it_with_an_error_event(lm, monkeypatch):
    def failing(plan, emit=None):
        emit("a")
        raise GenerationError("the model ran out of ideas")

    monkeypatch.setattr(lm, "generate", failing)
    c = client(lm, max_concurrent=1, batching=False)
    r = c.post("/generate", json={"prompt": PROMPT, "length": 5, "stream": True})
    assert sse_events(r.text) == [
        {"text": "a"},
        {"done": True, "error": "the model ran out of ideas"},
    ]
    c.app.state.slots.take()  # the only slot is free again


def test_score_matches_score_lines(lm):
    text = "The cat sees the red ball.\n\nA dog likes the long road."
    r = client(lm).post("/score", json={"text": text})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "run"
    assert [ln["text"] for ln in out["lines"]] == text.replace("\n\n", "\n").splitlines()
    for line in out["lines"]:
        assert line["tokens"] == len(line["text"]) + 1  # characters and the line end
        assert len(line["token_logprobs"]) == line["tokens"]
        assert line["logprob"] == pytest.approx(sum(line["token_logprobs"]))
    assert out["tokens"] == sum(ln["tokens"] for ln in out["lines"])
    assert out["logprob"] == pytest.approx(sum(ln["logprob"] for ln in out["lines"]))
    assert out["perplexity"] == pytest.approx(2.718281828 ** (-out["logprob"] / out["tokens"]))
    (direct,) = lm.score(["The cat sees the red ball."])
    assert out["lines"][0]["logprob"] == pytest.approx(direct.logprob)


def test_docs_describe_every_endpoint(lm):
    c = client(lm)
    spec = c.get("/openapi.json").json()
    assert {"/health", "/models", "/generate", "/score"} <= set(spec["paths"])
    generate = spec["paths"]["/generate"]["post"]
    assert "text/event-stream" in generate["responses"]["200"]["content"]
    assert {"400", "422", "404", "413", "503"} <= set(generate["responses"])
    assert "GenerateRequest" in spec["components"]["schemas"]
    assert c.get("/docs").status_code == 200


def test_every_422_is_documented_in_both_forms(lm):
    spec = client(lm).get("/openapi.json").json()
    both = [
        {"$ref": "#/components/schemas/FieldErrors"},
        {"$ref": "#/components/schemas/ErrorDetail"},
    ]
    posts = [item["post"] for item in spec["paths"].values() if "post" in item]
    assert len(posts) == 6
    for post in posts:
        schema = post["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema["anyOf"] == both, post["operationId"]
        assert "400" in post["responses"]
    assert "422" not in spec["paths"]["/models"]["get"]["responses"]  # it reads no input


def test_sampling_bounds_are_in_the_schema(lm):
    spec = client(lm).get("/openapi.json").json()
    for name in ("GenerateRequest", "PoemRequest"):
        fields = spec["components"]["schemas"][name]["properties"]
        assert (fields["temperature"]["minimum"], fields["temperature"]["maximum"]) == (0, 10)
        assert fields["temperature"]["not"] == {"exclusiveMinimum": 0, "exclusiveMaximum": 1e-3}
        assert (fields["top_p"]["minimum"], fields["top_p"]["maximum"]) == (1e-6, 1)
        assert (fields["top_k"]["minimum"], fields["top_k"]["maximum"]) == (0, 100_000)


# ---- bad requests ------------------------------------------------------------------------------
def test_limits_on_prompt_length_and_tokens(lm):
    c = client(lm, max_prompt_chars=10, max_tokens=20)
    r = c.post("/generate", json={"prompt": "a" * 11, "length": 5})
    assert field_errors(r) == ["body.prompt"]
    assert "--max-prompt-chars" in r.json()["detail"][0]["msg"]
    assert field_errors(c.post("/generate", json={"prompt": "a", "length": 21})) == ["body.length"]
    assert field_errors(c.post("/score", json={"text": "a" * 11})) == ["body.text"]
    assert c.post("/generate", json={"prompt": "a" * 10, "length": 20}).status_code == 200


def test_bodies_over_the_limit_get_413_declared_or_streamed(lm):
    c = client(lm, max_body_bytes=1000)
    big = json.dumps({"prompt": "a" * 2000}).encode()
    r = c.post("/generate", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"a" * 100
        yield b'"}'

    r = c.post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413


def test_invalid_json_wrong_types_and_unknown_fields_get_422(lm):
    c = client(lm)
    headers = {"Content-Type": "application/json"}
    r = c.post("/generate", content=b'{"prompt": ', headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = c.post("/generate", json={"prompt": 3, "length": "many", "seed": -1, "lenght": 5})
    assert sorted(field_errors(r)) == ["body.lenght", "body.length", "body.prompt", "body.seed"]
    assert field_errors(c.post("/generate", json={"temperature": "NaN"})) == ["body.temperature"]
    assert field_errors(c.post("/score", json={})) == ["body.text"]


@pytest.mark.parametrize(
    "body",
    [
        {"length": True},
        {"length": "5"},
        {"length": 5.0},
        {"seed": False},
        {"stream": "yes"},
        {"stream": 1},
        {"temperature": "0.5"},
        {"temperature": True},
        {"prompt": None},
    ],
)
def test_json_types_are_strict(lm, body):
    r = client(lm).post("/generate", json={"length": 2, **body})
    assert field_errors(r) == [f"body.{next(iter(body))}"]


def test_an_integer_is_a_number(lm):
    body = {"length": 2, "temperature": 1, "top_p": 1, "seed": 0}
    assert client(lm).post("/generate", json=body).status_code == 200


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("temperature", -1, "greater than or equal to 0"),
        ("temperature", 11, "less than or equal to 10"),
        ("temperature", 1e39, "less than or equal to 10"),
        ("temperature", 1e-45, "0 (greedy) or at least 0.001"),
        ("temperature", 1e-4, "0 (greedy) or at least 0.001"),
        ("top_p", 0, "greater than or equal to 0.000001"),
        ("top_p", 1e-46, "greater than or equal to 0.000001"),
        ("top_p", 1.5, "less than or equal to 1"),
        ("top_k", -2, "greater than or equal to 0"),
    ],
)
def test_sampling_values_are_bounded(lm, field, value, words):
    r = client(lm).post("/generate", json={"length": 5, field: value})
    assert field_errors(r) == [f"body.{field}"]
    assert words in r.json()["detail"][0]["msg"]


def test_sampling_bounds_are_inclusive(lm):
    c = client(lm)
    for body in ({"temperature": 0}, {"temperature": 1e-3}, {"temperature": 10}, {"top_p": 1e-6}):
        r = c.post("/generate", json={"length": 5, "seed": 0, **body})
        assert r.status_code == 200 and r.json()["tokens"] == 5, (body, r.text)


def test_model_errors_are_422_with_one_line(lm):
    r = client(lm).post("/generate", json={"length": 5, "prompt": "\u0416\u0416"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert "no token the model knows" in detail


@pytest.mark.parametrize(
    "content, headers",
    [
        (b'{"prompt": "\xff"}', {}),  # not UTF-8
        (b'{"prompt": "a"}', {"Content-Length": "ten"}),
    ],
    ids=["not-utf-8", "content-length-not-a-number"],
)
def test_an_unreadable_body_is_400_with_one_line(lm, content, headers):
    r = client(lm).post(
        "/generate", content=content, headers={"Content-Type": "application/json", **headers}
    )
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail


def test_blank_score_text_is_422(lm):
    r = client(lm).post("/score", json={"text": "\n  \n"})
    assert r.status_code == 422 and "blank" in r.json()["detail"]


def test_unknown_model_is_404_naming_the_served_ones(lm):
    c = client(lm, lm_twin(lm))
    r = c.post("/generate", json={"model": "nope", "length": 3})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert "run, run-2" in r.json()["detail"]
    r = c.post("/generate", json={"length": 3})  # two language models: which one?
    assert r.status_code == 422 and "model is required" in r.json()["detail"]
    assert c.post("/score", json={"model": "run-2", "text": "a"}).json()["model"] == "run-2"


def lm_twin(lm):
    """The same model served under a second name."""
    return type(lm)("run-2", lm.path, lm.config, lm.tokenizer, lm.vocab, lm.model, lm.device)


# ---- concurrency -------------------------------------------------------------------------------
def test_full_server_answers_503_at_once_with_retry_after(lm):
    c = client(lm, max_concurrent=2, batching=False)
    c.app.state.slots.take()
    c.app.state.slots.take()
    start = time.perf_counter()
    for path, body in [("/generate", {"length": 5}), ("/score", {"text": "a"})]:
        r = c.post(path, json=body)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "busy" in r.json()["detail"]
    assert time.perf_counter() - start < 2
    assert c.get("/health").status_code == 200
    c.app.state.slots.give_back()
    assert c.post("/generate", json={"length": 5}).status_code == 200


def test_a_slow_generation_leaves_health_answering_and_refuses_one_more(lm, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real = lm.generate

    def slow(plan, emit=None):
        started.set()
        release.wait(10)
        return real(plan, emit)

    monkeypatch.setattr(lm, "generate", slow)
    c = client(lm, max_concurrent=1, batching=False)
    results = []
    worker = threading.Thread(
        target=lambda: results.append(c.post("/generate", json={"length": 5, "seed": 0}))
    )
    worker.start()
    try:
        assert started.wait(10)
        start = time.perf_counter()
        assert c.get("/health").json()["status"] == "ok"  # the event loop is free
        assert c.post("/generate", json={"length": 5}).status_code == 503
        assert time.perf_counter() - start < 2
    finally:
        release.set()
        worker.join(10)
    assert results[0].status_code == 200 and results[0].json()["tokens"] == 5


def test_requests_for_a_busy_model_wait_their_turn_within_the_slots(lm):
    """One model, two slots: while the model is busy, two requests wait for it (and are then
    served) instead of being refused; a third finds both slots taken and gets 503 at once."""
    c = client(lm, max_concurrent=2, batching=False)
    slots = c.app.state.slots
    results = []

    def post(body):
        results.append(c.post("/generate", json=body))

    workers = [
        threading.Thread(target=post, args=({"length": 5, "seed": 1},)),
        threading.Thread(target=post, args=({"length": 5, "seed": 2, "stream": True},)),
    ]
    lm.lock.acquire()  # the model is busy with a call of its own
    try:
        for w in workers:
            w.start()
        deadline = time.monotonic() + 10
        while slots.taken < 2:
            assert time.monotonic() < deadline, "the requests never took their slots"
            time.sleep(0.01)
        start = time.perf_counter()
        r = c.post("/score", json={"text": "a"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert time.perf_counter() - start < 2
        time.sleep(0.2)
        assert results == []  # still waiting for the model, not refused
    finally:
        lm.lock.release()
    for w in workers:
        w.join(10)
    assert sorted(r.status_code for r in results) == [200, 200]
    assert all("tokens" in r.text for r in results)
    assert slots.taken == 0


# ---- token -------------------------------------------------------------------------------------
def test_token_guards_everything_but_health(lm):
    c = client(lm, token="s3cret")
    assert c.get("/health").status_code == 200
    for method, path, body in [
        ("GET", "/models", None),
        ("POST", "/generate", {"length": 3}),
        ("POST", "/score", {"text": "a"}),
    ]:
        r = c.request(method, path, json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = c.request(method, path, json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.request(method, path, json=body, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200, r.text


# ---- the web page ------------------------------------------------------------------------------
def test_the_page_and_its_files_are_served_without_the_token(lm):
    c = client(lm, token="s3cret")
    page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    # Every file the page loads is one of ours, served from this server.
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(loaded) == ["data:,", "docs", "openapi.json", "static/app.js", "static/style.css"]
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        r = c.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.headers["cache-control"] == "no-cache"
        assert "://" not in r.text.replace("http://www.w3.org/2000/svg", "")
    r = c.get("/static/secret.txt")
    assert r.status_code == 404 and "app.js, style.css" in r.json()["detail"]
    assert c.get("/models").status_code == 401  # the API still needs the token
    assert "/" not in c.get("/openapi.json").json()["paths"]  # the page is not part of the API


def test_the_page_has_a_tab_and_a_labelled_form_for_every_endpoint(lm):
    page = client(lm).get("/").text
    for endpoint in ["/generate", "/score", "/poem", "/translate", "/classify", "/forecast"]:
        assert f'data-endpoint="{endpoint}"' in page
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', page))
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    assert ids and ids <= labelled, ids - labelled


def test_the_page_files_are_package_data():
    from importlib.resources import files

    static = files("rnnkit.serve") / "static"
    assert {p.name for p in static.iterdir()} >= {"index.html", "app.js", "style.css"}
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"serve/static/*"' in pyproject


# ---- loading and the command line --------------------------------------------------------------
def test_names_are_folder_names_made_unique(tmp_path):
    paths = [tmp_path / "a" / "run", tmp_path / "b" / "run", tmp_path / "run-2", tmp_path / "x"]
    assert unique_names(paths) == ["run", "run-2", "run-2-2", "x"]


def test_a_poem_run_is_served_with_task_poem(trained_run, tmp_path):
    run = shutil.copytree(trained_run.dir, tmp_path / "poems")
    (run / "poem.json").write_text("{}", encoding="utf-8")
    (model,) = load_models([run])
    assert (model.name, model.kind, model.task) == ("poems", "lm", "poem")


def test_load_models_refuses_what_it_cannot_serve(tmp_path):
    message = one_line_error(RunDirError, load_models, [tmp_path])
    assert str(tmp_path) in message and "`rnnkit train`" in message
    message = one_line_error(RunDirError, load_models, [tmp_path / "nowhere"])
    assert "not found" in message


def test_serve_help_lists_every_option(cli):
    code, out, err = cli(["serve", "--help"])
    assert code == 0, err
    assert out.startswith("Usage: rnnkit serve")
    for option in [
        "--host",
        "--port",
        "--token",
        "RNNKIT_SERVE_TOKEN",
        "--device",
        "--max-prompt-chars",
        "--max-tokens",
        "--max-body-bytes",
        "--max-concurrent",
    ]:
        assert option in out
    assert "127.0.0.1" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["{tmp}"], ["{tmp}", "not a run", "`rnnkit train`"]),
        (["{tmp}/nowhere"], ["not found"]),
        (["{run}", "--max-concurrent", "0"], ["--max-concurrent", "> 0"]),
    ],
)
def test_serve_refuses_bad_input_with_one_line(cli, tmp_path, trained_run, args, words):
    fill = {"tmp": str(tmp_path), "run": str(trained_run.dir)}
    code, out, err = cli(["serve", *(a.format(**fill) for a in args)])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(w.format(**fill) in err for w in words), err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_answers_over_http(trained_run):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "serve", str(trained_run.dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    assert json.load(r) == {"status": "ok", "models": 1}
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        request = urllib.request.Request(
            base + "/generate",
            data=json.dumps({"prompt": PROMPT, "length": 10, "seed": 0}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            out = json.load(r)
        assert out["model"] == "run" and out["tokens"] == 10
    finally:
        stop_process(proc)
        proc.stderr.close()
