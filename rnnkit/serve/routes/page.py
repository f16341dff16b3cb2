"""``GET /``: the web page, and the script and style sheet it loads from ``/static/``.

Three files shipped in the package (``rnnkit/serve/static``): no build step, and nothing is
fetched from another host, so the page works on a machine without internet. Like ``/health``
the page needs no token; the page sends the token the user types with each API call.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

STATIC = files("rnnkit.serve") / "static"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
HEADERS = {
    # Revalidate every load: a page from one version with the script of another would break.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}
# The page runs only its own script and talks only to this server; inline script is refused,
# so text from a model or a request can never run as code.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> Response:
    body = (STATIC / "index.html").read_bytes()
    headers = {**HEADERS, "Content-Security-Policy": PAGE_POLICY}
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/static/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no file {name!r}; the page's files are {', '.join(ASSETS)}")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=HEADERS)
