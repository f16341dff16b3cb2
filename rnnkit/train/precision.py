"""Mixed precision for training: autocast, and a gradient scaler for float16.

Weights, optimizer state and checkpoints stay float32 in every mode; autocast runs the ops
it knows in the lower precision (matrix products, the fused recurrent kernels) and keeps
reductions such as the cross-entropy in float32.

- ``fp32``: no autocast.
- ``bf16``: autocast to bfloat16; CUDA (Ampere or newer) and CPU. Same exponent range as
  float32, so no loss scaling.
- ``fp16``: autocast to float16 with a ``GradScaler``, on CUDA only (CPU kernels for
  float16 recurrent layers are missing).

The scratch backend's recurrent layers run their own float32 kernels under autocast; the
embedding and decoder products still take the lower precision.
"""

from __future__ import annotations

import contextlib

import torch

from rnnkit.config import PRECISIONS
from rnnkit.errors import ConfigError, check_choice

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast and loss scaling for one precision on one device.

    Args:
        name: ``fp32``, ``bf16`` or ``fp16``.
        device: the training device.
    """

    def __init__(self, name: str, device: torch.device):
        check_choice("precision", name, PRECISIONS)
        if name == "fp16" and device.type != "cuda":
            raise ConfigError(
                "--precision fp16 needs a CUDA device (float16 recurrent kernels and loss "
                "scaling); use --precision bf16 on CPU"
            )
        if name == "bf16" and not bf16_supported(device):
            raise ConfigError(
                f"--precision bf16 is not supported on {device} here; use --precision fp32"
                + (" or fp16" if device.type == "cuda" else "")
            )
        self.name, self.device = name, device
        self.dtype = _DTYPES.get(name)
        # Disabled (every call a plain backward or step) but for fp16.
        self.scaler = torch.amp.GradScaler("cuda", enabled=name == "fp16")

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward_and_step(self, loss, model, optimizer, clip: float) -> torch.Tensor:
        """Backward, clip the global gradient norm (0: measure only), step; the norm."""
        params = [p for p in model.parameters() if p.requires_grad]
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        if clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        self.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        self.scaler.update()
        return norm

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:  # empty from a run in another precision
            self.scaler.load_state_dict(state)


def bf16_supported(device: torch.device) -> bool:
    """Whether autocast to bfloat16 runs on ``device``: a tiny recurrent step is tried."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm = torch.nn.LSTM(2, 2)
            lstm(torch.zeros(1, 1, 2))
        return True
    except RuntimeError:
        return False
