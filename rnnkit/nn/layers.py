"""Multi-layer, optionally bidirectional RNN, LSTM and GRU built on the cells in ``cells.py``.

Drop-ins for ``torch.nn.RNN``, ``LSTM`` and ``GRU``: the same constructor, parameter names
(``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``_reverse`` for the
backward direction), shapes and ``forward(input, hx=None)``, so a ``state_dict`` loads into either.
Each layer and direction projects all time steps in one matrix product, then loops over time
with one matrix product per step for the recurrent half.

Variable lengths come as a ``PackedSequence`` (returned packed, as torch does) or as padded
input with ``lengths=``. A row past its own length keeps its state, so the final state is the one
at each sequence's end, the backward direction starts at each sequence's last valid step, and
padded outputs are zeros.
"""

from __future__ import annotations

import functools
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.errors import ConfigError
from rnnkit.nn.bptt import GRUSequence, Linear, LSTMSequence, RNNSequence
from rnnkit.nn.cells import GRU_MATH, LSTM_MATH, TorchStyleParams, gru_cell, lstm_cell, rnn_cell

States = tuple[torch.Tensor, ...]  # (h,) or, for LSTM, (h, c)


class TorchStyleLayer(TorchStyleParams):
    """What every recurrent layer here shares with ``torch.nn``'s: its argument checks, the
    parameters ``weight_ih_l{k}``, ``bias_ih_l{k}`` (and ``weight_hh_l{k}``, ``bias_hh_l{k}``)
    with ``_reverse`` for the backward direction, ``forward(input, hx=None)``'s input and state
    handling and messages, and ``flatten_parameters``; the initialisation and the repr of
    ``TorchStyleParams``.

    A subclass writes ``_scan``, one layer in one direction: the ``scan`` of ``stack_layers``.
    """

    REPR_DEFAULTS = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0}
    REPR_DEFAULTS["bidirectional"] = False

    def __init__(
        self, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, level
    ):
        super().__init__()
        # torch.nn.RNNBase's argument checks, with its messages; level: the dropout warning's
        # stacklevel as seen from the subclass's constructor
        number = isinstance(dropout, numbers.Number) and not isinstance(dropout, bool)
        if not number or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=level,
            )
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional

    def _add_weights(self, device, dtype, recurrent: bool) -> None:
        """Register every layer's parameters (``weight_hh`` and ``bias_hh`` if ``recurrent``)
        and draw them."""
        factory = {"device": device, "dtype": dtype}
        D = self.num_directions
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else D * self.hidden_size
            for suffix in [f"_l{layer}", f"_l{layer}_reverse"][:D]:
                self._add_parameters(suffix, layer_input, recurrent, factory)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def flatten_parameters(self) -> None:
        """Does nothing: kept so code written for ``torch.nn`` layers runs unchanged."""

    def forward(self, input, hx=None, *, lengths: torch.Tensor | None = None):
        """Run the stack over a sequence; see the class docstring for shapes."""
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths= is for padded input; a PackedSequence has its own")
            x, lengths = pad_packed_sequence(input)  # (T, N, I), in the caller's batch order
            batched = True
        else:
            name = type(self).__name__
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead"
                )
            batched = input.dim() == 3
            if not batched:
                x = input.unsqueeze(1)
            else:
                x = input.transpose(0, 1) if self.batch_first else input
        if x.size(-1) != self.input_size:
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {x.size(-1)}"
            )
        states = self._initial_states(x, hx, batched)
        mask = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device).reshape(-1)
            if lengths.numel() != x.size(1) or lengths.max() > x.size(0) or lengths.min() < 0:
                raise ValueError(
                    f"lengths must hold one length in [0, {x.size(0)}] per sequence "
                    f"({x.size(1)}), got {lengths.tolist()}"
                )
            steps = torch.arange(x.size(0), device=x.device)
            mask = (steps[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, N, 1)
        if torch.is_autocast_enabled(x.device.type):
            # The kernels here are float32 ones (oneDNN's packed products on CPU, the scan):
            # under autocast the layer keeps float32 rather than casting at every time step.
            with torch.autocast(x.device.type, enabled=False):
                x, states = x.float(), tuple(s.float() for s in states)
                out, states = self._stack(x, states, mask)
        else:
            out, states = self._stack(x, states, mask)  # (T, N, D*H); (h_n,) or (h_n, c_n)
        if packed:
            out = _pack_like(out, lengths, input)
        elif not batched:
            out, states = out.squeeze(1), tuple(s.squeeze(1) for s in states)
        elif self.batch_first:
            out = out.transpose(0, 1).contiguous()  # contiguous, as torch returns it
        return out, states if self.gates == 4 else states[0]  # an LSTM's state: (h_n, c_n)

    def _initial_states(self, x: torch.Tensor, hx, batched: bool) -> States:
        """``hx`` as a tuple of (D*num_layers, N, H) tensors, zeros when ``None``, checked."""
        shape = (self.num_directions * self.num_layers, x.size(1), self.hidden_size)
        lstm = self.gates == 4
        if hx is None:
            zeros = x.new_zeros(shape)
            return (zeros, zeros) if lstm else (zeros,)
        states = tuple(hx) if lstm else (hx,)
        dims = 3 if batched else 2
        if any(s.dim() != dims for s in states):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            if lstm:
                what, got = "hx and cx", f"({states[0].dim()}-D, {states[1].dim()}-D) tensors"
            else:
                what, got = "hx", f"{states[0].dim()}-D tensor"
            raise RuntimeError(f"For {kind} input, {what} should also be {dims}-D but got {got}")
        if not batched:
            states = tuple(s.unsqueeze(1) for s in states)
        for k, s in enumerate(states):
            if s.shape != shape:
                which = f"hidden[{k}]" if lstm else "hidden"
                raise RuntimeError(f"Expected {which} size {shape}, got {list(s.shape)}")
        return states

    def _stack(self, x: torch.Tensor, states: States, mask: torch.Tensor | None):
        """All layers over time-major ``x`` (T, N, I); returns ``(out (T, N, D*H), states)``."""
        dropout = self.dropout if self.training else 0.0
        return stack_layers(
            self._scan, x, states, mask, self.num_layers, self.num_directions, dropout
        )


def stack_layers(scan, x, states: States, mask, num_layers: int, directions: int, dropout=0.0):
    """``num_layers`` layers of ``directions`` directions over time-major ``x`` (T, N, I), from
    ``states``, tuples of (D*num_layers, N, H); ``dropout`` between layers.

    ``scan(x, state, suffix, mask, reverse)`` runs one layer (its parameters named ``*suffix``)
    one way over ``x`` (T, N, I_k) from ``state`` ((h_0,) or, for an LSTM, (h_0, c_0), each
    (N, H)), with ``mask`` (T, N, 1) True where step t is inside sequence n (None: every step
    is), and returns ``(out (T, N, H), state)``.

    Returns ``(out (T, N, D*H), states)``, the output zero where ``mask`` is False.
    """
    finals = []  # one state tuple per layer and direction, in h_n's order
    for layer in range(num_layers):
        outs = []
        for direction, suffix in enumerate([f"_l{layer}", f"_l{layer}_reverse"][:directions]):
            k = layer * directions + direction
            out, final = scan(x, tuple(s[k] for s in states), suffix, mask, direction)
            outs.append(out)
            finals.append(final)
        x = torch.cat(outs, -1) if len(outs) > 1 else outs[0]  # (T, N, D*H)
        if dropout > 0 and layer < num_layers - 1:
            x = F.dropout(x, dropout, training=True)
    if mask is not None:
        x = x.masked_fill(~mask, 0.0)  # as pad_packed_sequence pads
    return x, tuple(torch.stack(s) for s in zip(*finals, strict=True))


class _Recurrent(TorchStyleLayer):
    """What RNN, LSTM and GRU share.

    A subclass sets ``gates`` and writes ``_step(x_proj, state, weight_hh, bias_hh)`` (one time
    step through the cell, differentiated by autograd) and ``_sequence(xp, state, weight_hh,
    bias_hh, mask)`` (a whole sequence through the hand-written BPTT of ``bptt.py``).

    ``bptt`` picks the backward pass: ``"manual"`` (default, the fast path) or ``"autograd"``
    (autograd through the Python loop over cells). Both give the same numbers.
    """

    bptt = "manual"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        if proj_size != 0:  # torch.nn's layers take it too; only its LSTM has projections
            raise ConfigError(
                f"proj_size={proj_size} is not supported by the scratch {type(self).__name__}; "
                "use proj_size=0 or torch.nn.LSTM"
            )
        # The dropout warning points at the caller: one frame fewer where a subclass (LSTM,
        # GRU) takes this constructor as its own.
        level = 3 if type(self).__init__ is _Recurrent.__init__ else 4
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, level
        )
        self.proj_size = 0
        self._add_weights(device, dtype, recurrent=True)

    def _scan(self, x, state: States, suffix: str, mask, reverse: int):
        """One layer in one direction over ``x`` (T, N, I_k); returns ``(out (T, N, H), state)``.

        Stepping backwards with the same mask skips each row's padding first, so the reverse
        direction of a sequence starts from the initial state at its own last valid step.
        """
        bias_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
        bias_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
        weight_hh = getattr(self, "weight_hh" + suffix)
        if self.bptt == "manual":
            if self.gates != 3 and self.bias:  # outside the nonlinearity the biases add up
                bias_ih, bias_hh = bias_ih + bias_hh, None  # (GRU's b_hn sits inside r * .)
            xp = Linear.apply(x, getattr(self, "weight_ih" + suffix), bias_ih)  # (T, N, G*H)
            if reverse:  # running the flipped sequence forward = stepping backwards
                xp, mask = xp.flip(0), (None if mask is None else mask.flip(0))
            out, state = self._sequence(xp, state, weight_hh, bias_hh, mask)
            return (out.flip(0) if reverse else out), state
        x_proj = F.linear(x, getattr(self, "weight_ih" + suffix), bias_ih)  # (T, N, G*H)
        step = functools.partial(self._step, weight_hh=weight_hh, bias_hh=bias_hh)
        return masked_steps(step, x_proj, state, mask, reverse)


