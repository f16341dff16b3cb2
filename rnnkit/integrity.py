"""Checksums of stored tensors: a damaged weight file is caught when it is loaded.

Every safetensors file rnnkit writes carries, in its header's metadata under ``DIGEST_KEY``, the
sha256 of its tensors (names, dtypes, shapes and bytes, in name order). Loading recomputes it
from what was read: a flipped bit in the data, or a header edited to point elsewhere, gives
another digest. The file stays a plain safetensors file for other tools (metadata is a
standard, ignored field). Files without the key (written before checksums existed) load
unchecked.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

DIGEST_KEY = "rnnkit.sha256"


def tensors_digest(tensors: Mapping) -> str:
    """sha256 over the tensors (torch or numpy) in name order: name, dtype, shape, then the
    raw bytes."""
    torch = sys.modules.get("torch")  # not imported: no tensor can be a torch one (n-grams)
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        if torch is not None and isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            dtype, shape = str(t.dtype).removeprefix("torch."), tuple(t.shape)
            data = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        else:
            t = np.ascontiguousarray(t)
            dtype, shape, data = str(t.dtype), tuple(t.shape), t.tobytes()
        h.update(f"{name}\0{dtype}\0{shape}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


def stored_digest(path: str | Path) -> str | None:
    """The digest recorded in ``path``'s header, or None when it has none.

    Raises ``SafetensorError`` or ``OSError`` when the header cannot be read.
    """
    with safe_open(str(path), framework="numpy") as f:
        return (f.metadata() or {}).get(DIGEST_KEY)


def digest_mismatch(path: str | Path, tensors: Mapping) -> str | None:
    """None when ``tensors`` (as loaded from ``path``) match its recorded digest; otherwise a
    short reason for an error message."""
    try:
        want = stored_digest(path)
    except (SafetensorError, OSError) as e:
        return f"unreadable header: {e}"
    if want is not None and tensors_digest(tensors) != want:
        return "checksum mismatch: the file changed after it was written"
    return None
