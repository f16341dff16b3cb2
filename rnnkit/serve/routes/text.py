"""``POST /generate`` and ``POST /score``: language models."""

from __future__ import annotations

import math

from fastapi.responses import StreamingResponse

from rnnkit.errors import DataError
from rnnkit.serve import batching
from rnnkit.serve.deps import Batchers, Models, ModelSlots, Settings, check_limit, model_router
from rnnkit.serve.limits import Slots
from rnnkit.serve.lm import LanguageModel
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
    check_limit("prompt", body.prompt, settings, "max_prompt_chars")
    check_limit("length", body.length, settings, "max_tokens")
    lm: LanguageModel = models.pick(body.model, "/generate", "language model")
    plan = lm.plan(
        body.prompt, body.length, seed=body.seed, beam=body.beam, **sampling_fields(body)
    )
    totals = {"model": lm.name, "seed": plan.seed, "warnings": plan.warnings}
    batcher = batchers.get(lm.name) if plan.beam == 1 else None
    if body.stream:
        if batcher is not None:
            frames = await batching.stream(batcher, plan, totals)
        else:
            frames = _stream_alone(lm, plan, totals, slots)
        return StreamingResponse(frames, media_type="text/event-stream", headers=NO_BUFFER)
    if batcher is not None:
        done = await batching.generate(batcher, plan)
    else:
        done = await slots.run(lm.generate, plan)
    return GenerateResponse(text=done.text, tokens=done.tokens, seconds=done.seconds, **totals)


def _stream_alone(lm: LanguageModel, plan, totals: dict, slots: Slots):
    """The SSE frames of a generation run in its own thread, holding a slot until it ends."""

    def work(emit) -> dict:
        done = lm.generate(plan, emit=lambda piece: emit({"text": piece}))
        return {**totals, "tokens": done.tokens, "seconds": done.seconds}

    slots.take()
    try:
        return ThreadEvents(work, on_exit=slots.give_back).frames()
    except BaseException:
        slots.give_back()
        raise


@router.post("/score", response_model=ScoreResponse)
async def score(
    body: ScoreRequest,
    models: Models,
    settings: Settings,
    slots: ModelSlots,
) -> ScoreResponse:
    """Log-probability (natural log) and perplexity of each line and of all of them together,
    as `rnnkit score`."""
    check_limit("text", body.text, settings, "max_prompt_chars")
    lines = [ln for ln in body.text.splitlines() if ln.strip()]
    if not lines:
        raise DataError("text has only blank lines; send at least one line to score")
    lm: LanguageModel = models.pick(body.model, "/score", "language model")
    scores = await slots.run(lm.score, lines)
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
