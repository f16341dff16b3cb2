"""Bounds on what requests may cost: body size, and requests in the models at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


def busy(retry_after: int, detail: str) -> HTTPException:
    """A 503 refusal telling the client to retry after ``retry_after`` seconds."""
    return HTTPException(503, detail, headers={"Retry-After": str(retry_after)})


class BodyLimit:
    """ASGI middleware: answer 413 to a request body over ``max_bytes`` before it is parsed.

    A declared ``Content-Length`` is checked first; the body is then read and counted as it
    arrives, since a chunked request declares no length. The counted body is replayed to the
    app, and later ``receive`` calls (the disconnect a streaming response watches for) pass
    through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes
        self.too_large = f"request body over {max_bytes} bytes; send at most {max_bytes}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, receive, send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send, 413, self.too_large)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send, 413, self.too_large)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, receive, send, status: int, detail: str) -> None:
        # Close the connection: the rest of the refused body is never read.
        headers = {"Connection": "close"}
        await JSONResponse({"detail": detail}, status, headers)(scope, receive, send)


class Slots:
    """At most ``n`` requests in the models at once, each running or waiting for its model.

    A served model runs one call at a time (``ServedModel.lock``), so requests holding a slot
    for a busy model wait for it in their worker thread: a queue bounded by ``n``, in which a
    request never waits behind more than ``n - 1`` others at any moment. A request that finds
    every slot taken is refused at once with 503 and ``Retry-After``: a longer queue would hold
    connections open and hide the overload from the client.
    """

    def __init__(self, n: int, retry_after: int):
        self.n = n
        self.retry_after = retry_after
        self.taken = 0  # requests running or waiting for their model now
        self._count = threading.Lock()

    def take(self) -> None:
        """Take a slot or raise HTTP 503 with a ``Retry-After`` header; never waits."""
        with self._count:
            if self.taken < self.n:
                self.taken += 1
                return
        raise busy(
            self.retry_after,
            f"all {self.n} model slots are busy (--max-concurrent); retry in {self.retry_after} s",
        )

    def give_back(self) -> None:
        with self._count:
            if self.taken == 0:
                raise RuntimeError("a slot was given back that was never taken")
            self.taken -= 1

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, holding a slot while it waits for its model
        and runs (503 at once when none is free); the event loop stays free meanwhile."""
        self.take()
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        finally:
            self.give_back()


class FairLock:
    """A lock taken in the order it was asked for (``with lock:``, ``acquire``, ``release``).

    A served model's batching worker takes its model's lock once per step, and a plain
    ``threading.Lock`` may go back to the thread that just released it again and again: a
    request on another path (``/score``, a beam) would wait for the whole batch. Taken in
    turn, it waits for one step.
    """

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._next = 0  # the next ticket to hand out
        self._serving = 0  # the ticket whose turn it is
        self._held = False

    def acquire(self) -> bool:
        with self._cond:
            ticket = self._next
            self._next += 1
            while self._held or ticket != self._serving:
                self._cond.wait()
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of a lock that is not held")
            self._held = False
            self._serving += 1
            self._cond.notify_all()

    def locked(self) -> bool:
        return self._held

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
