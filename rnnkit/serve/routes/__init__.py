"""The routers ``create_app`` includes; a new task adds its router to ``ROUTERS``."""

from rnnkit.serve.routes import classify, forecast, meta, page, poem, text, translate

ROUTERS = [
    page.router,
    meta.open_router,
    meta.router,
    text.router,
    poem.router,
    translate.router,
    classify.router,
    forecast.router,
]
