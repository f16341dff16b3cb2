"""Hand-written BPTT equals torch.nn (outputs and every gradient) and passes gradcheck."""

import pytest
import torch
from torch import nn

from rnnkit.nn.bptt import GRUSequence, LSTMSequence, RNNSequence

T, N, I, H = 6, 3, 4, 5
KINDS = ["lstm", "gru", "tanh", "relu"]


def reference(kind):
    if kind == "lstm":
        return nn.LSTM(I, H).double()
    if kind == "gru":
        return nn.GRU(I, H).double()
    return nn.RNN(I, H, nonlinearity=kind).double()


def ours(kind, ref, x, h0, c0, mask):
    xp = x @ ref.weight_ih_l0.t() + ref.bias_ih_l0  # (T, N, G*H), autograd does this part
    w, b = ref.weight_hh_l0, ref.bias_hh_l0
    if kind == "lstm":
        out, h, c = LSTMSequence.apply(xp, h0, c0, w, b, mask)
        return out, (h, c)
    if kind == "gru":
        return GRUSequence.apply(xp, h0, w, b, mask)
    return RNNSequence.apply(xp, h0, w, b, mask, kind == "relu")


def loss_of(out, state, weights):
    states = state if isinstance(state, tuple) else (state,)
    return (out * weights).sum() + sum((k + 1) * 0.3 * s.sum() for k, s in enumerate(states))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("packed", [False, True])
def test_matches_torch_nn(kind, packed):
    torch.manual_seed(0)
    ref = reference(kind)
    x = torch.randn(T, N, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(N, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(N, H, dtype=torch.float64, requires_grad=True)
    hx = (h0[None], c0[None]) if kind == "lstm" else h0[None]
    weights = torch.randn(T, N, H, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 1])
    mask = None
    if packed:
        mask = (torch.arange(T)[:, None] < lengths[None, :])[..., None]  # (T, N, 1)
        seq = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out_r, st_r = ref(seq, hx)
        out_r = nn.utils.rnn.pad_packed_sequence(out_r, total_length=T)[0]
    else:
        out_r, st_r = ref(x, hx)
    st_r = tuple(s[0] for s in st_r) if kind == "lstm" else st_r[0]
    out, st = ours(kind, ref, x, h0, c0, mask)
    if mask is not None:
        out = out * mask  # padded outputs are zero, as pad_packed_sequence gives
    leaves = [x, h0, *ref.parameters()] + ([c0] if kind == "lstm" else [])
    g_ref = torch.autograd.grad(loss_of(out_r, st_r, weights), leaves)
    g_ours = torch.autograd.grad(loss_of(out, st, weights), leaves)
    torch.testing.assert_close(out, out_r, rtol=0, atol=1e-12)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck(kind, bias):
    torch.manual_seed(1)
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    xp = torch.randn(3, 2, G * H, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(G * H, H, dtype=torch.float64) * 0.5).requires_grad_()
    b = torch.randn(G * H, dtype=torch.float64, requires_grad=True) if bias else None
    mask = torch.tensor([[True, True], [True, False], [False, False]])[..., None]
    for m in (None, mask):
        if kind == "lstm":
            fn, args = (lambda *a, m=m: LSTMSequence.apply(*a, b, m)), (xp, h0, c0, w)
        elif kind == "gru":
            fn, args = (lambda *a, m=m: GRUSequence.apply(*a, b, m)), (xp, h0, w)
        else:
            fn, args = (lambda *a, m=m: RNNSequence.apply(*a, b, m, kind == "relu")), (xp, h0, w)
        assert torch.autograd.gradcheck(fn, args)
