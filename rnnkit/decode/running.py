"""Continuous batching: sampled generations of one language model, stepped together, each
writing what it writes alone.

A ``RunningBatch`` holds the streams that are generating now. Each stream has its own context
(prompt), length, stop token, sampling settings and generator seeded with its own seed
(``make_generator``). ``join`` reads a new stream's context on its own and adds its state as
one more row; ``step`` draws one token per row, hands each to its stream, lets the finished
streams leave, and steps the rows that go on in one batched call. Streams join and leave
between steps.

Each stream's tokens are those of ``rnnkit.infer.generate.generate_ids`` with the same
settings and seed, whoever else is in the batch: the step keeps each row's numbers those of a
batch of one (``step_rows``, below; a cell without a packed step, such as the layer-norm
LSTM, minGRU or minLSTM, takes the model's own ``step`` one row at a time), and each row's
token is chosen from its own logits and generator (``rnnkit.infer.draw.choose``), in the same
calls as alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnkit.bounds import check
from rnnkit.decode.packed import PackedStep, packed_step
from rnnkit.decode.processors import BanTokens
from rnnkit.decode.search import choose_each, make_generator
from rnnkit.decode.steppers import LanguageModelStepper
from rnnkit.errors import GenerationError
from rnnkit.infer.settings import check_sampling
from rnnkit.nn.recurrent import State, cat_states, select_state


@dataclass(eq=False)
class Stream:
    """One generation: ``length`` tokens (fewer at ``stop``) after ``context``.

    ``on_token(id)`` is called with each token as it is drawn (not with ``stop``); if it
    raises, the stream leaves with that ``error``. Setting ``cancelled`` (from any thread)
    makes it leave at the next step. ``temperature`` 0 is greedy search.
    """

    context: list[int]
    length: int
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    stop: int | None = None
    on_token: Callable[[int], None] | None = None
    tokens: list[int] = field(default_factory=list)
    error: BaseException | None = None
    cancelled: bool = False
    generator: np.random.Generator | None = field(default=None, repr=False)

    def __post_init__(self):
        if not self.context:
            raise GenerationError("generation needs at least one context token")
        check("length", self.length, error=GenerationError)
        check_sampling(self.temperature, self.top_k, self.top_p)

    @property
    def settings(self) -> tuple[float, int, float]:
        return self.temperature, self.top_k, self.top_p


class RunningBatch:
    """The streams generating now with one language model (put in eval mode here).

    Args:
        model: an ``RNNLanguageModel``.
        banned: token ids never drawn (as ``generate_ids``'s ``banned``).
        device: the model's device.
    """

    def __init__(self, model, banned: Sequence[int] = (), device="cpu"):
        self.model = model.eval()
        self.ban = BanTokens(banned)
        self.device = device
        self.streams: list[Stream] = []
        self.logits: torch.Tensor | None = None  # (N, V): each row's next-token logits
        self.state: State | None = None  # the model's state, one row per stream
        self.fast = None  # the packed step, looked up at each join (weights may have changed)

    def __len__(self) -> int:
        return len(self.streams)

    @torch.no_grad()
    def join(self, stream: Stream) -> bool:
        """Read ``stream``'s context on its own and add it as one more row; False (and the
        stream not added) when it asks for no token."""
        if stream.length == 0:
            return False
        stream.generator = make_generator(stream.seed)
        self.fast = packed_step(self.model)
        ctx = torch.tensor([stream.context], dtype=torch.long, device=self.device)
        logits, state = LanguageModelStepper(self.model, ctx).start()  # (1, V)
        if self.streams:
            logits = torch.cat([self.logits, logits])
            state = cat_states([self.state, state])
        self.streams.append(stream)
        self.logits, self.state = logits, state
        return True

    @torch.no_grad()
    def step(self) -> list[Stream]:
        """Draw one token per stream and hand it on; step the streams that go on. Returns the
        streams that left (done, stopped, cancelled or failed in ``on_token``)."""
        if not self.streams:
            return []
        settings = [s.settings for s in self.streams]
        generators = [s.generator for s in self.streams]
        tokens = choose_each(self.ban(None, self.logits), settings, generators)
        going, left = [], []
        for i, (s, y) in enumerate(zip(self.streams, tokens, strict=True)):
            if not s.cancelled and y != s.stop:
                s.tokens.append(y)
                try:
                    if s.on_token is not None:
                        s.on_token(y)
                except Exception as e:  # the stream's reader failed: only it stops
                    s.error = e
            if s.cancelled or s.error is not None or y == s.stop or len(s.tokens) >= s.length:
                left.append(s)
            else:
                going.append(i)
        if not going:
            self.streams, self.logits, self.state = [], None, None
            return left
        y = torch.tensor([tokens[i] for i in going], dtype=torch.long, device=self.device)
        state = self.state
        if len(going) < len(self.streams):
            state = select_state(state, torch.tensor(going, device=self.device))
        self.streams = [self.streams[i] for i in going]
        self.logits, self.state = self._step(y, state)
        return left

    def _step(self, y: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        fast = self.fast
        if fast is not None:  # one row: step_rows is the packed step itself
            return fast.step(y, state) if y.size(0) == 1 else step_rows(fast, y, state)
        # No packed step for this cell: the model's own step, one row at a time.
        steps = [
            self.model.step(y[i : i + 1], select_state(state, torch.tensor([i], device=y.device)))
            for i in range(y.size(0))
        ]
        return torch.cat([s[0] for s in steps]), cat_states([s[1] for s in steps])


# ---- the packed step of several rows, each row's numbers those of the row stepped alone ------
# A matrix product over N rows does not give, bit for bit, the N products of one row: BLAS picks
# another kernel (and summation order) for one row than for several, and the last bits differ. So
# does a one-row product written to memory aligned otherwise than a new tensor is. So do some
# elementwise functions (``sigmoid``) between their vector loop and its scalar tail, which fall
# elsewhere when rows of a contiguous tensor are merged into one loop. One flipped bit in a logit
# can flip a sampled token, after which two texts part ways; so a request served in a batch would
# not be the request served alone with the same seed.
#
# ``step_rows`` is ``PackedStep.step`` with those two things kept per row: each row's products are
# the one-row products ``step`` computes at batch 1 (``addmm`` / ``mm`` of a (1, K) row, written to
# aligned rows), and the transcendental functions of contiguous (N, H) tensors run on a view whose
# rows cannot be merged. Everything else (adds, products of elements, index lookups) is exact and
# runs on the whole batch at once. Tested bitwise (``torch.equal``) against ``step`` at batch 1.

ALIGN = 64  # bytes: the allocator's alignment of a new tensor


def rows_addmm(bias: torch.Tensor | None, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``bias + x @ w`` one row at a time: (N, K) @ (K, M) -> (N, M), each row written to
    aligned memory, all into one output (no concatenation afterwards). Where the input rows
    start does not change the sums (tested); where the output rows start does."""
    # Each row of the output starts ``ALIGN``-aligned, as a new (1, M) tensor does.
    per, m = ALIGN // x.element_size(), w.size(1)
    out = x.new_empty(x.size(0), -(-m // per) * per)[:, :m]
    if bias is None:
        for row, into in zip(x.split(1), out.split(1), strict=True):
            torch.mm(row, w, out=into)
    else:
        for row, into in zip(x.split(1), out.split(1), strict=True):
            torch.addmm(bias, row, w, out=into)
    return out


def by_row(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` for an elementwise ``fn`` on (N, H), each row computed as a (1, H) tensor is:
    on a copy whose rows are one element apart, so the kernel loops over each row on its own."""
    if x.size(0) == 1:
        return fn(x)
    spaced = x.new_empty(x.size(0), x.size(1) + 1)[:, :-1]  # (N, H), row stride H + 1
    spaced.copy_(x)
    return fn(spaced)


def row_act(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` row by row where the kernel could merge rows: a contiguous (N, H) tensor. A
    gate sliced from (N, G) products already has one row per loop."""
    return by_row(fn, x) if x.is_contiguous() else fn(x)


def step_rows(p: PackedStep, y_prev: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """``p.step(y_prev, state)`` with each row's numbers those of ``p.step`` on that row alone.

    Shape: y_prev (N,) and the state ((L, N, H), or a pair for the LSTM) -> logits (N, V) and
    the new state, in the model's layout.
    """
    return p.step(y_prev, state, rows_addmm, row_act)
