r"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read the input
alone, so the recurrence is linear and every time step is computed at once by a scan.

The classic GRU and LSTM gates read ``h_{t-1}``, so step t cannot start before step t-1 ends.
Dropping ``h_{t-1}`` from the gates leaves, per channel, a first-order linear recurrence with
coefficients known for the whole sequence in advance::

    h_t = a_t * h_{t-1} + b_t                                           (N, H), t = 1..T

minGRU (gates stacked ``z|h~`` in ``weight_ih_l{k}`` (2H, I_k))::

    z_t = sigmoid(x_t W_z^T + b_z);   h~_t = x_t W_h^T + b_h
    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t          a_t = 1 - z_t,  b_t = z_t * h~_t

(``z`` is the update gate as in the paper: ``torch.nn.GRU`` calls the *keep* gate z.)

minLSTM (gates stacked ``i|f|h~`` in ``weight_ih_l{k}`` (3H, I_k), torch.nn.LSTM's order)::

    i_t, f_t = sigmoid(x_t W_i^T + b_i), sigmoid(x_t W_f^T + b_f);   h~_t = x_t W_h^T + b_h
    f'_t = f_t / (f_t + i_t),   i'_t = i_t / (f_t + i_t)      (normalised: f' + i' = 1)
    h_t = f'_t * h_{t-1} + i'_t * h~_t              a_t = f'_t,  b_t = i'_t * h~_t

A minLSTM is thus a minGRU whose update gate is ``z = i'``; ``i'`` is computed as
``sigmoid(logsigmoid(a_i) - logsigmoid(a_f))`` (the same quotient, with no 0/0 when both gates
saturate). Without ``c`` the minLSTM's state is ``h`` alone, like a GRU's.

**The scan.** Unrolling the recurrence from ``h_0``::

    h_t = A_t h_0 + sum_{s<=t} (A_t / A_s) b_s,      A_t = a_1 a_2 ... a_t

The pairs ``(a, b)`` compose associatively, ``(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)``, so
any prefix-scan algorithm gives every ``h_t``: one pass (T dependent steps, T multiply-adds per
channel, the least work), a tree of log2 T levels (Hillis-Steele doubling, T log2 T work), or
chunks of K steps scanned side by side and joined by their carries (K + T/K dependent steps,
about 3T work). All of them only multiply and add numbers in (0, 1) and values of the size of
``b``: since ``0 < a_t < 1`` and ``h_t`` is a convex combination of ``h_{t-1}`` and ``h~_t``,
nothing grows or underflows harmfully, so none needs the log-space form of the paper
(``log h_t = log A_t + logcumsumexp(log b_s - log A_s)``), which exists to avoid the
``b_s / A_s`` of the closed form above and needs ``h~ > 0`` (the paper's ``g``).

Which algorithm is fastest depends on the machine. ``python bench/minrnn.py --part scan``, on a
CPU with one thread, forward and backward of one minGRU layer's recurrence on (T=256, N=64,
H=512): one pass 1x, chunked 1.4-1.8x, doubling 12-13x, log-space (``torch.logcumsumexp``)
26-28x the time (figures in BENCHMARKS.md). Each step already runs N*H channels at once, so
the other forms' extra work and memory traffic cost more than the T-1 steps they save.
``scan`` therefore makes one pass by default and takes the chunked form when a step has fewer
than ``CHUNKED_BELOW`` channels (a batch-1 prompt), where the count of steps, not the arithmetic, is
the cost; on a GPU the chunked or tree forms are the ones to use. What makes these layers fast
is the rest: the gates of all steps are one matrix product, and the recurrence is elementwise,
in one autograd function (``MinRNNSequence``) with the backward written out.

**Backward.** With ``g_t = dL/dh_t`` from the outputs and ``G_t`` the total gradient of
``h_t``::

    G_t = g_t + a_{t+1} G_{t+1}          (the same linear recurrence, run backwards in time)
    dL/db_t = G_t,   dL/da_t = G_t * h_{t-1},   dL/dh_0 = a_1 G_1

so the backward pass is one more scan, over the reversed sequence.

**Padding.** A padded step gets ``a = 1, b = 0``: the state passes through unchanged, so the
final state is each sequence's state at its own length, as in the classic layers of
``layers.py``, and padded outputs are set to zero.

**Modes.** ``parallel`` (training, prompt warm-up): one matrix product for the gates of all
steps, then the scan. ``step``: one time step after another from the cell equations
(generation, streaming); a one-step input always takes this path. Both give the same numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from rnnkit.errors import ConfigError
from rnnkit.nn.bptt import Linear
from rnnkit.nn.layers import TorchStyleLayer, layer_doc, masked_steps

MODES = ("parallel", "step")
# Below this many channels per step (N*H) the chunked scan beats the step loop (see above).
CHUNKED_BELOW = 4096


@torch.no_grad()
def scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, chunked: bool = False):
    """``h_t = a_t * h_{t-1} + b_t`` over dim 0: ``a``, ``b`` (T, ...), ``h0`` (...) -> (T, ...).

    ``chunked``: the two-level parallel scan, chunks of K ~ sqrt(T) steps run side by side
    (K + T/K sequential steps); otherwise one step after another (T steps, least work).
    """
    T = a.size(0)
    if not chunked or T < 4:
        out = torch.empty_like(b)
        h = h0
        for t in range(T):
            h = torch.addcmul(b[t], a[t], h, out=out[t])
        return out
    K = math.isqrt(T)
    C = -(-T // K)  # chunks
    pad = C * K - T  # a = 1, b = 0 at the end changes nothing before it
    if pad:
        a = torch.cat([a, a.new_ones((pad, *a.shape[1:]))])
        b = torch.cat([b, b.new_zeros((pad, *b.shape[1:]))])
    # (C, K, ...): step k of every chunk at once; A = products of a within each chunk
    A = a.reshape(C, K, *a.shape[1:]).clone()
    h = b.reshape(C, K, *b.shape[1:]).clone()
    for k in range(1, K):
        h[:, k].addcmul_(A[:, k], h[:, k - 1])
        A[:, k].mul_(A[:, k - 1])
    starts = torch.empty_like(h[:, 0])  # (C, ...): the state each chunk starts from
    s = h0
    for c in range(C):
        starts[c] = s
        s = torch.addcmul(h[c, -1], A[c, -1], s)
    out = h.addcmul_(A, starts.unsqueeze(1)).reshape(C * K, *b.shape[1:])
    return out[:T]


def update_gate(gates: torch.Tensor, lstm: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``gates`` (..., G*H) -> ``(z, h~)`` (..., H), so that ``h_t = (1 - z) h_{t-1} + z h~``;
    a minLSTM's ``z`` is ``i'`` (module docstring)."""
    if lstm:
        k_i, k_f, h_tilde = gates.chunk(3, -1)
        return torch.sigmoid(F.logsigmoid(k_i) - F.logsigmoid(k_f)), h_tilde
    k_z, h_tilde = gates.chunk(2, -1)
    return torch.sigmoid(k_z), h_tilde


def cell_step(gates: torch.Tensor, h: torch.Tensor, lstm: bool) -> torch.Tensor:
    """One time step of a minGRU (``lstm=False``) or minLSTM layer: its gate pre-activations
    ``gates`` (N, G*H) and state ``h`` (N, H) -> the next state (N, H). The step mode runs it,
    and so does the exported scan (``rnnkit.export.padded``)."""
    z, h_tilde = update_gate(gates, lstm)
    return torch.lerp(h, h_tilde, z)  # (1 - z) * h + z * h~


def _backward_scan(a: torch.Tensor, g: torch.Tensor, chunked: bool) -> torch.Tensor:
    """``G_t = g_t + a_{t+1} G_{t+1}``, ``G_T = g_T``: the gradient of every ``h_t``."""
    if chunked:  # the same scan on the reversed sequence, with coefficient a_{t+1} at t
        a_next = torch.cat([a[1:], a[:1]]).flip(0)  # its first entry multiplies a zero
        return scan(a_next, g.flip(0), torch.zeros_like(g[0]), True).flip(0)
    G = torch.empty_like(g)
    G[-1] = g[-1]
    for t in range(g.size(0) - 2, -1, -1):
        torch.addcmul(g[t], a[t + 1], G[t + 1], out=G[t])
    return G


class MinRNNSequence(torch.autograd.Function):
    """One minGRU / minLSTM layer over a sequence, from its gate pre-activations.

    Inputs: ``gates`` (T, N, G*H), ``h0`` (N, H), ``mask`` (T, N, 1) bool or None, ``chunked``,
    ``lstm`` (bool). Output: ``out`` (T, N, H), every ``h_t``.

    Backward (module docstring) with ``dh_t = h_t - h_{t-1}``, ``a = 1 - z``: the update gate's
    pre-activation ``u`` (``a_z``, or ``logsigmoid(a_i) - logsigmoid(a_f)``) gets
    ``G * a * dh`` (as ``z (1 - z) (h~ - h_{t-1}) = (1 - z) dh``), ``h~`` gets ``G * z``. A padded
    step has ``z = 0`` and ``dh = 0``, so its gates get no gradient.
    """

    @staticmethod
    def forward(ctx, gates, h0, mask, chunked, lstm):
        z, h_tilde = update_gate(gates, lstm)
        if mask is not None:  # a padded step keeps the state: a = 1, b = 0
            z = z.masked_fill(~mask, 0.0)
        a = 1.0 - z
        out = scan(a, z * h_tilde, h0, chunked)
        ctx.chunked, ctx.lstm = chunked, lstm
        ctx.save_for_backward(gates if lstm else None, z, a, out, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        gates, z, a, out, h0 = ctx.saved_tensors
        G = _backward_scan(a, grad_out, ctx.chunked)
        dh = torch.empty_like(out)  # h_t - h_{t-1}
        torch.sub(out[0], h0, out=dh[0])
        torch.sub(out[1:], out[:-1], out=dh[1:])
        du = dh.mul_(G).mul_(a)
        d_gates = z.new_empty(*z.shape[:-1], ctx.lstm + 2, z.size(-1))
        torch.mul(G, z, out=d_gates[..., -1, :])  # h~
        if ctx.lstm:  # u = logsigmoid(a_i) - logsigmoid(a_f); d logsigmoid(k)/dk = sigmoid(-k)
            k_i, k_f, _ = gates.chunk(3, -1)
            torch.mul(du, torch.sigmoid(k_i.neg()), out=d_gates[..., 0, :])
            torch.mul(du, torch.sigmoid(k_f.neg()), out=d_gates[..., 1, :]).neg_()
        else:
            d_gates[..., 0, :] = du
        d_h0 = a[0] * G[0] if ctx.needs_input_grad[1] else None
        return d_gates.flatten(-2), d_h0, None, None, None


class _MinRNN(TorchStyleLayer):
    """What MinGRU and MinLSTM share; ``gates`` (G) blocks per layer tell them apart."""

    gates = 2
    REPR_DEFAULTS = {**TorchStyleLayer.REPR_DEFAULTS, "mode": "parallel"}

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
        device=None,
        dtype=None,
    ):
        # The dropout warning points at the caller, as in layers._Recurrent.
        level = 3 if type(self).__init__ is _MinRNN.__init__ else 4
        bidirectional = bool(bidirectional)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, level
        )
        self.mode = mode
        self._add_weights(device, dtype, recurrent=False)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ConfigError(f"unknown mode {value!r}: choose one of {', '.join(MODES)}")
        self._mode = value

    def _scan(self, x, state: tuple[torch.Tensor], suffix: str, mask, reverse: int):
        """One layer in one direction; backwards, each row's valid steps are reversed in
        place and the padding kept, and the reversal of the output undoes itself."""
        step = self.mode == "step" or x.size(0) == 1
        order = _reversal(x.size(0), mask) if reverse else None
        out, h = self._layer(suffix, _take(x, order) if reverse else x, state[0], mask, step)
        return (_take(out, order) if reverse else out), (h,)

    def _layer(self, suffix: str, x, h0, mask, step: bool):
        """One layer and direction over ``x`` (T, N, I_k) from ``h0`` (N, H) ->
        ``(out (T, N, H), h_n (N, H))``."""
        weight = getattr(self, "weight_ih" + suffix)
        bias = getattr(self, "bias_ih" + suffix) if self.bias else None
        lstm = self.gates == 3
        if not step:
            gates = Linear.apply(x, weight, bias)  # (T, N, G*H): every step in one product
            chunked = h0.numel() < CHUNKED_BELOW
            out = MinRNNSequence.apply(gates, h0, mask, chunked, lstm)  # (T, N, H)
            return out, out[-1]  # a padded step keeps the state: the last is each one's own

        def one_step(x_t, state):  # (N, I_k), (h,) -> (h',)
            return (cell_step(F.linear(x_t, weight, bias), state[0], lstm),)

        out, (h,) = masked_steps(one_step, x, (h0,), mask)
        return out, h


def _reversal(T: int, mask: torch.Tensor | None) -> torch.Tensor:
    """(T, N, 1) or (T, 1, 1) time indices that reverse each row's first ``length`` steps."""
    steps = torch.arange(T, device=None if mask is None else mask.device)
    if mask is None:
        return steps.flip(0)[:, None, None]
    lengths = mask.sum(0, keepdim=True)  # (1, N, 1)
    steps = steps[:, None, None]
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


def _take(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``x`` (T, N, F) with step ``order[t, n]`` of row n at step t."""
    return x.gather(0, order.expand(-1, x.size(1), x.size(2)))


_MIN_DOC = layer_doc(
    more="""
        mode: ``"parallel"`` (gates of all steps in one product, then the scan) or ``"step"``
            (one step after another); the same numbers either way. Settable later.

    Parameters: ``weight_ih_l{k}`` (G*H, I_k) and ``bias_ih_l{k}`` (G*H), ``_reverse`` for
    the backward direction; no ``weight_hh``.""",
    biases="``bias_ih_l{k}``",
)


class MinGRU(_MinRNN):
    __doc__ = (
        "A stack of minGRU layers (Feng et al. 2024), torch.nn.GRU's signature.\n\n"
        "    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t, with z_t = sigmoid(W_z x_t + b_z) and\n"
        "    h~_t = W_h x_t + b_h; gates stacked ``z|h~`` (G = 2). See the module docstring.\n"
        + _MIN_DOC
    )

    gates = 2


class MinLSTM(_MinRNN):
    __doc__ = (
        "A stack of minLSTM layers (Feng et al. 2024), torch.nn.GRU's signature: no cell\n"
        "    state, so the state is h alone.\n\n"
        "    h_t = f'_t * h_{t-1} + i'_t * h~_t, with f', i' the forget and input gates\n"
        "    normalised to sum to 1; gates stacked ``i|f|h~`` (G = 3). See the module docstring.\n"
        + _MIN_DOC
    )

    gates = 3
