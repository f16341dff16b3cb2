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


def aligned_rows(n: int, m: int, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised (n, m) tensor each of whose rows starts ``ALIGN``-aligned, as a new
    (1, m) tensor does (some BLAS kernels sum in another order at another alignment)."""
    per = ALIGN // like.element_size()
    return like.new_empty(n, -(-m // per) * per)[:, :m]


def rows_addmm(bias: torch.Tensor | None, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``bias + x @ w`` one row at a time: (N, K) @ (K, M) -> (N, M), each row written to
    aligned memory, all into one output (no concatenation afterwards). Where the input rows
    start does not change the sums (tested); where the output rows start does."""
    out = aligned_rows(x.size(0), w.size(1), x)
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


def step_rows(p: PackedStep, y_prev: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """``p.step(y_prev, state)`` with each row's numbers those of ``p.step`` on that row alone.

    Shape: y_prev (N,) and the state ((L, N, H), or a pair for the LSTM) -> logits (N, V) and
    the new state, in the model's layout.
    """
    hs, cs = state if p.cell == "lstm" else (state, None)
    x = p.table.index_select(0, y_prev)  # (N, G): the first layer's input product
    new_h, new_c = [], []
    for k in range(p.layers):
        gi = x if k == 0 else rows_addmm(p.b[k], x, p.w_ih[k])
        h, c = hs[k], None
        if p.cell == "lstm":
            i, f, g, o = (gi + rows_addmm(None, h, p.w_hh[k])).chunk(4, 1)
            c = torch.sigmoid(f) * cs[k] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * by_row(torch.tanh, c)
        elif p.cell == "gru":
            gh = rows_addmm(p.b_hh[k], h, p.w_hh[k])  # (N, 3H)
            ir, iz, in_ = gi.chunk(3, 1)
            hr, hz, hn = gh.chunk(3, 1)
            r, z = by_row(torch.sigmoid, ir + hr), by_row(torch.sigmoid, iz + hz)
            n = by_row(torch.tanh, in_ + r * hn)
            x = n + z * (h - n)
        else:
            x = by_row(p.nonlinearity, gi + rows_addmm(None, h, p.w_hh[k]))
        new_h.append(x)
        new_c.append(c)
    logits = rows_addmm(p.b_out, x, p.w_out)  # (N, V)
    h_n = torch.stack(new_h)
    return logits, ((h_n, torch.stack(new_c)) if p.cell == "lstm" else h_n)
