"""Continuous batching in ``rnnkit serve`` (``rnnkit.serve.batching``): concurrent ``/generate``
requests are generated together and each writes what it writes alone; the queue is bounded."""

from __future__ import annotations

import json
import threading
import time
import warnings

import pytest
from conftest import TINY_TRAIN_ARGS, call_cli

from rnnkit.infer.generate import generate_text
from rnnkit.serve import ServeSettings, create_app, load_models
from rnnkit.serve.limits import FairLock

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PROMPT = "The cat"


@pytest.fixture(scope="module")
def lm(trained_run):
    (model,) = load_models([trained_run.dir])
    return model


@pytest.fixture(scope="module")
def mingru_lm(trained_run, tmp_path_factory):
    """A minGRU trained as the shared run is: no packed step, so its rows step one by one."""
    out = tmp_path_factory.mktemp("mingru") / "run"  # served as "run", as the shared one
    args = ["train", "--data", trained_run.text, "--model", "mingru", *TINY_TRAIN_ARGS]
    code, _, err = call_cli([*args, "--out", out])
    assert code == 0, err
    (model,) = load_models([out])
    return model


def client(lm, **settings) -> TestClient:
    return TestClient(create_app([lm], ServeSettings(**settings)))


def text_of(response) -> str:
    """The generated text of a JSON answer or of a stream of SSE events."""
    assert response.status_code == 200, response.text
    if not response.headers["content-type"].startswith("text/event-stream"):
        return response.json()["text"]
    events = [json.loads(b.removeprefix("data: ")) for b in response.text.split("\n\n") if b]
    assert events[-1]["done"] is True and "error" not in events[-1], events[-1]
    return "".join(e["text"] for e in events[:-1])


def batch_sizes(c: TestClient) -> list[int]:
    """Record how many requests each step of the model's batch ran."""
    batcher = c.app.state.batchers["run"]
    sizes: list[int] = []
    step = batcher.batch.step
    batcher.batch.step = lambda: (sizes.append(len(batcher.batch)), step())[1]
    return sizes


