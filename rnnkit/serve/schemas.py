"""Request and response bodies; FastAPI turns them into /openapi.json and the /docs page.

Limits that depend on the server's settings (prompt length, tokens per request, lines per
request) are checked in the handlers and reported in the same 422 format as these static checks.
Every number a request sends is bounded here, and NaN and infinities are refused. JSON types are
strict: ``true`` is not a number and ``"5"`` is not an integer (an integer is a number, though).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from rnnkit.bounds import BOUNDS, MAX_TEMPERATURE, MIN_TEMPERATURE, MIN_TOP_P

MAX_SEED = BOUNDS["seed"].high  # as --seed
MAX_BEAM = 10
MAX_POEMS = 20
MAX_HORIZON = 1000
MAX_TOP = 100
MAX_ABS_VALUE = 1e15  # history values; larger ones would overflow the model's float32 input
MAX_TOP_K = 100_000  # more than any vocabulary here; a k over the vocabulary is the same as 0

MODEL_FIELD = Field(
    None,
    description="Name of a served model (see GET /models); may be left out when only one "
    "model of the kind the endpoint needs is served.",
    examples=["shakespeare"],
)


class Request(BaseModel):
    # An unknown field is most likely a misspelt one: refuse it rather than ignore it. Strict:
    # a client that sends `true` or "5" for a number has a bug that lax reading would hide.
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorDetail(BaseModel):
    detail: str = Field(description="One line naming the problem and the fix.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, then the field, such as `length`.")
    msg: str = Field(description="What is wrong with it, in one line.")
    type: str = Field(description="The kind of error, such as `less_than_equal`.")


class FieldErrors(BaseModel):
    detail: list[FieldError] = Field(description="One entry per refused field.")


# The error answers every model endpoint documents: one line, or with 422 field errors too.
MODEL_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": FieldErrors | ErrorDetail if code == 422 else ErrorDetail, "description": d}
    for code, d in {
        400: "A body that is not UTF-8, or a Content-Length that is not a number.",
        401: "Token missing or wrong.",
        404: "No served model has that name.",
        413: "Request body over --max-body-bytes.",
        422: "The request cannot be served as sent: a list of field errors (invalid JSON, a "
        "field of the wrong type, out of range or over a server limit), or one line naming the "
        "problem and the fix (such as a model that does not answer the endpoint, or a prompt "
        "with no token the model knows).",
        503: "--max-concurrent requests are already in the models (running or waiting for "
        "their model); retry after `Retry-After` seconds.",
    }.items()
}


def _greedy_or_sampled(temperature: float) -> float:
    if 0 < temperature < MIN_TEMPERATURE:
        raise ValueError(
            f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE:g}, got {temperature}"
        )
    return temperature


# The bounds of rnnkit.bounds (as check_sampling applies them), so that they show in the schema.
Temperature = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_TEMPERATURE,
        allow_inf_nan=False,
        json_schema_extra={"not": {"exclusiveMinimum": 0, "exclusiveMaximum": MIN_TEMPERATURE}},
        description=f"Softmax temperature: 0 (greedy) or {MIN_TEMPERATURE:g} to "
        f"{MAX_TEMPERATURE:g}.",
    ),
    AfterValidator(_greedy_or_sampled),
]
TopK = Annotated[
    int, Field(ge=0, le=MAX_TOP_K, description="Sample among the k most likely tokens; 0 = off.")
]
TopP = Annotated[
    float,
    Field(
        ge=MIN_TOP_P,
        le=1,
        allow_inf_nan=False,
        description=f"Sample within the smallest set of probability mass p, {MIN_TOP_P:g} to 1; "
        "1 = off.",
    ),
]


Beam = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_BEAM,
        description="Above 1: beam search for the most likely output, with no sampling field "
        "(temperature, top_k, top_p) sent; 1: sampling.",
    ),
]


SAMPLING = ("temperature", "top_k", "top_p")
# A beam above 1 takes no sampling field: written into the schema, so that clients see it.
BEAM_OR_SAMPLING = {
    "anyOf": [
        {"properties": {"beam": {"const": 1}}},
        {"not": {"anyOf": [{"required": [f]} for f in SAMPLING]}},
    ]
}


def seed_field(description: str) -> Any:
    return Field(None, ge=0, le=MAX_SEED, description=description)


def sampling_fields(body: BaseModel) -> dict[str, Any]:
    """The sampling fields of a request with a ``beam``: all of them (defaults included) for
    beam 1; with a beam only those sent, so that beam search refuses them by name."""
    return {n: getattr(body, n) for n in SAMPLING if body.beam == 1 or n in body.model_fields_set}


class Health(BaseModel):
    status: str = Field("ok", examples=["ok"])
    models: int = Field(description="Number of served models.")


class ModelInfo(BaseModel):
    name: str = Field(description="The name requests use.")
    kind: str = Field(
        description="Adapter that serves it: lm (a language model), seq2seq (translation), "
        "classify (classification and tagging) or forecast."
    )
    task: str = Field(
        description="What it was trained for: text or poem (lm), translation (seq2seq), "
        "intent, slots or joint (classify), forecast."
    )
    endpoints: list[str] = Field(
        description="The endpoints that can use it.", examples=[["/generate", "/score"]]
    )
    vocab_size: int | None = Field(
        description="Tokens in its vocabulary (words for classify); null for seq2seq (two "
        "vocabularies, see its config) and forecast."
    )
    tokenizer: str | None = Field(description="char, word or chinese-char; null but for lm.")
    config: dict[str, Any] = Field(description="The run's training config, as saved in the run.")


class GenerateRequest(Request):
    model_config = ConfigDict(json_schema_extra=BEAM_OR_SAMPLING)

    model: str | None = MODEL_FIELD
    prompt: str = Field(
        "",
        description="Text fed through the model first to set its state; empty: a fresh line. "
        "At most the server's --max-prompt-chars characters.",
        examples=["ROMEO:"],
    )
    length: int = Field(
        200, ge=0, description="Tokens to generate; at most the server's --max-tokens."
    )
    temperature: Temperature = 1.0
    top_k: TopK = 0
    top_p: TopP = 1.0
    beam: Beam = 1
    seed: int | None = seed_field(
        "Seed for repeatable output; drawn at random (and returned) when left out."
    )
    stream: bool = Field(
        False,
        description='Answer with Server-Sent Events: one `data: {"text": ...}` event per '
        'piece, then `data: {"done": true, ...}` with the totals (or with "error").',
    )


class GenerateResponse(BaseModel):
    model: str
    text: str = Field(
        description="What the model wrote after the prompt; prompt + text is what "
        "`rnnkit generate` prints with the same seed."
    )
    tokens: int = Field(description="Tokens generated.")
    seconds: float = Field(description="Time spent generating.")
    seed: int = Field(description="The seed used; send it again to repeat the output.")
    warnings: list[str] = Field(
        default_factory=list, description="Prompt tokens the model does not know (read as <unk>)."
    )


class ScoreRequest(Request):
    model: str | None = MODEL_FIELD
    text: str = Field(
        min_length=1,
        description="One or more lines; each non-blank line is scored on its own, as a fresh "
        "line. At most the server's --max-prompt-chars characters.",
        examples=["the cat sees the red ball.\na dog likes the long road."],
    )


class LineScoreOut(BaseModel):
    text: str
    tokens: int = Field(description="Tokens in the line, its line end included.")
    logprob: float = Field(description="Natural log-probability of the line.")
    perplexity: float
    token_logprobs: list[float] = Field(description="Log-probability of each token.")


class ScoreResponse(BaseModel):
    model: str
    lines: list[LineScoreOut]
    tokens: int = Field(description="Tokens over all lines.")
    logprob: float = Field(description="Sum of the lines' log-probabilities.")
    perplexity: float = Field(description="Perplexity over all lines' tokens.")


# ---- /poem ------------------------------------------------------------------------------------
class PoemRequest(Request):
    model_config = ConfigDict(json_schema_extra=BEAM_OR_SAMPLING)

    model: str | None = MODEL_FIELD
    form: Literal["wujue", "qijue", "wulv", "qilv"] | None = Field(
        None,
        description="五言/七言 绝句 or 律诗: lines, characters and marks enforced while decoding; "
        "null: free, the model decides.",
    )
    acrostic: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="藏头诗: each line starts with the next character (marks are ignored).",
        examples=["春夏秋冬"],
    )
    start: str | None = Field(
        None,
        description="The poem's first characters. At most the server's --max-prompt-chars.",
    )
    style: str | None = Field(
        None,
        min_length=1,
        description="A poem read first to set the mood; not part of the output. At most the "
        "server's --max-prompt-chars.",
    )
    rhyme: bool = Field(False, description="Even lines end in one rhyme group (needs a form).")
    temperature: Temperature = 0.8
    top_k: TopK = 0
    top_p: TopP = 1.0
    beam: Beam = 1
    seed: int | None = seed_field(
        "Poem i is written with seed + i, as `rnnkit poem --num N --seed SEED`; drawn at random "
        "(and returned) when left out."
    )
    num: int = Field(
        1, ge=1, le=MAX_POEMS, description="Poems to write; with a beam, its best ones (<= beam)."
    )
    script: Literal["as-trained", "simplified", "traditional"] = Field(
        "as-trained", description="Script of the poems."
    )


class PoemResponse(BaseModel):
    model: str
    poems: list[str] = Field(description="One poem per item, each on one line.")
    seed: int = Field(description="The seed used; send it again to repeat the poems.")


# ---- /translate and /classify -------------------------------------------------------------------
# Tagged by the value's type, so a bad value is reported against the one form it was meant as.
Lines = Annotated[
    Annotated[str, Field(min_length=1), Tag("string")]
    | Annotated[list[str], Field(min_length=1), Tag("list")],
    Discriminator(lambda value: "string" if isinstance(value, str) else "list"),
]
TEXT_DOC = (
    "Lines of text: one string (split at line ends) or a list with one sentence per item. At "
    "most the server's --max-prompt-chars characters in all and --max-items lines."
)


class TranslateRequest(Request):
    model: str | None = MODEL_FIELD
    text: Lines = Field(description=TEXT_DOC, examples=["ein mann fährt fahrrad ."])
    beam: int = Field(5, ge=1, le=MAX_BEAM, description="Beam size; 1 is greedy search.")
    alpha: float = Field(
        0.6, ge=0, le=2, allow_inf_nan=False, description="Length normalisation; 0 = off."
    )
    n_best: int = Field(
        1, ge=1, le=MAX_BEAM, description="Translations per line, best first; at most beam."
    )
    attention: bool = Field(
        False,
        description="Also translate the (single) line greedily and return the attention "
        "weights, as `rnnkit seq2seq attention` draws them.",
    )

    @field_validator("n_best")
    @classmethod
    def _within_beam(cls, n_best: int, info: ValidationInfo) -> int:
        beam = info.data.get("beam")
        if beam is not None and n_best > beam:
            raise ValueError(f"n_best must be at most beam ({beam}), got {n_best}")
        return n_best


class AttentionOut(BaseModel):
    source: list[str] = Field(description="Source tokens the encoder read, <eos> last.")
    target: list[str] = Field(description="The greedy translation's tokens.")
    weights: list[list[float]] = Field(
        description="One row per target token, one column per source token; rows sum to 1."
    )


class TranslateResponse(BaseModel):
    model: str
    translations: list[str] | list[list[str]] = Field(
        description="One per line ('' for a blank line), as `rnnkit translate` writes them; "
        "with n_best > 1 a list per line, best first ([] for a blank line)."
    )
    attention: AttentionOut | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="One per line whose source tokens are mostly unknown to the model (read "
        "as <unk>), as `rnnkit translate` prints them: its translation is unreliable.",
    )


class ClassifyRequest(Request):
    model: str | None = MODEL_FIELD
    text: Lines = Field(description=TEXT_DOC, examples=[["play halo by queen"]])
    top: int = Field(1, ge=1, le=MAX_TOP, description="Labels per sentence, most probable first.")


class LabelOut(BaseModel):
    label: str
    probability: float


class EntityOut(BaseModel):
    type: str
    start: int = Field(description="Index of its first token.")
    end: int = Field(description="Index after its last token.")
    text: str


class SentenceOut(BaseModel):
    text: str
    tokens: list[str] = Field(description="The tokens the model read; [] for a blank line.")
    label: str | None = Field(description="The most probable label; null without a classifier.")
    probability: float | None
    top: list[LabelOut] = Field(description="The `top` best labels; [] without a classifier.")
    tags: list[str] | None = Field(description="A tag per token; null without a tagger.")
    entities: list[EntityOut] | None = Field(description="Tagged chunks; null without a tagger.")


class ClassifyResponse(BaseModel):
    model: str
    task: str = Field(description="intent, slots or joint: which fields are filled in.")
    sentences: list[SentenceOut] = Field(description="One per line, in order.")


# ---- /forecast -----------------------------------------------------------------------------------
Value = Annotated[float, Field(ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE, allow_inf_nan=False)]


class ForecastRequest(Request):
    model: str | None = MODEL_FIELD
    history: list[Value] | None = Field(
        None,
        min_length=1,
        description="Past values of the target, oldest first; the model reads the last tau. "
        "Left out: the run's own series. At most the server's --max-items values.",
    )
    horizon: int | None = Field(
        None, ge=1, le=MAX_HORIZON, description="Steps to forecast; left out: the run's horizon."
    )


class ForecastResponse(BaseModel):
    model: str
    target: str = Field(description="The forecast column.")
    horizon: int
    history: list[float] = Field(description="The last tau values the model read.")
    forecast: list[float] = Field(description="The next `horizon` values, original scale.")
    times: list[str] | None = Field(
        description="The time of each forecast step ('' when unknown), as `rnnkit forecast "
        "predict` writes them; null after a history sent in the request."
    )
