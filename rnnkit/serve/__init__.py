"""Serving trained runs over HTTP (FastAPI): ``create_app(load_models(dirs), settings)``.

Importing this package registers the built-in model kinds (``lm``) with ``load_models``.
"""

from rnnkit.serve import lm  # noqa: F401  (registers the "lm" kind)
from rnnkit.serve.app import create_app
from rnnkit.serve.registry import KINDS, ServedModel, load_models, register_kind
from rnnkit.serve.settings import ServeSettings

__all__ = ["KINDS", "ServeSettings", "ServedModel", "create_app", "load_models", "register_kind"]
