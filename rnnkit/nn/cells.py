"""RNN, LSTM and GRU cells written from their equations, with ``torch.nn``'s weights.

Each cell is a pure function of one time step that takes the input already projected,
``x_proj = x W_ih^T + b_ih``, so a layer can project every time step in one matrix product and
loop only over the recurrent half. The modules around them take ``torch.nn.RNNCell``,
``LSTMCell`` and ``GRUCell``'s constructor arguments, parameter names, shapes, gate order and
initialisation, so ``load_state_dict`` moves weights between the two in either direction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]

# The equations, written once for the cells here and the layers of ``layers.py``.
LSTM_MATH = r"""    .. math::
        \begin{array}{ll}
        i_t = \sigma(x_t W_{ii}^T + b_{ii} + h_{t-1} W_{hi}^T + b_{hi}) \\
        f_t = \sigma(x_t W_{if}^T + b_{if} + h_{t-1} W_{hf}^T + b_{hf}) \\
        g_t = \tanh(x_t W_{ig}^T + b_{ig} + h_{t-1} W_{hg}^T + b_{hg}) \\
        o_t = \sigma(x_t W_{io}^T + b_{io} + h_{t-1} W_{ho}^T + b_{ho}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t = o_t \odot \tanh(c_t)
        \end{array}
"""
GRU_MATH = r"""    .. math::
        \begin{array}{ll}
        r_t = \sigma(x_t W_{ir}^T + b_{ir} + h_{t-1} W_{hr}^T + b_{hr}) \\
        z_t = \sigma(x_t W_{iz}^T + b_{iz} + h_{t-1} W_{hz}^T + b_{hz}) \\
        n_t = \tanh(x_t W_{in}^T + b_{in} + r_t \odot (h_{t-1} W_{hn}^T + b_{hn})) \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{array}
"""


def _cell_doc(G: int | str, order: str = "", args: str = "", pair: bool = False) -> str:
    """A cell's Args to Attributes: G gate blocks ("" for the RNN's one) stacked in ``order``;
    ``pair``: the state is ``(h, c)``."""
    one = "(N, H) or (H)"
    state, out = one, f"``h'`` {one}"
    if pair:
        state, out = f"``(h, c)``, each {one}", f"``(h', c')``, each {one}"
    return f"""
    Args:
        input_size: I; hidden_size: H; bias: if ``False``, no ``b_ih`` / ``b_hh``.{args}

    Inputs: ``input``, ``hx=None``
        - **input**: (N, I) or (I).
        - **hx**: {state}; ``None`` means zeros.

    Outputs: {out}.

    Attributes:
        weight_ih: ({G}H, I) and weight_hh: ({G}H, H){order};
        bias_ih, bias_hh: ({G}H); all drawn from U(-1/sqrt(H), 1/sqrt(H)).
    """


def rnn_cell(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> torch.Tensor:
    """One Elman step; ``x_proj`` (N, H) is ``x W_ih^T + b_ih``; returns ``h'`` (N, H)."""
    pre = x_proj + F.linear(h, weight_hh, bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None = None,
) -> LSTMState:
    """One LSTM step; ``x_proj`` (N, 4H) is ``x W_ih^T + b_ih``; returns ``(h', c')``."""
    i, f, g, o = (x_proj + F.linear(h, weight_hh, bias_hh)).chunk(4, -1)  # (N, H) each
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate: how much of the old cell to keep
    g = torch.tanh(g)  # candidate cell content
    o = torch.sigmoid(o)  # output gate: how much of the cell to expose
    c = f * c + i * g
    return o * torch.tanh(c), c


