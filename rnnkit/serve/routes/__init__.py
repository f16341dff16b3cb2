"""The routers ``create_app`` includes; a new task adds its router to ``ROUTERS``."""

from rnnkit.serve.routes import meta, text

ROUTERS = [meta.open_router, meta.router, text.router]
