"""A language model's step function with the time loop written as a scan, for ``torch.export``.

``torch.export`` traces ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` into one cell per time step of the
example, which fixes the sequence length. Written with ``torch``'s ``scan`` operator, the loop
over time stays one node of the program, and the length stays free: the same ``.pt2`` program
takes a whole prompt in one call and then one token per call.

The per-step arithmetic is the generation fast path's (``rnnkit.decode.packed.PackedStep``:
the first layer's input product as a table lookup, weights transposed once), with the packed
tensors held as buffers so that the exported program carries them.

A minGRU / minLSTM (``MinScanStep``) is scanned layer by layer instead: its gates read the input
alone, so, as in its parallel mode, the gates of every step are one product per layer before
the loop, and the loop carries only the state, stepped by the layer's own ``cell_step``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch._higher_order_ops.scan import scan

from rnnkit.decode.packed import FAST_CELLS, PackedStep
from rnnkit.errors import ExportError
from rnnkit.nn.minrnn import _MinRNN, cell_step


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


class MinScan(nn.Module):
    """A one-way minGRU / minLSTM stack (``rnnkit.nn.minrnn``) with each layer's loop over time
    as one scan; the same weights, in eval mode.

    Inputs: ``x`` (T, N, I), ``hx`` (L, N, H). Outputs: ``(out (T, N, H), h_n (L, N, H))``, the
    layer's own contract.
    """

    def __init__(self, rnn: _MinRNN):
        super().__init__()
        if rnn.bidirectional:
            raise ExportError("a bidirectional minRNN has no scan form: it also reads backwards")
        self.rnn = rnn

    def forward(self, x: torch.Tensor, hx: torch.Tensor):
        r, finals = self.rnn, []
        lstm = r.gates == 3
        for k in range(r.num_layers):
            bias = getattr(r, f"bias_ih_l{k}") if r.bias else None
            gates = F.linear(x, getattr(r, f"weight_ih_l{k}"), bias)  # (T, N, G*H): all steps

            def body(h, g):  # h: (N, H), g: (N, G*H)
                h = cell_step(g, h, lstm)
                return h, h.clone()  # scan's outputs may not alias its carry

            h_n, x = scan(body, hx[k], gates)  # x: (T, N, H), the next layer's input
            finals.append(h_n)
        return x, torch.stack(finals)


class MinScanStep(nn.Module):
    """``StateStep`` of a minGRU / minLSTM language model, its layers scanned (``MinScan``).

    Inputs: ``tokens`` (N, T) int64, ``h_0`` (L, N, H). Outputs: ``logits`` (N, T, V), ``h_n``
    (L, N, H).
    """

    def __init__(self, model):
        super().__init__()
        self.model = copy.deepcopy(model).eval()  # the run's own model keeps its layers
        self.model.rnn = MinScan(self.model.rnn)

    def forward(self, tokens: torch.Tensor, h_0: torch.Tensor):
        logits, _, h_n = self.model(tokens, state=h_0)
        return logits, h_n
