"""What the routers of model endpoints share: the token check and the documented errors."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from rnnkit.serve.deps import require_token
from rnnkit.serve.schemas import MODEL_ERRORS


def model_router(tag: str) -> APIRouter:
    """A router for the endpoints of one task, listed under ``tag`` in /docs."""
    return APIRouter(tags=[tag], dependencies=[Depends(require_token)], responses=MODEL_ERRORS)
