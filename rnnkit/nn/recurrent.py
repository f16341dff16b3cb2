"""Recurrent layers by backend, and the helpers that treat hidden state as a value.

``build_recurrent`` is the one place a model asks for a recurrent stack; a backend is a table
from cell name to a class with ``torch.nn.RNN``'s constructor and ``forward(input, hx)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.errors import ConfigError
from rnnkit.nn import layers
from rnnkit.nn.layernorm_lstm import LayerNormLSTM
from rnnkit.nn.minrnn import MinGRU, MinLSTM

CELLS = ("rnn", "lstm", "gru", "lnlstm", "mingru", "minlstm")
# Gates that read the input alone (parallel scan); torch.nn has no such layer, so both backends
# use rnnkit's. Their state is h alone, as a GRU's.
MIN_CELLS = {"mingru": MinGRU, "minlstm": MinLSTM}

BACKENDS: dict[str, dict[str, type[nn.Module]]] = {
    "torch": {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU, **MIN_CELLS},
    "scratch": {
        "rnn": layers.RNN,
        "lstm": layers.LSTM,
        "gru": layers.GRU,
        "lnlstm": LayerNormLSTM,  # a variant of its own: not weight-compatible with nn.LSTM
        **MIN_CELLS,
    },
}

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def map_state(fn, state: State | None) -> State | None:
    """``fn`` applied to the hidden state, tensor by tensor (an LSTM's is a tuple)."""
    if state is None:
        return None
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def build_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    backend: str = "torch",
    bidirectional: bool = False,
) -> nn.Module:
    """A time-major (``batch_first=False``) recurrent stack of ``cell`` from ``backend``."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if cell not in BACKENDS[backend]:
        if cell in CELLS:
            have = [b for b in BACKENDS if cell in BACKENDS[b]]
            raise ConfigError(
                f"model {cell!r} has no {backend} backend; use --backend {' or '.join(have)}"
            )
        raise ConfigError(f"unknown model {cell!r}: choose one of {', '.join(CELLS)}")
    kw = {"bidirectional": True} if bidirectional else {}  # LayerNormLSTM is one-way only
    return BACKENDS[backend][cell](
        input_size, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0, **kw
    )


def run_padded(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor, backend: str):
    """Run ``rnn`` over a padded batch so that padding never reaches the state.

    Inputs: ``x`` (S, N, E) time-major, ``lengths`` (N,) with 1 <= lengths <= S.

    Outputs: ``(out, h_n)``: ``out`` (S, N, D*H), zeros past each length; ``h_n`` as the
    layer returns it, (D*L, N, H) or the LSTM pair, taken at each sequence's last valid step.
    """
    if backend == "torch" and not isinstance(rnn, tuple(MIN_CELLS.values())):
        # the fused kernels want a PackedSequence
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, final = rnn(packed)
        out, _ = pad_packed_sequence(out, total_length=x.size(0))
        return out, final
    return rnn(x, lengths=lengths)  # the scratch layers mask by length themselves


def init_state(
    cell: str, num_layers: int, batch: int, hidden_size: int, device=None, dtype=None
) -> State:
    """Zero state: ``h`` (num_layers, N, H); for LSTM the pair ``(h, c)``."""
    h = torch.zeros(num_layers, batch, hidden_size, device=device, dtype=dtype)
    return (h, torch.zeros_like(h)) if cell in ("lstm", "lnlstm") else h


def select_state(state: State, index: torch.Tensor) -> State:
    """Rows ``index`` (N',) of a state ((L, N, H), or a pair of them for LSTM), in that order."""
    return map_state(lambda s: s.index_select(1, index), state)


def cat_states(states: Sequence[State]) -> State:
    """States of (L, N_i, H) (or pairs of them) side by side: (L, sum N_i, H)."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, 1) for parts in zip(*states, strict=True))
    return torch.cat(list(states), 1)


def detach_state(state: State | None) -> State | None:
    """Cut the graph behind ``state`` (truncated BPTT) without copying its values."""
    return map_state(torch.Tensor.detach, state)