def gru_cell(
    x_proj: torch.Tensor,
    h: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """One GRU step; ``x_proj`` (N, 3H) is ``x W_ih^T + b_ih``; returns ``h'`` (N, H)."""
    x_r, x_z, x_n = x_proj.chunk(3, -1)
    # The reset gate multiplies W_hn h + b_hn, not h: PyTorch's (and cuDNN's) variant.
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, -1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the past feeds the candidate
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return (1 - z) * n + z * h


class TorchStyleParams(nn.Module):
    """What the cells and layers here share with ``torch.nn``'s recurrent modules: their
    parameters' names and shapes, each drawn from U(-1/sqrt(H), 1/sqrt(H)), and a repr naming
    the sizes and each argument of ``REPR_DEFAULTS`` that is not its default."""

    REPR_DEFAULTS = {"bias": True}
    gates = 1  # G: gate blocks stacked in weight_ih (G*H, I) and weight_hh (G*H, H)

    def _add_parameters(self, suffix: str, input_size: int, recurrent: bool, factory) -> None:
        """Register ``weight_ih`` (G*H, ``input_size``) and, if ``recurrent``, ``weight_hh``
        (G*H, H), then ``bias_ih`` (and ``bias_hh``) (G*H), None without ``bias``; every name
        ends in ``suffix``. The values are drawn by ``reset_parameters``."""
        G, H = self.gates, self.hidden_size
        kinds = ("ih", "hh") if recurrent else ("ih",)
        for kind in kinds:
            shape = (G * H, input_size if kind == "ih" else H)
            self.register_parameter(
                f"weight_{kind}{suffix}", nn.Parameter(torch.empty(shape, **factory))
            )
        for kind in kinds:
            bias = nn.Parameter(torch.empty(G * H, **factory)) if self.bias else None
            self.register_parameter(f"bias_{kind}{suffix}", bias)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in self.REPR_DEFAULTS.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class _CellBase(TorchStyleParams):
    """Parameters and input checks shared by the three cells."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self._add_parameters("", input_size, True, {"device": device, "dtype": dtype})
        self.reset_parameters()

    def _batch(self, input: torch.Tensor, hx: tuple[torch.Tensor, ...] | None):
        """``(x (N, I), hx as (N, H) tensors, batched)``: unbatched input gains N = 1, a
        missing state is zeros, and sizes are checked with PyTorch's messages."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if x.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {x.size(1)} expected {self.input_size}"
            )
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            return x, (zeros,) * (2 if self.gates == 4 else 1), batched
        for k, h in enumerate(hx):
            if h.dim() != input.dim():
                raise ValueError(
                    f"{name}: Expected hx[{k}] to be {input.dim()}D like the input, "
                    f"got {h.dim()}D instead"
                )
        hx = hx if batched else tuple(h.unsqueeze(0) for h in hx)
        for k, h in enumerate(hx):
            if h.size(0) != x.size(0):
                raise RuntimeError(
                    f"Input batch size {x.size(0)} doesn't match hidden{k} batch size {h.size(0)}"
                )
            if h.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden{k} has inconsistent hidden_size: got {h.size(1)}, "
                    f"expected {self.hidden_size}"
                )
        return x, hx, batched

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # (N, G*H)


class RNNCell(_CellBase):
    __doc__ = r"""An Elman RNN cell, a drop-in for ``torch.nn.RNNCell``.

    .. math::
        h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    (``relu`` in place of ``tanh`` with ``nonlinearity="relu"``).
    """ + _cell_doc("", args='\n        nonlinearity: ``"tanh"`` or ``"relu"``.')

    REPR_DEFAULTS = {"bias": True, "nonlinearity": "tanh"}

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ):
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x, (h,), batched = self._batch(input, None if hx is None else (hx,))
        h = rnn_cell(self._project(x), h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    __doc__ = (
        "A long short-term memory cell, a drop-in for ``torch.nn.LSTMCell``.\n\n"
        + LSTM_MATH
        + _cell_doc(4, ", gates stacked ``i|f|g|o``", pair=True)
    )

    gates = 4

    def forward(self, input: torch.Tensor, hx: LSTMState | None = None) -> LSTMState:
        x, (h, c), batched = self._batch(input, hx)
        h, c = lstm_cell(self._project(x), h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    __doc__ = (
        "A gated recurrent unit cell, a drop-in for ``torch.nn.GRUCell``.\n\n"
        + GRU_MATH
        + _cell_doc(3, ", gates stacked ``r|z|n``")
    )

    gates = 3

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, (h,), batched = self._batch(input, None if hx is None else (hx,))
        h = gru_cell(self._project(x), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
