"""A language model's step function with the time loop written as a scan, for ``torch.export``.

``torch.export`` traces ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` into one cell per time step of the
example, which fixes the sequence length. Written with ``torch``'s ``scan`` operator, the loop
over time stays one node of the program, and the length stays free: the same ``.pt2`` program
takes a whole prompt in one call and then one token per call.

The per-step arithmetic is the generation fast path's (``rnnkit.decode.packed.PackedStep``:
the first layer's input product as a table lookup, weights transposed once), with the packed
tensors held as buffers so that the exported program carries them.

A minGRU / minLSTM exports through ``min_scan_step`` instead: its layers run as the
``PaddedScan`` of ``padded.py``, one scan per layer over the gates of every step, computed
before the loop in one product, as in the layer's parallel mode.
"""

from __future__ import annotations

import torch
from torch import nn
from torch._higher_order_ops.scan import scan

from rnnkit.decode.packed import FAST_CELLS, PackedStep
from rnnkit.errors import ExportError


class ScanStep(nn.Module):
    """``StateStep``'s computation, one scan over time.

    Inputs: ``tokens`` (N, T) int64, then ``h_0`` (L, N, H) and, for an LSTM, ``c_0`` (L, N, H).
    Outputs: ``logits`` (N, T, V), then ``h_n`` and, for an LSTM, ``c_n`` (L, N, H).

    Raises:
        ExportError: a cell without a packed step (the layer-normalised LSTM).
    """

    def __init__(self, model):
        super().__init__()
        if model.config.cell not in FAST_CELLS:
            raise ExportError(
                f"a {model.config.cell} model has no scan form for torch.export; export an "
                f"{', '.join(FAST_CELLS)} run, or use --format onnx"
            )
        with torch.no_grad():
            self.packed = PackedStep(model)
        self.names = list(self.packed.tensors())
        for name, tensor in self.packed.tensors().items():
            self.register_buffer(name, tensor.detach().clone())
        self.lstm = self.packed.cell == "lstm"

    def forward(self, tokens: torch.Tensor, h_0: torch.Tensor, c_0: torch.Tensor | None = None):
        # The step reads this module's buffers, which the exporter traces as the program's.
        p = self.packed.bind({name: getattr(self, name) for name in self.names})
        gi = p.table[tokens].transpose(0, 1)  # (T, N, G): each token's first input product

        def body(carry, g):  # carry: (h,) or (h, c), each (L, N, H); g: (N, G)
            hs, cs = p.layers_step(g, carry[0], carry[1] if self.lstm else None)
            nxt = (torch.stack(hs), torch.stack(cs)) if self.lstm else (torch.stack(hs),)
            return nxt, hs[-1].clone()  # scan's outputs may not alias its carry

        final, top = scan(body, (h_0, c_0) if self.lstm else (h_0,), gi)  # top: (T, N, H)
        logits = top.transpose(0, 1) @ p.w_out + p.b_out  # (N, T, V)
        return (logits, *final)
