"""``create_app(models, settings)``: the FastAPI app, without a server (uvicorn runs it)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.serve.limits import BodyLimit, Slots
from rnnkit.serve.registry import ModelNotFound, ModelSet, ServedModel
from rnnkit.serve.routes import ROUTERS
from rnnkit.serve.settings import ServeSettings


def create_app(models: Iterable[ServedModel], settings: ServeSettings | None = None) -> FastAPI:
    """The HTTP app serving ``models`` (see ``load_models``) within ``settings``' limits.

    Error answers carry ``{"detail": ...}``: 401 without the token, 404 for an unknown model
    (or none that answers the endpoint), 413 for a body over the limit, 422 for a request that
    cannot be served as sent (FastAPI's field list, or one line from an ``RnnkitError``, such as
    a model that does not answer the endpoint), 503 with ``Retry-After`` when every model slot
    is busy.
    """
    settings = settings or ServeSettings()
    app = FastAPI(
        title="rnnkit serve",
        version=rnnkit.__version__,
        description=_description(settings),
    )
    app.state.models = ModelSet(models)
    app.state.settings = settings
    app.state.slots = Slots(settings.max_concurrent, settings.retry_after)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(ModelNotFound, _status(404))
    app.add_exception_handler(RnnkitError, _status(422))
    for router in ROUTERS:
        app.include_router(router)
    return app


def _status(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, code)

    return handler


def _description(settings: ServeSettings) -> str:
    access = (
        "Every endpoint but `/health` needs `Authorization: Bearer TOKEN`."
        if settings.token
        else "No token is needed."
    )
    return (
        "Trained rnnkit runs over HTTP. "
        + access
        + f"\n\nLimits: text up to {settings.max_prompt_chars} characters per request (prompts, "
        f"scored, translated and classified text, poem starts and styles), up to "
        f"{settings.max_items} lines (or forecast history values) per request, up to "
        f"{settings.max_tokens} generated tokens per request, request bodies up to "
        f"{settings.max_body_bytes} bytes (413 beyond), {settings.max_concurrent} model calls "
        "at once (503 with `Retry-After` beyond)."
    )
