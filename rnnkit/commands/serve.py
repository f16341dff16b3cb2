"""``rnnkit serve``: trained runs over HTTP (FastAPI app, uvicorn server)."""

from __future__ import annotations

import click

from rnnkit.commands.common import CONTEXT, DEVICE
from rnnkit.commands.options import apply_options

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# flag -> (default, help) of the ServeSettings fields; the defaults are written again here, as
# reading them from ServeSettings would load the server (FastAPI) to print --help.
LIMITS = {
    "--max-prompt-chars": (
        2000,
        "Longest text of one request, in characters: a /generate prompt, the /score, "
        "/translate or /classify text, a /poem start or style (422 beyond).",
    ),
    "--max-tokens": (1000, "Most tokens one /generate request may ask for (422 beyond)."),
    "--max-items": (
        1000,
        "Most lines in one /translate or /classify request, and values in a /forecast "
        "history (422 beyond).",
    ),
    "--max-body-bytes": (65536, "Largest request body (413 beyond, refused before it is parsed)."),
    "--max-concurrent": (
        4,
        "Requests in the models at once on the paths that do not batch (/score, /poem, "
        "/translate, /classify, /forecast, /generate with a beam or --no-batching): each model "
        "runs one at a time and the others wait their turn; one more is answered 503 with "
        "Retry-After at once.",
    ),
    "--batching/--no-batching": (
        True,
        "Generate the sampled /generate requests to one model together (continuous "
        "batching): a request joins the running batch at its next step and leaves it when "
        "done; each writes what it writes served alone with its seed, whatever the cell "
        "(minGRU and minLSTM included).",
    ),
    "--max-batch": (
        16,
        "Most /generate requests generated together per model; as many more wait for a "
        "place, one more is answered 503 with Retry-After at once.",
    ),
    "--max-wait": (
        10.0,
        "Seconds a batched /generate request may wait for a place in its model's batch "
        "before it is answered 503 with Retry-After.",
    ),
}


@click.command("serve", context_settings=CONTEXT)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(), metavar="RUN_DIR...")
@click.option(
    "--host",
    default="127.0.0.1",
    help="Address to listen on; 0.0.0.0 opens the server to the network (then set --token).",
)
@click.option("--port", default=8000, type=int, help="Port to listen on.")
@click.option(
    "--token",
    envvar="RNNKIT_SERVE_TOKEN",
    show_envvar=True,
    default=None,
    help="Require `Authorization: Bearer TOKEN` on every API endpoint but /health (the web page "
    "at / asks for it) [default: none].",
)
@click.option(
    "--device", type=DEVICE, default="auto", help="auto picks CUDA when present, else CPU."
)
@apply_options([click.option(flag, default=d, help=text) for flag, (d, text) in LIMITS.items()])
def serve(run_dirs, host, port, token, device, **limits):
    """Serve trained runs over HTTP until Ctrl-C.

    Each RUN_DIR is loaded once and served under its folder name (made unique with -2, -3,
    ...). It may be a run of `rnnkit train` (POST /generate, /score), `rnnkit poem train`
    (also POST /poem), `rnnkit seq2seq train` (POST /translate), `rnnkit classify train` or
    `rnnkit tag train` (POST /classify) or `rnnkit forecast train` (POST /forecast). GET /health
    and GET /models describe the server; /generate answers JSON or, with "stream": true,
    Server-Sent Events; every request and response is described at /docs and /openapi.json.
    The web page at / tries every served model in a browser (it asks for the token, if any).

    \b
    Example:
      rnnkit serve runs/shakespeare runs/de-en --port 8000
      curl -s localhost:8000/generate -H 'Content-Type: application/json' \\
           -d '{"prompt": "ROMEO:", "length": 100, "seed": 1}'
      curl -s localhost:8000/translate -H 'Content-Type: application/json' \\
           -d '{"text": "ein hund läuft .", "beam": 5}'
    """
    import uvicorn

    from rnnkit.runtime import pick_device
    from rnnkit.serve import ServeSettings, create_app, load_models

    # Settings first: a bad limit fails before minutes of model loading.
    settings = ServeSettings(token=token or None, **limits)
    models = load_models(run_dirs, pick_device(device))
    for m in models:
        click.echo(f"serving {m.name} ({m.kind}, task {m.task}) from {m.path}", err=True)
    if host not in LOOPBACK and settings.token is None:
        click.echo(
            f"warning: listening on {host} without --token; anyone who can reach it can use it",
            err=True,
        )
    uvicorn.run(create_app(models, settings), host=host, port=port, log_level="info")
