"""Serving trained runs over HTTP (FastAPI): ``create_app(load_models(dirs), settings)``.

Importing this package registers the built-in model kinds with ``load_models``: ``lm``,
``seq2seq``, ``classify``, ``forecast``.
"""

# Imported for their @register_kind, in the order load_models names them when it refuses a run.
from rnnkit.serve import lm, seq2seq, classify, forecast  # noqa: F401, I001
from rnnkit.serve.app import create_app
from rnnkit.serve.registry import KINDS, ServedModel, load_models, register_kind
from rnnkit.serve.settings import ServeSettings

__all__ = ["KINDS", "ServeSettings", "ServedModel", "create_app", "load_models", "register_kind"]
