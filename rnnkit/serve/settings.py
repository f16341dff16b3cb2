"""The limits and access rule of one server, validated once when it is set up."""

from __future__ import annotations

from dataclasses import dataclass, fields

from rnnkit.bounds import check, flag
from rnnkit.errors import ConfigError


@dataclass(frozen=True)
class ServeSettings:
    """What a server accepts.

    Args:
        token: if set, every API endpoint but ``/health`` needs ``Authorization: Bearer
            <token>``; the web page (``/`` and ``/static/``) is open, and asks for the token.
        max_prompt_chars: longest text one request may send, in characters: the ``/generate``
            prompt, the ``/score``, ``/translate`` and ``/classify`` text (all lines together),
            the ``/poem`` start and style.
        max_tokens: most tokens one ``/generate`` request may ask for.
        max_items: most lines one ``/translate`` or ``/classify`` request may send, and most
            values in a ``/forecast`` history.
        max_body_bytes: largest request body; larger ones get 413 before they are parsed.
        max_concurrent: requests in the models at once on the paths that do not batch (all
            but sampled ``/generate`` requests while ``batching`` is on). Each model runs one
            call at a time, so requests for a busy model wait for it, never more than this
            many in all; one more gets 503 at once.
        retry_after: seconds a refused client is told to wait (the ``Retry-After`` header).
        batching: step the sampled ``/generate`` requests to one model together (continuous
            batching, ``rnnkit.serve.batching``); without it they take slots and wait their
            turn like every other request.
        max_batch: most requests generated together per model; as many more may wait for a
            place, one more gets 503 at once.
        max_wait: seconds a batched request may wait for a place before it gets 503.
    """

    token: str | None = None
    max_prompt_chars: int = 2000
    max_tokens: int = 1000
    max_items: int = 1000
    max_body_bytes: int = 65536
    max_concurrent: int = 4
    retry_after: int = 1
    batching: bool = True
    max_batch: int = 16
    max_wait: float = 10.0

    def __post_init__(self):
        for f in fields(self):  # YAML or JSON may give 2.5 for a count, "yes" for a switch
            value, label = getattr(self, f.name), flag(f.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if f.type == "float" and not number:
                raise ConfigError(f"{label} must be a number, got {value!r}")
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"{label} must be true or false, got {value!r}")
            check(f.name, value, label=label, integer=f.type == "int")
        if self.token is not None and (not self.token or self.token != self.token.strip()):
            raise ConfigError(
                "--token must be a non-empty string without surrounding white space; "
                "leave it out to serve without one"
            )
