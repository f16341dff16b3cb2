"""``GET /health`` (always open) and ``GET /models``."""

from __future__ import annotations

from fastapi import APIRouter

from rnnkit.serve.deps import Models, model_router
from rnnkit.serve.schemas import MODEL_ERRORS, Health, ModelInfo

open_router = APIRouter(tags=["server"])
router = model_router("server", {401: MODEL_ERRORS[401]})


@open_router.get("/health", response_model=Health)
def health(models: Models) -> Health:
    """Liveness: answers while models are busy, and never needs the token."""
    return Health(status="ok", models=len(models))


@router.get("/models", response_model=list[ModelInfo])
def list_models(models: Models) -> list[ModelInfo]:
    """The served models: name, kind, task, the endpoints that use it, vocabulary size and
    tokenizer (null where a kind has none) and training config."""
    return [ModelInfo(**m.describe()) for m in models]
