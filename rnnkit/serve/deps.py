"""What handlers get from the app: the served models, the settings, the slots, the token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


# Handler parameters of these types are filled in by FastAPI.
Models = Annotated[ModelSet, Depends(get_models)]
Settings = Annotated[ServeSettings, Depends(get_settings)]
ModelSlots = Annotated[Slots, Depends(get_slots)]
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


def too_long(field: str, value: str | int, limit: int, setting: str) -> RequestValidationError:
    """A 422 error for a value over a server limit, in the format of FastAPI's own checks."""
    loc = ("body", field)
    if isinstance(value, str):
        msg = f"String should have at most {limit} characters (the server's {setting})"
        return RequestValidationError(
            [{"type": "string_too_long", "loc": loc, "msg": msg, "ctx": {"max_length": limit}}]
        )
    msg = f"Input should be less than or equal to {limit} (the server's {setting})"
    return RequestValidationError(
        [{"type": "less_than_equal", "loc": loc, "msg": msg, "ctx": {"le": limit}}]
    )
