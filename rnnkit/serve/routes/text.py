"""``POST /generate`` and ``POST /score``: language models."""

from __future__ import annotations

import math

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rnnkit.errors import DataError
from rnnkit.serve import batching
from rnnkit.serve.deps import Batchers, Models, ModelSlots, Settings, too_long
from rnnkit.serve.lm import LanguageModel
from rnnkit.serve.registry import ModelSet
from rnnkit.serve.routes.base import model_router
from rnnkit.serve.schemas import (
    GenerateRequest,
    GenerateResponse,
    LineScoreOut,
    ScoreRequest,
    ScoreResponse,
    sampling_fields,
)
from rnnkit.serve.sse import ThreadEvents

router = model_router("language models")

# no-cache and X-Accel-Buffering: proxies must pass each event on as it comes.
NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

SSE_DOC = {
    200: {
        "description": "JSON, or with `stream: true` Server-Sent Events.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'data: {"text": "ROMEO"}\n\ndata: {"text": ":"}\n\n'
                'data: {"done": true, "model": "shakespeare", "tokens": 2, "seconds": 0.01, '
                '"seed": 7, "warnings": []}\n\n',
            }
        },
    }
}


@router.post("/generate", response_model=GenerateResponse, responses=SSE_DOC)
async def generate(
    body: GenerateRequest,
    models: Models,
    settings: Settings,
    slots: ModelSlots,
    batchers: Batchers,
):
    """Continue a prompt with a language model (as `rnnkit generate`), whole or streamed.

    Sampled requests to one model are stepped together (continuous batching) unless the
    server runs with --no-batching; a beam search runs on its own."""
    if len(body.prompt) > settings.max_prompt_chars:
        raise too_long("prompt", body.prompt, settings.max_prompt_chars, "--max-prompt-chars")
    if body.length > settings.max_tokens:
        raise too_long("length", body.length, settings.max_tokens, "--max-tokens")
    lm = _language_model(models, body.model, "/generate")
    plan = lm.plan(
        body.prompt, body.length, seed=body.seed, beam=body.beam, **sampling_fields(body)
    )
    totals = {"model": lm.name, "seed": plan.seed, "warnings": plan.warnings}
    batcher = batchers.get(lm.name) if plan.search["beam"] == 1 else None
    if batcher is not None:
        if body.stream:
            frames = await batching.stream(batcher, plan, totals)
            return StreamingResponse(frames, media_type="text/event-stream", headers=NO_BUFFER)
        done = await batching.generate(batcher, plan)
        return GenerateResponse(text=done.text, tokens=done.tokens, seconds=done.seconds, **totals)
    slots.take()
    if body.stream:

        def work(emit) -> dict:
            done = lm.generate(plan, emit=lambda piece: emit({"text": piece}))
            return {**totals, "tokens": done.tokens, "seconds": done.seconds}

        try:
            events = ThreadEvents(work, on_exit=slots.give_back)
        except BaseException:
            slots.give_back()
            raise
        frames = events.frames()
        return StreamingResponse(frames, media_type="text/event-stream", headers=NO_BUFFER)
    try:
        done = await run_in_threadpool(lm.generate, plan)
    finally:
        slots.give_back()
    return GenerateResponse(text=done.text, tokens=done.tokens, seconds=done.seconds, **totals)


@router.post("/score", response_model=ScoreResponse)
async def score(
    body: ScoreRequest,
    models: Models,
    settings: Settings,
    slots: ModelSlots,
) -> ScoreResponse:
    """Log-probability (natural log) and perplexity of each line and of all of them together,
    as `rnnkit score`."""
    if len(body.text) > settings.max_prompt_chars:
        raise too_long("text", body.text, settings.max_prompt_chars, "--max-prompt-chars")
    lines = [ln for ln in body.text.splitlines() if ln.strip()]
    if not lines:
        raise DataError("text has only blank lines; send at least one line to score")
    lm = _language_model(models, body.model, "/score")
    slots.take()
    try:
        scores = await run_in_threadpool(lm.score, lines)
    finally:
        slots.give_back()
    tokens = sum(s.num_tokens for s in scores)
    logprob = sum(s.logprob for s in scores)
    return ScoreResponse(
        model=lm.name,
        lines=[
            LineScoreOut(
                text=s.text,
                tokens=s.num_tokens,
                logprob=s.logprob,
                perplexity=s.perplexity,
                token_logprobs=s.token_logprobs,
            )
            for s in scores
        ],
        tokens=tokens,
        logprob=logprob,
        perplexity=math.exp(-logprob / tokens),
    )


def _language_model(models: ModelSet, name: str | None, endpoint: str) -> LanguageModel:
    return models.pick(name, endpoint, "language model")
