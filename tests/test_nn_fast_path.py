"""The float32 CPU fast path (oneDNN-packed recurrent weights) gives torch.nn's numbers."""

import pytest
import torch
from torch import nn

import rnnkit.nn as scratch
from rnnkit.nn.bptt import times_transposed

PAIRS = [(nn.LSTM, scratch.LSTM), (nn.GRU, scratch.GRU), (nn.RNN, scratch.RNN)]


@pytest.mark.parametrize("ref_cls,ours_cls", PAIRS)
def test_float32_parity(ref_cls, ours_cls):
    torch.manual_seed(0)
    ref, ours = ref_cls(16, 32, 2), ours_cls(16, 32, 2)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(12, 5, 16, requires_grad=True)
    out_r, _ = ref(x)
    out, _ = ours(x)
    torch.testing.assert_close(out, out_r, rtol=1e-4, atol=1e-5)
    g_r = torch.autograd.grad(out_r.square().sum(), [x, *ref.parameters()])
    g = torch.autograd.grad(out.square().sum(), [x, *ours.parameters()])
    for a, b in zip(g, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_packed_weight_follows_in_place_updates():
    w = torch.randn(8, 4)
    h = torch.randn(3, 4)
    torch.testing.assert_close(times_transposed(w, 3)(h), h @ w.t())
    with torch.no_grad():
        w.mul_(2)  # what an optimizer step does
    torch.testing.assert_close(times_transposed(w, 3)(h), h @ w.t())
    torch.testing.assert_close(
        times_transposed(w, 3, transposed=True)(h[:, :2].repeat(1, 4)), h[:, :2].repeat(1, 4) @ w
    )


def test_training_steps_match_torch_in_float32():
    torch.manual_seed(0)
    ref, ours = nn.LSTM(8, 16), scratch.LSTM(8, 16)
    ours.load_state_dict(ref.state_dict())
    opts = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (ref, ours)]
    x = torch.randn(10, 4, 8)
    for _ in range(5):
        losses = []
        for m, opt in zip((ref, ours), opts, strict=True):
            opt.zero_grad()
            loss = m(x)[0].square().mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) < 1e-5
