"""Fuzzing the HTTP API of ``rnnkit serve`` from its own OpenAPI schema (schemathesis, in process).

Every operation in /openapi.json (read when the tests are collected, so a new route is fuzzed
without a change here) gets requests that fit its schema (positive) and, when it takes any
input, requests that break it (negative). They go through ASGI to ``create_app`` serving the
tiny trained LM behind a token, and each answer is checked: no 5xx, a status code the schema
lists, a body, content type and headers that match it, 401 without the token or with a wrong
one, and streams that end with their totals rather than an error.

The fuzzer reads a copy of the schema with the server's limits written in, so that valid
requests reach the model instead of stopping at a 422. The tests at the end hold the served
schema itself to answers the fuzzer rarely meets: sampling values past float32's range, a
one-line 422, the 400 for a body that is not UTF-8, and JSON values of the wrong type.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
from hypothesis import given, settings

from rnnkit.serve import ServeSettings, create_app, load_models

schemathesis = pytest.importorskip("schemathesis")
GenerationMode = schemathesis.GenerationMode

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Low limits keep every generation short: 50 examples per operation take seconds.
LIMITS = ServeSettings(token=TOKEN, max_tokens=20, max_prompt_chars=200)
EXAMPLES = 50

CONFIG = {
    # The token comes from `auth`; generated Authorization headers would only ever meet the 401
    # (which `ignored_auth` checks on every answer anyway).
    "generation": {"with-security-parameters": False},
    "auth": {"openapi": {"HTTPBearer": {"bearer": TOKEN}}},
    "checks": {
        # A request the schema allows may still be refused with 422: a prompt made only of
        # characters the model has never seen.
        "positive_data_acceptance": {"enabled": False},
    },
    "max-stream-events": 10 * LIMITS.max_tokens,  # read every stream to its last event
}


def operations() -> list:
    """``(method, path, mode)`` for every operation the app serves, whatever models it has."""
    params = []
    for path, item in create_app([]).openapi()["paths"].items():
        for method, spec in item.items():
            modes = [GenerationMode.POSITIVE]
            if "requestBody" in spec or spec.get("parameters"):
                modes.append(GenerationMode.NEGATIVE)  # nothing to send wrong otherwise
            for mode in modes:
                name = f"{method.upper()} {path} {mode.value}"
                params.append(pytest.param(method.upper(), path, mode, id=name))
    return params


def for_the_fuzzer(spec: dict, limits: ServeSettings, names: list[str]) -> dict:
    """A copy of the served ``spec`` the fuzzer can hold the server to.

    - The server's limits, written in as JSON Schema keywords. The served schema leaves them to
      the field descriptions (they depend on the server's settings); without them nearly every
      valid request would ask for more tokens than ``--max-tokens`` and end at a 422.
    - ``model`` one of the served ``names`` or left out: a made-up name only meets the 404
      (test_serve_api checks it), so most requests would never reach a model.
    - Event streams described one event at a time (Open API 3.2's ``itemSchema``), the way
      schemathesis reads them; the served 3.1 schema describes the whole body as a string.
    """
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    generate = schemas["GenerateRequest"]["properties"]
    generate["length"]["maximum"] = limits.max_tokens
    generate["prompt"]["maxLength"] = limits.max_prompt_chars
    schemas["ScoreRequest"]["properties"]["text"]["maxLength"] = limits.max_prompt_chars
    for schema in schemas.values():
        if "model" in schema.get("properties", {}):
            schema["properties"]["model"] = {"enum": [None, *names]}

    event = {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}}
    for item in spec["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                if "text/event-stream" in response.get("content", {}):
                    response["content"]["text/event-stream"] = {"itemSchema": event}
    return spec


def streams_end_with_their_totals(ctx, response, case) -> None:
    """The streaming twin of "no 5xx": a stream's status is sent before the work runs, so a
    failure shows as an ``error`` in its last event instead."""
    if not response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        return
    blocks = response.content.decode().split("\n\n")
    *pieces, last = [json.loads(b.removeprefix("data: ")) for b in blocks if b]
    assert all(set(p) == {"text"} for p in pieces), pieces
    assert last.get("done") is True and "error" not in last, last
    assert last["tokens"] == len(pieces), last


@pytest.fixture(scope="module")
def models(trained_run):
    return load_models([trained_run.dir])


@pytest.fixture(scope="module")
def app(models):
    return create_app(models, LIMITS)


@pytest.fixture(scope="module")
def fuzzed_schema(app, models):
    spec = for_the_fuzzer(app.openapi(), LIMITS, [m.name for m in models])
    schema = schemathesis.openapi.from_dict(spec, config=schemathesis.Config.from_dict(CONFIG))
    schema.app = app  # requests go to the app in process, as with `from_asgi`
    return schema


@pytest.fixture(scope="module")
def served_schema(app):
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.mark.parametrize("method, path, mode", operations())
def test_every_answer_fits_the_schema(fuzzed_schema, method, path, mode):
    operation = fuzzed_schema[path][method]
    statuses = Counter()

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
    def check(case):
        response = case.call_and_validate(additional_checks=[streams_end_with_their_totals])
        statuses[response.status_code] += 1

    check()
    if path in ("/generate", "/score") and mode is GenerationMode.POSITIVE:
        # The fuzzing reached the model, not only the request checks in front of it.
        assert statuses[200] >= EXAMPLES // 10, statuses


# ---- answers that once fell outside the served schema ------------------------------------------
def generate(served_schema, body, **kwargs):
    case = served_schema["/generate"]["POST"].Case(body=body, **kwargs)
    return case, case.call(headers=AUTH)


@pytest.mark.parametrize(
    "sampling",
    [
        # Over float32's largest: inf, and -inf / inf = NaN for the banned tokens.
        pytest.param({"temperature": 1e39}, id="temperature=1e39"),
        # The logits divided by it overflow to inf, and inf - inf = NaN in the softmax.
        pytest.param({"temperature": 1e-45}, id="temperature=1e-45"),
        # 0 in float32: every token is dropped.
        pytest.param({"top_p": 1e-46}, id="top_p=1e-46"),
    ],
)
def test_sampling_values_past_float32_are_refused_as_the_schema_says(served_schema, sampling):
    case, response = generate(served_schema, {"length": 3, "seed": 0, **sampling})
    (field,) = sampling
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    case.validate_response(response, headers=AUTH)


def test_a_one_line_422_fits_the_served_schema(served_schema):
    case, response = generate(served_schema, {"length": 5, "prompt": "\u0416\u0416"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    case.validate_response(response, headers=AUTH)


def test_the_served_schema_lists_the_400(served_schema):
    case, response = generate(served_schema, b'{"prompt": "\xff"}', media_type="application/json")
    assert response.status_code == 400
    case.validate_response(response, headers=AUTH)


@pytest.mark.parametrize(
    "body",
    [{"length": True}, {"length": "5"}, {"seed": False}, {"stream": "yes"}, {"temperature": "1"}],
)
def test_a_value_of_the_wrong_json_type_is_refused(served_schema, body):
    case, response = generate(served_schema, body)
    (field,) = body
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    case.validate_response(response, headers=AUTH)
