"""The packed step of several rows, each row's numbers those of the same row stepped alone.

A matrix product over N rows does not give, bit for bit, the N products of one row: BLAS picks
another kernel (and summation order) for one row than for several, and the last bits differ.
So does a one-row product written to memory aligned otherwise than a new tensor is. So do
some elementwise functions (``sigmoid``) between their vector loop and its scalar tail, which
fall elsewhere when rows of a contiguous tensor are merged into one loop. One flipped bit
in a logit can flip a sampled token, after which two texts part ways; so a request served in a
batch would not be the request served alone with the same seed.

``step_rows`` is ``PackedStep.step`` with those two things kept per row: each row's products
are the one-row products ``step`` computes at batch 1 (``addmm`` / ``mm`` of a (1, K) row,
written to aligned rows),
and the transcendental functions of contiguous (N, H) tensors run on a view whose rows cannot
be merged. Everything else (adds, products of elements, index lookups) is exact and runs on
the whole batch at once. Tested bitwise (``torch.equal``) against ``step`` at batch 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rnnkit.decode.packed import PackedStep
from rnnkit.nn.recurrent import State

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
