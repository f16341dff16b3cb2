"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016): a teaching variant with its own name.

Layer normalisation is applied to the input and recurrent contributions of the gates and to the
cell state before the output nonlinearity::

    a_t = LN_ih(x_t W_ih^T) + LN_hh(h_{t-1} W_hh^T) + b          (N, 4H), gates i|f|g|o
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(LN_c(c_t))

Normalising each step's pre-activations keeps their scale steady over time, which makes the
recurrence less sensitive to initialisation and learning rate. Its parameters differ from
``torch.nn.LSTM`` (three LayerNorms, one bias), so it is not weight-compatible with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.nn.layers import masked_steps, stack_layers


class LayerNormLSTMCell(nn.Module):
    """One layer-normalised LSTM step.

    Inputs: ``input`` (N, I), ``hx`` = ``(h, c)`` each (N, H) or None.
    Outputs: ``(h', c')`` each (N, H).
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        self.ln_ih = nn.LayerNorm(4 * hidden_size)
        self.ln_hh = nn.LayerNorm(4 * hidden_size)
        self.ln_c = nn.LayerNorm(hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def step(self, x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """``x_proj`` = LN_ih(x W_ih^T), precomputed for all steps; returns ``(h', c')``."""
        a = x_proj + self.ln_hh(F.linear(h, self.weight_hh)) + self.bias
        i, f, g, o = a.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # keep, forget
        h = torch.sigmoid(o) * torch.tanh(self.ln_c(c))  # expose a normalised cell
        return h, c

    def forward(self, input: torch.Tensor, hx=None):
        if hx is None:
            z = input.new_zeros(input.size(0), self.hidden_size)
            hx = (z, z)
        return self.step(self.ln_ih(F.linear(input, self.weight_ih)), *hx)


class LayerNormLSTM(nn.Module):
    """A stack of layer-normalised LSTM cells, time-major like ``torch.nn.LSTM``.

    Args: as ``torch.nn.LSTM`` (``input_size, hidden_size, num_layers, dropout, batch_first``);
    unidirectional only.

    Inputs: ``input`` (T, N, I) (``(N, T, I)`` with ``batch_first``), ``hx`` = ``(h_0, c_0)``
    each (num_layers, N, H) or None.
    Outputs: ``output`` (T, N, H), ``(h_n, c_n)`` each (num_layers, N, H).
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        dropout=0.0,
        batch_first=False,
        bidirectional=False,
    ):
        super().__init__()
        if bidirectional:
            raise ConfigError("the layer-norm LSTM is unidirectional; drop bidirectional")
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.dropout, self.batch_first = dropout, batch_first
        self.cells = nn.ModuleList(
            LayerNormLSTMCell(input_size if k == 0 else hidden_size, hidden_size)
            for k in range(num_layers)
        )

    def forward(self, input: torch.Tensor, hx=None):
        x = input.transpose(0, 1) if self.batch_first else input
        if hx is None:
            z = x.new_zeros(self.num_layers, x.size(1), self.hidden_size)
            hx = (z, z)
        dropout = self.dropout if self.training else 0.0
        out, state = stack_layers(self._scan, x, tuple(hx), None, self.num_layers, 1, dropout)
        return (out.transpose(0, 1) if self.batch_first else out), state

    def _scan(self, x: torch.Tensor, state, suffix: str, mask, reverse: int):
        """``stack_layers``' scan of layer k (``suffix`` ``_l{k}``): one-way, without a mask."""
        cell = self.cells[int(suffix.removeprefix("_l"))]
        x_proj = cell.ln_ih(F.linear(x, cell.weight_ih))  # (T, N, 4H): all steps at once
        return masked_steps(lambda x_t, s: cell.step(x_t, *s), x_proj, state, mask)