def masked_steps(step, x: torch.Tensor, state: States, mask, reverse: int = 0):
    """``state = step(x[t], state)`` for every step t of ``x`` (T, N, ...), backwards in time
    if ``reverse``; a row where ``mask`` (T, N, 1) is False keeps its state.

    Returns ``(state[0] after every step, stacked (T, N, H), the last state)``.
    """
    # unbind, not x[t]: indexing a tensor that needs grad costs a full-size zero gradient per
    # step in backward.
    xs, masks = x.unbind(0), (None if mask is None else mask.unbind(0))
    outputs = [None] * len(xs)
    for t in reversed(range(len(xs))) if reverse else range(len(xs)):
        new = step(xs[t], state)
        if masks is None:
            state = new
        else:  # rows past their length keep their state
            state = tuple(torch.where(masks[t], n, s) for n, s in zip(new, state, strict=True))
        outputs[t] = state[0]
    return torch.stack(outputs), state


def _pack_like(out: torch.Tensor, lengths: torch.Tensor, like: PackedSequence) -> PackedSequence:
    """Pack padded ``out`` (T, N, F) with the batch order and sizes of ``like``."""
    order = like.sorted_indices
    if order is not None:
        out, lengths = out.index_select(1, order), lengths[order.to(lengths.device)]
    data = pack_padded_sequence(out, lengths.cpu(), enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


def layer_doc(extra: str = "", more: str = "", biases: str = "``b_ih`` / ``b_hh``", pair=False):
    """A layer's Args to Outputs: ``extra`` and ``more`` arguments before ``bias`` and after
    ``bidirectional``, what ``bias=False`` leaves out, and ``pair``: the state is ``(h, c)``."""
    h = "(D*num_layers, N, H) whatever ``batch_first`` says ((D*num_layers, H) unbatched)"
    state_in, state_name, state_out = "h_0 " + h, "h_n", h
    if pair:
        state_in, state_name, state_out = "``(h_0, c_0)``, each " + h, "(h_n, c_n)", "each " + h
    return f"""
    Args:
        input_size: I, features of the input.
        hidden_size: H, features of the hidden state.
        num_layers: stacked layers; layer k > 0 reads layer k-1's output.
        {extra}bias: if ``False``, no {biases}.
        batch_first: input and output are (N, L, ...) instead of (L, N, ...); not the state.
        dropout: dropout on the output of every layer but the last, in training mode only.
        bidirectional: run a second stack backwards in time, each sequence from its own last
            valid step; outputs are concatenated.{more}

    Inputs: ``input``, ``hx=None``, ``lengths=None`` (keyword)
        - **input**: (L, N, I), (N, L, I) with ``batch_first``, (L, I) unbatched, or a
          ``PackedSequence``.
        - **hx**: {state_in}; ``None`` means zeros.
        - **lengths**: (N) valid steps per padded sequence; steps past them leave the state
          alone and give zero outputs.

    Outputs: ``(output, {state_name})``
        - **output**: (L, N, D*H) (batch_first: (N, L, D*H); unbatched: (L, D*H)), or a
          ``PackedSequence`` for packed input; D = 2 if bidirectional else 1.
        - **{state_name}**: the state after each sequence's last valid step (the reverse
          direction's: after its first), {state_out}.
"""


class RNN(_Recurrent):
    __doc__ = r"""An Elman RNN stack, a drop-in for ``torch.nn.RNN``.

    .. math::
        h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})
    """ + layer_doc(extra='nonlinearity: ``"tanh"`` or ``"relu"``.\n        ')

    REPR_DEFAULTS = {**TorchStyleLayer.REPR_DEFAULTS, "nonlinearity": "tanh"}

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            device=device, dtype=dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity

    def _step(self, x_proj, state, weight_hh, bias_hh):
        return (rnn_cell(x_proj, state[0], weight_hh, bias_hh, self.nonlinearity),)

    def _sequence(self, xp, state, weight_hh, bias_hh, mask):
        relu = self.nonlinearity == "relu"
        out, h = RNNSequence.apply(xp, state[0], weight_hh, bias_hh, mask, relu)
        return out, (h,)


class LSTM(_Recurrent):
    __doc__ = (
        "A long short-term memory stack, a drop-in for ``torch.nn.LSTM``.\n\n"
        + LSTM_MATH
        + """
    Gates are stacked ``i|f|g|o`` in the weights. ``proj_size`` must be 0 (no projections).
    """
        + layer_doc(pair=True)
    )

    gates = 4  # its constructor is _Recurrent's, torch.nn.LSTM's arguments

    def _step(self, x_proj, state, weight_hh, bias_hh):
        return lstm_cell(x_proj, *state, weight_hh, bias_hh)

    def _sequence(self, xp, state, weight_hh, bias_hh, mask):
        out, h, c = LSTMSequence.apply(xp, *state, weight_hh, bias_hh, mask)
        return out, (h, c)


class GRU(_Recurrent):
    __doc__ = (
        "A gated recurrent unit stack, a drop-in for ``torch.nn.GRU``.\n\n"
        + GRU_MATH
        + """
    Gates are stacked ``r|z|n`` in the weights.
    """
        + layer_doc()
    )

    gates = 3  # its constructor is _Recurrent's, torch.nn.GRU's arguments

    def _step(self, x_proj, state, weight_hh, bias_hh):
        return (gru_cell(x_proj, state[0], weight_hh, bias_hh),)

    def _sequence(self, xp, state, weight_hh, bias_hh, mask):
        out, h = GRUSequence.apply(xp, state[0], weight_hh, bias_hh, mask)
        return out, (h,)
