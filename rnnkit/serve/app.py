"""``create_app(models, settings)``: the FastAPI app, without a server (uvicorn runs it)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.serve.batching import Batcher
from rnnkit.serve.limits import BodyLimit, Slots
from rnnkit.serve.registry import ModelNotFound, ModelSet, ServedModel
from rnnkit.serve.routes import ROUTERS
from rnnkit.serve.settings import ServeSettings


def create_app(models: Iterable[ServedModel], settings: ServeSettings | None = None) -> FastAPI:
    """The HTTP app serving ``models`` (see ``load_models``) within ``settings``' limits.

    Error answers carry ``{"detail": ...}``, with the status codes of
    ``rnnkit.serve.schemas.MODEL_ERRORS`` (and for a batched ``/generate`` those of
    ``rnnkit.serve.batching``). ``GET /`` is the web page (``rnnkit.serve.routes.page``).
    """
    settings = settings or ServeSettings()
    app = FastAPI(
        title="rnnkit serve",
        version=rnnkit.__version__,
        description=_description(settings),
    )
    app.state.models = ModelSet(models)
    app.state.batchers = {
        m.name: Batcher(m, settings.max_batch, settings.max_wait, settings.retry_after)
        for m in app.state.models
        if settings.batching and m.kind == "lm"
    }
    app.state.settings = settings
    app.state.slots = Slots(settings.max_concurrent, settings.retry_after)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(ModelNotFound, partial(_refused, status=404))
    app.add_exception_handler(RnnkitError, _refused)  # starlette picks the nearest class
    for router in ROUTERS:
        app.include_router(router)
    return app


async def _refused(request: Request, exc: Exception, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status)


def _description(settings: ServeSettings) -> str:
    access = (
        "Every API endpoint but `/health` needs `Authorization: Bearer TOKEN` (the web page "
        "asks for the token and sends it)."
        if settings.token
        else "No token is needed."
    )
    return (
        "Trained rnnkit runs over HTTP; a web page to try them is at `/`. "
        + access
        + f"\n\nLimits: text up to {settings.max_prompt_chars} characters per request (prompts, "
        f"scored, translated and classified text, poem starts and styles), up to "
        f"{settings.max_items} lines (or forecast history values) per request, up to "
        f"{settings.max_tokens} generated tokens per request, request bodies up to "
        f"{settings.max_body_bytes} bytes (413 beyond), {settings.max_concurrent} requests in "
        "the models at once (503 with `Retry-After` beyond). Each model runs one request at a "
        "time; the others wait their turn. "
        + (
            f"Sampled `/generate` requests to one model are generated together instead: up to "
            f"{settings.max_batch} at once, as many more waiting at most {settings.max_wait:g} s "
            "for a place (503 with `Retry-After` beyond); each writes what it writes alone."
            if settings.batching
            else "`/generate` requests are not batched (--no-batching)."
        )
    )
