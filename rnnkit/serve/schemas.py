"""Request and response bodies; FastAPI turns them into /openapi.json and the /docs page.

Limits that depend on the server's settings (prompt length, tokens per request) are checked
in the handlers and reported in the same 422 format as these static checks.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MODEL_FIELD = Field(
    None,
    description="Name of a served model (see GET /models); may be left out when only one "
    "model of the kind the endpoint needs is served.",
    examples=["shakespeare"],
)


class Request(BaseModel):
    # An unknown field is most likely a misspelt one: refuse it rather than ignore it.
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    detail: str = Field(description="One line naming the problem and the fix.")


class Health(BaseModel):
    status: str = Field("ok", examples=["ok"])
    models: int = Field(description="Number of served models.")


class ModelInfo(BaseModel):
    name: str = Field(description="The name requests use.")
    kind: str = Field(description="Adapter that serves it: lm (a language model).")
    task: str = Field(description="What it was trained for: text, or poem (`rnnkit poem train`).")
    vocab_size: int
    tokenizer: str = Field(description="char, word or chinese-char.")
    config: dict[str, Any] = Field(description="The run's config.yaml.")


class GenerateRequest(Request):
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
    temperature: float = Field(
        1.0, allow_inf_nan=False, description="Softmax temperature, >= 0; 0 is greedy."
    )
    top_k: int = Field(0, description="Sample among the k most likely tokens; 0 = off.")
    top_p: float = Field(
        1.0,
        allow_inf_nan=False,
        description="Sample within the smallest set of probability mass p, in (0, 1]; 1 = off.",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        description="Seed for repeatable output; drawn at random (and returned) when left out.",
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
