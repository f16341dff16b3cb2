"""What handlers get from the app: the served models, the settings, the slots, the token check,
and the routers of model endpoints, which check the token and document the errors."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rnnkit.bounds import flag
from rnnkit.errors import DataError
from rnnkit.serve.batching import Batcher
from rnnkit.serve.limits import Slots
from rnnkit.serve.registry import ModelSet
from rnnkit.serve.schemas import MODEL_ERRORS
from rnnkit.serve.settings import ServeSettings

_bearer = HTTPBearer(
    auto_error=False,
    description="Needed when the server was started with --token (or RNNKIT_SERVE_TOKEN).",
)


def _app_state(name: str):
    """A dependency giving ``request.app.state.<name>``, which ``create_app`` sets."""

    def get(request: Request):
        return getattr(request.app.state, name)

    return Depends(get)


# Handler parameters of these types are filled in by FastAPI.
Models = Annotated[ModelSet, _app_state("models")]
Settings = Annotated[ServeSettings, _app_state("settings")]
ModelSlots = Annotated[Slots, _app_state("slots")]
Batchers = Annotated[dict[str, Batcher], _app_state("batchers")]  # by model name; {} unbatched
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_token(request: Request, credentials: Credentials) -> None:
    """Refuse with 401 unless the server has no token or the request carries it."""
    token = request.app.state.settings.token
    if token is None:
        return
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), token.encode()
    ):
        raise HTTPException(
            401,
            "missing or wrong token; send the header `Authorization: Bearer TOKEN`",
            headers={"WWW-Authenticate": "Bearer"},
        )


def model_router(tag: str, responses: dict = MODEL_ERRORS) -> APIRouter:
    """A router for endpoints that need the token, listed under ``tag`` in /docs, with the
    error answers ``responses`` documented."""
    return APIRouter(tags=[tag], dependencies=[Depends(require_token)], responses=responses)


def field_error(field: str, kind: str, msg: str, **ctx) -> RequestValidationError:
    """A 422 error on one body field, in the format of FastAPI's own checks."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": msg, "ctx": ctx}])


def check_limit(field: str, value: str | list | int | None, settings: ServeSettings, limit: str):
    """Raise a 422 error, in the format of FastAPI's own checks, if ``value`` (a text, a list
    or a number) is over the server's ``limit`` (a ``ServeSettings`` field)."""
    most = getattr(settings, limit)
    if isinstance(value, str) and len(value) > most:
        msg = f"String should have at most {most} characters (the server's {flag(limit)})"
        raise field_error(field, "string_too_long", msg, max_length=most)
    if isinstance(value, list) and len(value) > most:
        msg = f"List should have at most {most} items (the server's {flag(limit)})"
        raise field_error(field, "too_long", msg, max_length=most)
    if isinstance(value, int) and value > most:
        msg = f"Input should be less than or equal to {most} (the server's {flag(limit)})"
        raise field_error(field, "less_than_equal", msg, le=most)


def text_lines(text: str | list[str], settings: ServeSettings) -> list[str]:
    """The lines of a ``text`` field (a string of lines, or a list of them), within the
    server's --max-prompt-chars (all lines together) and --max-items (lines).

    Raises:
        RequestValidationError: over a limit (HTTP 422 naming ``text``).
        DataError: every line is blank.
    """
    chars = len(text) if isinstance(text, str) else sum(map(len, text))
    if chars > settings.max_prompt_chars:
        limit = settings.max_prompt_chars
        msg = (
            f"Text should have at most {limit} characters in all (the server's --max-prompt-chars)"
        )
        raise field_error("text", "string_too_long", msg, max_length=limit)
    lines = text.splitlines() if isinstance(text, str) else list(text)
    if len(lines) > settings.max_items:
        limit = settings.max_items
        msg = f"Text should have at most {limit} lines (the server's --max-items)"
        raise field_error("text", "too_long", msg, max_length=limit)
    if not any(line.strip() for line in lines):
        raise DataError("text has only blank lines; send at least one sentence")
    return lines
