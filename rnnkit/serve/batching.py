"""Continuous batching of ``/generate``: one worker thread per language model steps all of its
sampled requests together (``rnnkit.decode.running.RunningBatch``).

A request joins the running batch at the next step if fewer than ``max_batch`` requests are in
it, else it waits in the model's queue, which holds at most ``max_batch`` requests. One more is
refused at once with 503 and ``Retry-After``, and so is a request that has waited
``max_wait`` seconds without a place. A request leaves the batch as soon as it has its tokens,
and the first waiting one takes its place. Each request keeps its own prompt, length, sampling
settings, seed and stream, and writes what it writes served alone.

The worker holds the model's lock for one step at a time (``FairLock``, taken in turn), so
the paths that do not batch (``/score``, beams, ``/poem``) wait for a step, not for a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future

from rnnkit.decode.running import RunningBatch, Stream
from rnnkit.infer.lines import text_pieces
from rnnkit.serve.limits import busy
from rnnkit.serve.lm import Generation, GenerationPlan, LanguageModel
from rnnkit.serve.sse import queue_frames

log = logging.getLogger(__name__)


class Job:
    """One ``/generate`` request in a ``Batcher``: its stream, and two futures the request
    awaits: ``admitted`` (it has joined the batch; or 503 after ``max_wait``) and ``done``
    (its ``Generation``)."""

    def __init__(self, lm: LanguageModel, plan: GenerationPlan, on_piece=None):
        self.plan = plan
        # text_pieces reads one id for each piece it yields: fed the last token, it gives the
        # text that token adds.
        self.last = 0
        ids = iter(lambda: self.last, None)
        self.pieces = text_pieces(ids, lm.tokenizer, lm.vocab, plan.prompt)
        self.text: list[str] = []
        self.on_piece = on_piece
        self.stream = Stream(
            plan.context, plan.length, **plan.sampling, seed=plan.seed, on_token=self._token
        )
        self.queued = time.monotonic()
        self.started = 0.0
        self.admitted: Future[None] = Future()
        self.done: Future[Generation] = Future()

    def _token(self, token: int) -> None:
        self.last = token
        piece = next(self.pieces)
        self.text.append(piece)
        if self.on_piece is not None:
            self.on_piece(piece)

    def finish(self) -> None:
        if not self.admitted.done():
            self.admitted.set_result(None)
        if self.stream.error is not None:
            self.done.set_exception(self.stream.error)
        else:
            seconds = time.perf_counter() - self.started
            self.done.set_result(Generation("".join(self.text), len(self.text), seconds))


class Batcher:
    """The batching worker of one language model (started on its first request).

    Args:
        lm: the served model.
        max_batch: requests stepped together; as many more may wait.
        max_wait: seconds a request may wait for a place before it is refused (503).
        retry_after: the ``Retry-After`` of a refusal, in seconds.
    """

    def __init__(self, lm: LanguageModel, max_batch: int, max_wait: float, retry_after: int):
        self.lm, self.max_batch, self.max_wait = lm, max_batch, max_wait
        self.retry_after = retry_after
        self.batch = RunningBatch(lm.model, lm.banned, lm.device)
        self.waiting: deque[Job] = deque()
        self.running: dict[int, Job] = {}  # id(stream) -> its job
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, plan: GenerationPlan, on_piece: Callable[[str], None] | None = None) -> Job:
        """Queue a request; ``on_piece`` gets each piece of text (in the worker thread).

        Raises:
            HTTPException: 503 with ``Retry-After`` when ``2 * max_batch`` requests are
                generating or waiting already.
        """
        job = Job(self.lm, plan, on_piece)
        with self._cond:
            # The places in the batch and as many in the queue (a request counts as waiting
            # until the worker takes it, so this is not len(self.waiting) >= max_batch).
            if len(self.waiting) + len(self.running) >= 2 * self.max_batch:
                raise busy(
                    self.retry_after,
                    f"model {self.lm.name!r} has {len(self.running)} requests generating and "
                    f"{len(self.waiting)} waiting (--max-batch {self.max_batch}); retry in "
                    f"{self.retry_after} s",
                )
            self.waiting.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"rnnkit-batch-{self.lm.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return job

    def _take(self) -> list[Job]:
        """Wait for work; refuse the requests that waited too long; the ones that join now."""
        with self._cond:
            while not self.waiting and not self.running:
                self._cond.wait()
            now = time.monotonic()
            while self.waiting and now - self.waiting[0].queued > self.max_wait:
                late = self.waiting.popleft()
                late.admitted.set_exception(
                    busy(
                        self.retry_after,
                        f"no place in the batch of model {self.lm.name!r} within --max-wait "
                        f"{self.max_wait:g} s; retry in {self.retry_after} s",
                    )
                )
            joining = []
            while self.waiting and len(self.running) + len(joining) < self.max_batch:
                job = self.waiting.popleft()
                if not job.stream.cancelled:
                    joining.append(job)
            for job in joining:
                self.running[id(job.stream)] = job
            return joining

    def _work(self) -> None:
        while True:
            joining = self._take()
            try:
                with self.lm.lock:
                    for job in joining:
                        job.started = time.perf_counter()
                        job.admitted.set_result(None)
                        if not self.batch.join(job.stream):
                            self._leave([job.stream])
                    left = self.batch.step()
            except Exception as e:  # a bug, not a request's fault: fail the batch, go on
                log.exception("batched generation failed")
                left = [job.stream for job in self.running.values()]
                for stream in left:
                    stream.error = e
                self.batch = RunningBatch(self.lm.model, self.lm.banned, self.lm.device)
            self._leave(left)

    def _leave(self, streams: list[Stream]) -> None:
        with self._cond:
            jobs = [self.running.pop(id(s)) for s in streams if id(s) in self.running]
        for job in jobs:
            job.finish()


async def generate(batcher: Batcher, plan: GenerationPlan) -> Generation:
    """The request's generation, once the batch has written it (503 if it found no place)."""
    job = batcher.submit(plan)
    await asyncio.wrap_future(job.admitted)
    return await asyncio.wrap_future(job.done)


async def stream(batcher: Batcher, plan: GenerationPlan, totals: dict) -> AsyncIterator[bytes]:
    """Queue the request and wait for its place in the batch (503 if it finds none); then
    the SSE frames of its pieces, and a last one with ``done`` and ``totals``.

    A reader that goes away cancels the request: it leaves the batch at the next step.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict] = asyncio.Queue()

    def put(event: dict) -> None:  # in the worker thread; a closed loop stops the job
        loop.call_soon_threadsafe(events.put_nowait, event)

    def last(done: Future[Generation]) -> None:
        error = done.exception()
        if error is None:
            gen = done.result()
            event = {**totals, "tokens": gen.tokens, "seconds": gen.seconds}
        else:
            log.error("streamed generation failed: %r", error)
            event = {"error": f"internal error ({type(error).__name__})"}
        with contextlib.suppress(RuntimeError):  # the event loop closed: no one reads any more
            put({"done": True, **event})

    job = batcher.submit(plan, on_piece=lambda piece: put({"text": piece}))
    try:
        await asyncio.wrap_future(job.admitted)
    except BaseException:
        job.stream.cancelled = True
        raise
    job.done.add_done_callback(last)
    # Closing marks the request cancelled, a no-op once it is done.
    return queue_frames(events, lambda: setattr(job.stream, "cancelled", True))