def post_all(c: TestClient, bodies: list[dict]) -> list:
    """POST every body at once, each from its own thread; the answers in order."""
    answers: list = [None] * len(bodies)

    def post(i: int) -> None:
        answers[i] = c.post("/generate", json=bodies[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    return threads, answers


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


BODIES = [
    {"prompt": PROMPT, "length": 30, "seed": 4, "temperature": 0.8},
    {"prompt": "t", "length": 12, "seed": 5, "top_k": 3},
    {"prompt": PROMPT, "length": 45, "seed": 6, "top_p": 0.9, "stream": True},
    {"prompt": "the dog ", "length": 20, "seed": 4},
    {"prompt": PROMPT, "length": 25, "seed": 7, "temperature": 0},
    {"prompt": "a", "length": 1, "seed": 8},
]


@pytest.mark.parametrize("served", ["lm", "mingru_lm"])
def test_same_seeded_request_alone_and_in_a_batch_writes_the_same_tokens(request, served):
    lm = request.getfixturevalue(served)
    c = client(lm)
    alone = [text_of(c.post("/generate", json=body)) for body in BODIES]
    sizes = batch_sizes(c)
    batcher = c.app.state.batchers["run"]
    with lm.lock:  # the model is busy: every request queues, then all join one batch
        threads, answers = post_all(c, BODIES)
        wait_for(lambda: len(batcher.waiting) + len(batcher.running) == len(BODIES), "queued")
    for t in threads:
        t.join(10)
    assert [text_of(a) for a in answers] == alone
    assert max(sizes) >= len(BODIES) - 1  # they were stepped together
    # ... and what the command line writes with that seed
    first = BODIES[0]
    assert PROMPT + alone[0] == generate_text(
        lm.model, lm.tokenizer, lm.vocab, PROMPT, first["length"], 0.8, seed=first["seed"]
    )
    # batched or not, the server writes the same
    plain = client(lm, batching=False)
    assert [text_of(plain.post("/generate", json=b)) for b in BODIES] == alone


def test_a_full_queue_answers_503_with_retry_after_at_once(lm):
    c = client(lm, max_batch=1, retry_after=3)
    batcher = c.app.state.batchers["run"]
    body = {"prompt": PROMPT, "length": 5, "seed": 1}
    with lm.lock:
        threads, answers = post_all(c, [body, body])  # one in the batch, one waiting
        wait_for(lambda: len(batcher.running) == 1 and len(batcher.waiting) == 1, "queued")
        start = time.perf_counter()
        for extra in (body, {**body, "stream": True}):
            r = c.post("/generate", json=extra)
            assert r.status_code == 503 and r.headers["retry-after"] == "3"
            assert "--max-batch 1" in r.json()["detail"]
        assert time.perf_counter() - start < 5
    for t in threads:
        t.join(10)
    assert [text_of(a) for a in answers] == [text_of(c.post("/generate", json=body))] * 2


def test_a_request_without_a_place_within_max_wait_gets_503(lm):
    c = client(lm, max_batch=1, max_wait=0.05)
    batcher = c.app.state.batchers["run"]
    body = {"prompt": PROMPT, "length": 5, "seed": 1}
    with lm.lock:  # the first request holds the only place while the second waits
        threads, answers = post_all(c, [body, {**body, "stream": True}])
        wait_for(lambda: len(batcher.running) == 1 and len(batcher.waiting) == 1, "queued")
        time.sleep(0.1)
    for t in threads:
        t.join(10)
    served, refused = sorted(answers, key=lambda a: a.status_code)
    assert served.status_code == 200 and refused.status_code == 503
    assert refused.headers["retry-after"] == "1" and "--max-wait" in refused.json()["detail"]


def test_beams_and_scores_take_the_model_between_steps(lm):
    c = client(lm)
    long = {"prompt": PROMPT, "length": 300, "seed": 2}
    threads, answers = post_all(c, [long])
    batcher = c.app.state.batchers["run"]
    wait_for(lambda: len(batcher.running) == 1, "generating")
    beam = c.post("/generate", json={"prompt": PROMPT, "length": 5, "beam": 2})
    assert beam.status_code == 200 and beam.json()["tokens"] == 5
    assert c.post("/score", json={"text": "the cat"}).status_code == 200
    for t in threads:
        t.join(10)
    assert answers[0].json()["tokens"] == 300


def test_fair_lock_is_taken_in_the_order_asked():
    lock, order = FairLock(), []
    lock.acquire()

    def take(i: int) -> None:
        with lock:
            order.append(i)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=take, args=(i,)))
        threads[-1].start()
        wait_for(lambda n=i: lock._next == n + 2, "asked")
    lock.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3] and not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


def test_batching_options_are_checked(lm):
    from rnnkit.errors import ConfigError

    for bad in ({"max_batch": 0}, {"max_wait": 0}, {"max_wait": "soon"}, {"batching": "yes"}):
        with pytest.raises(ConfigError):
            ServeSettings(**bad)
    assert client(lm, batching=False).app.state.batchers == {}


def test_a_failing_step_fails_its_requests_and_the_worker_goes_on(lm):
    c = TestClient(create_app([lm], ServeSettings()), raise_server_exceptions=False)
    batcher = c.app.state.batchers["run"]
    step = batcher.batch.step

    def broken():
        batcher.batch.step = step  # once: the next batch is a new RunningBatch anyway
        raise RuntimeError("a bug")

    batcher.batch.step = broken
    body = {"prompt": PROMPT, "length": 5, "seed": 1}
    assert c.post("/generate", json=body).status_code == 500
    streamed = c.post("/generate", json={**body, "stream": True})
    assert text_of(streamed) == text_of(c.post("/generate", json=body))
