"""Server-Sent Events from blocking work that runs in its own thread.

Each event is one ``data: <json>\\n\\n`` frame (JSON escapes line ends, so a frame is one line).
The last event has ``"done": true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from rnnkit.errors import RnnkitError

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]


class ReaderGone(Exception):
    """Raised in the worker by ``emit`` once no one reads the events any more."""


class ThreadEvents:
    """Run ``work(emit)`` in a new thread at once; read what it emits with ``frames()``.

    ``work`` returns the fields of the final event. ``on_exit`` runs in the thread when the work
    ends, however it ends, so a slot it frees is freed even if the response is never read.
    When the reader goes away (the client disconnected), the next ``emit`` raises
    ``ReaderGone`` and the work stops early. Emitting never waits for the event loop.

    Must be created on the event loop.
    """

    def __init__(self, work: Callable[[Emit], dict[str, Any]], on_exit: Callable[[], None]):
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._gone = threading.Event()
        worker = threading.Thread(target=self._run, args=(work, on_exit), name="rnnkit-stream")
        worker.daemon = True  # a stream still running must not keep a stopping server alive
        worker.start()

    def _emit(self, event: dict[str, Any]) -> None:
        if self._gone.is_set():
            raise ReaderGone
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError as e:  # the event loop is closed: the server is stopping
            raise ReaderGone from e

    def _run(self, work: Callable[[Emit], dict[str, Any]], on_exit: Callable[[], None]) -> None:
        try:
            last = {"done": True, **work(self._emit)}
        except ReaderGone:
            return
        except RnnkitError as e:
            last = {"done": True, "error": str(e)}
        except Exception as e:  # the response has started: report it in the stream
            log.exception("streamed work failed")
            last = {"done": True, "error": f"internal error ({type(e).__name__})"}
        finally:
            on_exit()
        with contextlib.suppress(ReaderGone):
            self._emit(last)

    def frames(self) -> AsyncIterator[bytes]:
        """The SSE frames, up to and including the final ``done`` event."""
        return queue_frames(self._queue, self._gone.set)


async def queue_frames(
    queue: asyncio.Queue[dict[str, Any]], on_close: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The SSE frames of the events put in ``queue``, up to and including the ``done`` one;
    ``on_close()`` runs once reading stops, at the end or when the reader goes away."""
    try:
        while True:
            event = await queue.get()
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
            if event.get("done"):
                return
    finally:
        on_close()
