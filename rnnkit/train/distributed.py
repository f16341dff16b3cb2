"""Data-parallel training under ``torchrun``: the process group and what ranks share.

``torchrun --nproc_per_node=N -m rnnkit train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment. Each process
builds the same model from the same seed, reads its own rows of every global batch and
averages gradients with ``DistributedDataParallel``; rank 0 alone writes the run directory.

``--batch-size`` stays the *global* batch: with N ranks each reads ``batch_size / N`` rows, so
the batches, the loss curve and a checkpoint do not depend on how many processes trained, and
a run can be resumed with another number of them.

Without ``WORLD_SIZE`` (or with 1) nothing is initialised and every helper is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnkit.errors import ConfigError
from rnnkit.nn.recurrent import State, map_state
from rnnkit.runtime import pick_device


@dataclass(frozen=True)
class Dist:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    comm_device: str = "cpu"  # where collectives run: the GPU under nccl, the CPU under gloo

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of ``batch_size`` rows (contiguous)."""
        per = batch_size // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self):
        """Run the block on rank 0 first, then on the others (one download, one cache)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def mean(self, values: list[float]) -> list[float]:
        return [v / self.world_size for v in self.sum(values)]

    def stack(self, t: torch.Tensor) -> torch.Tensor:
        """Every rank's ``t`` (same shape everywhere) stacked in rank order: (W, *t.shape)."""
        if not self.enabled:
            return t[None]
        parts = [torch.empty_like(t, device=self.comm_device) for _ in range(self.world_size)]
        dist.all_gather(parts, t.to(self.comm_device).contiguous())
        return torch.stack(parts).to(t.device)

    def gather_rows(self, state: State | None) -> State | None:
        """The global hidden state from every rank's (layers, rows, hidden) piece, in rank order."""
        if not self.enabled:
            return state
        return map_state(lambda t: torch.cat(self.stack(t).unbind(0), dim=1), state)

    def own_rows(self, state: State | None, batch_size: int) -> State | None:
        """This rank's rows of a global (layers, batch_size, hidden) state."""
        if not self.enabled:
            return state
        rows = self.rows(batch_size)
        return map_state(lambda s: s[:, rows].contiguous(), state)


_CURRENT = Dist()


def launched() -> bool:
    """Whether ``torchrun`` started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group that ``torchrun`` describes in the environment; idempotent.

    The backend is ``nccl`` when training runs on CUDA and ``gloo`` on CPU. On CUDA each
    process takes the GPU of its ``LOCAL_RANK``.
    """
    global _CURRENT
    if not launched() or dist.is_initialized():
        return _CURRENT
    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as e:
        raise ConfigError(
            "WORLD_SIZE is set but RANK is missing or not a number; start several processes "
            "with torchrun, which sets both"
        ) from e
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if torch.cuda.device_count() <= local:
            raise ConfigError(
                f"process {rank} wants GPU {local} but {torch.cuda.device_count()} are visible; "
                "start at most one process per GPU (--nproc_per_node)"
            )
        torch.cuda.set_device(local)
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; train in one process")
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    comm = f"cuda:{local}" if cuda else "cpu"
    _CURRENT = Dist(rank=rank, world_size=world, local_rank=local, comm_device=comm)
    return _CURRENT


def teardown() -> None:
    global _CURRENT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = Dist()


def device_for(name: str, ctx: Dist) -> torch.device:
    """The device of this rank: ``auto`` is CUDA when present (this rank's GPU), else CPU."""
    device = pick_device(name)
    if device.type == "cuda" and device.index is None and ctx.enabled:
        device = torch.device("cuda", ctx.local_rank)
    return device
