"""The routers ``create_app`` includes; a new task adds its module to ``ROUTERS``."""

from rnnkit.serve.routes import classify, forecast, meta, page, poem, text, translate

ROUTERS = [page.router, meta.open_router]  # no token needed
ROUTERS += [m.router for m in (meta, text, poem, translate, classify, forecast)]
