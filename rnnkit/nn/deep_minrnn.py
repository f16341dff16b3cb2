"""Deep minGRU / minLSTM stacks: each layer a pre-norm residual block, as Feng et al. 2024 stack
them for language modelling::

    y = x + dropout(minRNN(LayerNorm(x)))             (T, N, H)
    out = y + dropout(MLP(LayerNorm(y)))              MLP: H -> expansion*H -> GELU -> H

The plain stack of ``minrnn.py`` feeds each layer the previous one's output: a minRNN's output
is a running average of linear projections, so many plain layers in a row shrink or grow the
signal and train badly. The residual path carries the input through unchanged and the norms
keep each block's input at one scale, so tens of blocks train. A final LayerNorm closes the
stack. An input of another size than H is projected to H first.

Same contract as ``MinGRU``: ``forward(input, hx=None, *, lengths=None) -> (output, h_n)`` with
``h_n`` (num_layers, N, H), the state of each block's minRNN; ``mode`` applies to every block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.nn.layers import TorchStyleLayer
from rnnkit.nn.minrnn import MinGRU, MinLSTM, _MinRNN


class MinRNNBlock(nn.Module):
    """One pre-norm residual block: a one-layer minRNN, then an MLP, each with a residual.

    Inputs: ``x`` (T, N, H), ``h0`` (N, H), ``mask`` (T, N, 1) or None, ``step`` (bool).
    Outputs: ``(y (T, N, H), h_n (N, H))``.
    """

    def __init__(self, rnn: _MinRNN, expansion: int, dropout: float, bias: bool, factory: dict):
        super().__init__()
        H = rnn.hidden_size
        self.norm_rnn = nn.LayerNorm(H, **factory)
        self.rnn = rnn
        self.norm_mlp = nn.LayerNorm(H, **factory)
        self.mlp = nn.Sequential(
            nn.Linear(H, expansion * H, bias=bias, **factory),
            nn.GELU(),
            nn.Linear(expansion * H, H, bias=bias, **factory),
        )
        self.dropout = dropout

    def forward(self, x, h0, mask, step: bool):
        out, h_n = self.rnn._layer("_l0", self.norm_rnn(x), h0, mask, step)
        x = x + F.dropout(out, self.dropout, self.training)
        x = x + F.dropout(self.mlp(self.norm_mlp(x)), self.dropout, self.training)
        return x, h_n


class _DeepMinRNN(_MinRNN):
    """What DeepMinGRU and DeepMinLSTM share; ``layer_class`` is the minRNN of each block."""

    layer_class: type[_MinRNN] = MinGRU
    REPR_DEFAULTS = {**_MinRNN.REPR_DEFAULTS, "expansion": 2}

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "parallel",
        expansion: int = 2,
        device=None,
        dtype=None,
    ):
        # Dropout here acts inside every block, so no warning for one block: checked alone.
        TorchStyleLayer.__init__(
            self, input_size, hidden_size, num_layers, bias, batch_first, 0.0, False, 4
        )
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"dropout should be a number, got: {type(dropout).__name__}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1], got {dropout}")
        if bidirectional:
            raise ConfigError(f"{type(self).__name__} is unidirectional; drop bidirectional")
        if not isinstance(expansion, int) or expansion < 1:
            raise ConfigError(f"expansion must be a whole number >= 1, got {expansion!r}")
        self.dropout, self.expansion = float(dropout), expansion
        factory = {"device": device, "dtype": dtype}
        H = hidden_size
        self.proj_in = (
            nn.Linear(input_size, H, bias=bias, **factory) if input_size != H else nn.Identity()
        )
        self.blocks = nn.ModuleList(
            MinRNNBlock(
                self.layer_class(H, H, 1, bias, **factory), expansion, dropout, bias, factory
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(H, **factory)
        self.mode = mode

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.rnn.reset_parameters()

    def _stack(self, x: torch.Tensor, states: tuple[torch.Tensor], mask: torch.Tensor | None):
        (h0,) = states
        step = self.mode == "step" or x.size(0) == 1
        x = self.proj_in(x)
        finals = []
        for k, block in enumerate(self.blocks):
            x, h = block(x, h0[k], mask, step)
            finals.append(h)
        x = self.norm(x)
        if mask is not None:
            x = x.masked_fill(~mask, 0.0)
        return x, (torch.stack(finals),)


class DeepMinGRU(_DeepMinRNN):
    """``num_layers`` residual blocks around one-layer ``MinGRU`` s (see the module docstring).

    Args: as ``MinGRU``, plus ``expansion`` (the MLP's hidden width is ``expansion * H``);
    ``dropout`` applies to both residual branches of every block.
    """

    layer_class = MinGRU


class DeepMinLSTM(_DeepMinRNN):
    """``num_layers`` residual blocks around one-layer ``MinLSTM`` s (see the module docstring).

    Args: as ``MinLSTM``, plus ``expansion`` (the MLP's hidden width is ``expansion * H``);
    ``dropout`` applies to both residual branches of every block.
    """

    layer_class = MinLSTM
