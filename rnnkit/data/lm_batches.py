"""Language-model minibatches over one flat array of token ids.

Both iterators yield ``(X, Y)`` int64 tensors of shape (batch_size, seq_len) with ``Y`` equal
to ``X`` shifted one token to the left.

- **random sampling**: each epoch starts at a random offset in ``[0, seq_len)``, cuts the corpus
  into non-overlapping subsequences and visits them in random order. Neighbouring batches are
  unrelated, so the hidden state is re-initialised for every batch.
- **sequential partitioning**: the corpus (after a random offset) is split into ``batch_size``
  contiguous streams, one per batch row; batch ``k+1`` continues batch ``k`` row by row, so the
  hidden state is carried across batches and detached (truncated BPTT).

An epoch's randomness comes from ``(seed, epoch)`` alone, so iteration can resume at any batch
of any epoch and see exactly the batches an uninterrupted run would.

Data-parallel training shards every batch by rows: of ``world_size`` processes, rank ``r`` reads
rows ``[r * N/W, (r+1) * N/W)``. Under sequential partitioning those rows are whole streams, so
each rank carries the hidden state of its own streams; the global batch, and so the data order,
does not depend on the number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rnnkit.bounds import check
from rnnkit.errors import DataError

SAMPLINGS = ("random", "sequential")


class LMBatches:
    """Minibatches for language-model training.

    Args:
        ids: token ids, shape (num_tokens,): any 1-D array-like of integers of any integer dtype.
            Arrays, ``numpy.memmap`` included, are used in place and never copied whole: only
            the tokens of each batch are read (and widened to int64).
        batch_size: rows per batch (N).
        seq_len: time steps per batch (T).
        sampling: ``"random"`` or ``"sequential"``.
        seed: base seed; epoch ``e`` draws its offset (and order) from ``(seed, e)``.
        rank, world_size: yield only rows ``[rank * N/W, (rank+1) * N/W)`` of every batch,
            shape (batch_size / world_size, seq_len); ``batch_size`` stays the global batch.
    """

    def __init__(
        self,
        ids,
        batch_size: int,
        seq_len: int,
        sampling: str,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        if sampling not in SAMPLINGS:
            raise DataError(f"unknown sampling {sampling!r}: choose random or sequential")
        check("batch_size", batch_size, label="--batch-size", error=DataError)
        check("seq_len", seq_len, label="--seq-len", error=DataError)
        if batch_size % world_size:
            raise DataError(
                f"--batch-size {batch_size} does not split evenly over {world_size} processes; "
                f"give a multiple of {world_size} (it is the global batch)"
            )
        ids = _as_ids(ids)
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.sampling, self.seed = sampling, seed
        per = batch_size // world_size
        self.rows = slice(rank * per, (rank + 1) * per)
        need = batch_size * seq_len + seq_len
        if self._count(seq_len - 1) <= 0:
            raise DataError(
                f"the training text has {len(ids)} tokens, fewer than one batch needs "
                f"(about {need} = (batch_size + 1) * seq_len); lower --batch-size or --seq-len, "
                "or give more text"
            )

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch])

    def _count(self, offset: int) -> int:
        usable = max(0, len(self.ids) - offset - 1)  # the last token is only ever a target
        if self.sampling == "random":
            return (usable // self.seq_len) // self.batch_size
        return (usable // self.batch_size) // self.seq_len

    def num_batches(self, epoch: int) -> int:
        """Batches in ``epoch`` (it varies by at most one with the epoch's offset)."""
        return self._count(int(self._rng(epoch).integers(0, self.seq_len)))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the batches of ``epoch``, skipping the first ``start`` of them."""
        rng = self._rng(epoch)
        offset = int(rng.integers(0, self.seq_len))
        n, B, T = self._count(offset), self.batch_size, self.seq_len
        if self.sampling == "random":
            # One shuffled number per subsequence, k for the one starting at offset + k * T:
            # int32 when it fits, so a corpus of N tokens costs 4N/T bytes here, no more. The
            # shuffle draws the same swaps for any dtype, so the order is that of int64 starts.
            order = np.arange(n * B, dtype=np.int32 if n * B < 2**31 else np.int64)
            rng.shuffle(order)
            cols = np.arange(T, dtype=np.int64)
            for b in range(start, n):
                rows = order[b * B : (b + 1) * B][self.rows, None].astype(np.int64)  # (B/W, 1)
                idx = offset + rows * T + cols  # (B/W, T)
                yield _tensor(self.ids[idx]), _tensor(self.ids[idx + 1])
        else:
            width = (len(self.ids) - offset - 1) // B  # tokens per stream
            xs = np.asarray(self.ids[offset : offset + B * width]).reshape(B, width)[self.rows]
            ys = np.asarray(self.ids[offset + 1 : offset + 1 + B * width]).reshape(B, width)
            ys = ys[self.rows]
            for b in range(start, n):
                yield _tensor(xs[:, b * T : (b + 1) * T]), _tensor(ys[:, b * T : (b + 1) * T])


def eval_batches(
    ids, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential batches from offset 0 that cover every predictable token of ``ids`` once.

    ``ids`` is taken as ``LMBatches`` takes it (a memmap is read batch by batch). The corpus is
    cut into ``batch_size`` streams (fewer when it is short); the last batch may be shorter than
    ``seq_len``. Tokens past the last full stream row are left out, as in the usual PTB
    evaluation. With ``world_size`` > 1 only this rank's share of the streams is yielded (a
    rank may get none); the shares of all ranks cover the same tokens as one process.
    """
    ids = _as_ids(ids)
    check("batch_size", batch_size, error=DataError)
    check("seq_len", seq_len, error=DataError)
    B = max(1, min(batch_size, (len(ids) - 1)))
    width = (len(ids) - 1) // B
    if width < 1:
        raise DataError(f"the evaluation text has {len(ids)} tokens; it needs at least 2")
    mine = slice(rank * B // world_size, (rank + 1) * B // world_size)
    xs = np.asarray(ids[: B * width]).reshape(B, width)[mine]
    ys = np.asarray(ids[1 : 1 + B * width]).reshape(B, width)[mine]
    if len(xs) == 0:
        return
    for i in range(0, width, seq_len):
        yield _tensor(xs[:, i : i + seq_len]), _tensor(ys[:, i : i + seq_len])


def _as_ids(ids) -> np.ndarray:
    """``ids`` as a 1-D integer array; an ndarray or memmap is returned as it is, not copied."""
    ids = np.asarray(ids)  # a view for arrays (memmaps included) and CPU tensors
    if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
        raise DataError(
            f"token ids must be a 1-D array of integers, got shape {ids.shape} of {ids.dtype}; "
            "pass the encoded corpus as one flat array"
        )
    return ids


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
