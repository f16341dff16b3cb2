"""What handlers get from the app: the served models, the settings, the slots, the token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rnnkit.errors import DataError
from rnnkit.serve.batching import Batcher
from rnnkit.serve.limits import Slots
from rnnkit.serve.registry import ModelSet
from rnnkit.serve.settings import ServeSettings

_bearer = HTTPBearer(
    auto_error=False,
    description="Needed when the server was started with --token (or RNNKIT_SERVE_TOKEN).",
)


def get_models(request: Request) -> ModelSet:
    return request.app.state.models


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


def get_slots(request: Request) -> Slots:
    return request.app.state.slots


def get_batchers(request: Request) -> dict[str, Batcher]:
    return request.app.state.batchers


# Handler parameters of these types are filled in by FastAPI.
Models = Annotated[ModelSet, Depends(get_models)]
Settings = Annotated[ServeSettings, Depends(get_settings)]
ModelSlots = Annotated[Slots, Depends(get_slots)]
Batchers = Annotated[dict[str, Batcher], Depends(get_batchers)]  # by model name; {} unbatched
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_token(request: Request, credentials: Credentials) -> None:
    """Refuse with 401 unless the server has no token or the request carries it."""
    token = get_settings(request).token
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


def field_error(field: str, kind: str, msg: str, **ctx) -> RequestValidationError:
    """A 422 error on one body field, in the format of FastAPI's own checks."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": msg, "ctx": ctx}])


def too_long(field: str, value: str | int, limit: int, setting: str) -> RequestValidationError:
    """A 422 error for a value over a server limit, in the format of FastAPI's own checks."""
    if isinstance(value, str):
        msg = f"String should have at most {limit} characters (the server's {setting})"
        return field_error(field, "string_too_long", msg, max_length=limit)
    msg = f"Input should be less than or equal to {limit} (the server's {setting})"
    return field_error(field, "less_than_equal", msg, le=limit)


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
