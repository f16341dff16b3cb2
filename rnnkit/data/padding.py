"""Id sequences of different lengths as one padded batch (sentence tasks: classification,
tagging, translation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rnnkit.errors import ConfigError


def pad_batch(seqs: Sequence[np.ndarray], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack id arrays of different lengths into one batch-first padded tensor.

    Args:
        seqs: N one-dimensional integer arrays.
        pad_id: the id written after the end of each shorter sequence.

    Returns:
        ``(ids, valid_len)``: ids (N, T_max) int64, valid_len (N,) int64.
    """
    if len(seqs) == 0:
        raise ConfigError("pad_batch got no sequences; give at least one")
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.int64)
    for row, s in zip(out, seqs, strict=True):
        row[: len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)
