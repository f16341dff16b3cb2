"""Process-wide settings: the device to run on, and an allocator that makes CPU training faster.

A recurrent layer's forward and backward allocate the same large buffers (gate activations,
states, gradients: tens of MB at char-model shapes) on every call. glibc's malloc serves
blocks that large with a fresh ``mmap`` and unmaps them on ``free``, so every call pays the
kernel to fault in and zero the pages again; on this kind of workload that is a third of the
training time. ``tune_allocator`` tells glibc to serve them from the heap and keep freed memory
for reuse, which is what the caching allocators (jemalloc, tcmalloc) that PyTorch's CPU
performance guide recommends do. The cost is that the process keeps its peak memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import TYPE_CHECKING

from rnnkit.errors import ConfigError

if TYPE_CHECKING:
    import torch

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4


@functools.cache
def tune_allocator() -> bool:
    """Keep freed memory in the process instead of returning it to the system.

    Applies on Linux with glibc; a no-op elsewhere, and when ``RNNKIT_ALLOCATOR=system``.
    Returns whether the setting was applied. Called by the ``rnnkit`` command; API users who
    train on CPU can call it once at start-up.
    """
    asked_system = os.environ.get("RNNKIT_ALLOCATOR", "").lower() == "system"
    if asked_system or not sys.platform.startswith("linux"):
        return False
    try:
        libc = _libc()
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0)  # large blocks from the heap, not a fresh mmap each time
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # keep up to 1 GiB of freed heap for reuse
    ok &= mallopt(_M_TOP_PAD, 64 << 20)  # grow the heap in 64 MiB steps
    return bool(ok)


def _libc() -> ctypes.CDLL:
    """The C library; glibc's own name first, since ``find_library`` runs a subprocess (tens of
    milliseconds on every command)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library("c"))


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked
    against this machine: an unknown or absent device raises ``ConfigError``."""
    import torch  # here: `rnnkit --help` and the tune_allocator call need no torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"{name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{name!r}: this machine has no CUDA device; use cpu or auto")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"{name!r}: there are {count} CUDA devices (cuda:0 ...)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{name!r}: MPS is not available here; use cpu or auto")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{name!r}: rnnkit runs on cpu, cuda or mps")
    return device
