"""The scratch cells against torch.nn's: same weights, same outputs, same gradients."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.nn import GRUCell, LSTMCell, RNNCell

I, H, N = 3, 4, 3
DT = torch.float64

CELLS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
    "gru": (GRUCell, nn.GRUCell, {}),
}


def make_pair(kind: str, bias: bool = True):
    """(ours, torch's) with torch's weights loaded into ours, in float64."""
    ours_cls, ref_cls, kwargs = CELLS[kind]
    ref = ref_cls(I, H, bias=bias, dtype=DT, **kwargs)
    ours = ours_cls(I, H, bias=bias, dtype=DT, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def random_state(kind: str, *batch: int):
    h = torch.randn(*batch, H, dtype=DT)
    return (h, torch.randn_like(h)) if kind == "lstm" else h


@pytest.mark.parametrize("kind", CELLS)
def test_parameters_match_torch(kind):
    ours, ref = make_pair(kind)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    ref.load_state_dict(ours.state_dict(), strict=True)
    no_bias, ref_no_bias = make_pair(kind, bias=False)
    assert set(no_bias.state_dict()) == set(ref_no_bias.state_dict()) == {"weight_ih", "weight_hh"}


def test_init_is_uniform_in_one_over_sqrt_h():
    cell = LSTMCell(I, 16)
    for p in cell.parameters():
        assert p.abs().max() <= 16**-0.5
    assert cell.weight_ih.shape == (4 * 16, I) and cell.weight_hh.shape == (4 * 16, 16)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("batch", [(N,), ()], ids=["batched", "unbatched"])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_parity_with_torch(kind, batch, with_hx, bias):
    torch.manual_seed(0)
    ours, ref = make_pair(kind, bias)
    x = torch.randn(*batch, I, dtype=DT)
    hx = random_state(kind, *batch) if with_hx else None
    got, want = ours(x, hx), ref(x, hx)
    if kind == "lstm":
        assert isinstance(got, tuple) and len(got) == 2
        assert got[0].shape == got[1].shape == (*batch, H)
    else:
        assert got.shape == (*batch, H)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", CELLS)
def test_gradcheck(kind):
    torch.manual_seed(0)
    ours, _ = make_pair(kind)
    names = [name for name, _ in ours.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in ours.parameters()]
    x = torch.randn(2, I, dtype=DT, requires_grad=True)
    state = random_state(kind, 2)
    states = state if kind == "lstm" else (state,)
    states = tuple(s.requires_grad_() for s in states)

    def step(x, *tensors):
        hx, ps = tensors[: len(states)], tensors[len(states) :]
        hx = hx if kind == "lstm" else hx[0]
        return functional_call(ours, dict(zip(names, ps, strict=True)), (x, hx))

    assert torch.autograd.gradcheck(step, (x, *states, *params))


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize("kind", CELLS)
def test_size_errors_read_like_torch(kind):
    ours, ref = make_pair(kind)
    bad_calls = [
        (torch.randn(N, I + 2, dtype=DT), None),  # wrong input size
        (torch.randn(N, I, dtype=DT), random_state(kind, N + 1)),  # batch mismatch
    ]
    h, wrong = torch.randn(N, H, dtype=DT), torch.randn(N, H + 1, dtype=DT)
    if kind == "lstm":
        bad_calls += [
            (torch.randn(N, I, dtype=DT), (wrong, h)),
            (torch.randn(N, I, dtype=DT), (h, wrong)),
        ]
    else:
        bad_calls += [(torch.randn(N, I, dtype=DT), wrong)]
    for x, hx in bad_calls:
        assert _error(lambda x=x, hx=hx: ours(x, hx)) == _error(lambda x=x, hx=hx: ref(x, hx))
    got = _error(lambda: ours(torch.randn(2, N, I, dtype=DT)))
    assert got == _error(lambda: ref(torch.randn(2, N, I, dtype=DT)))


def test_error_messages_text():
    cell = LSTMCell(I, H)
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        cell(torch.randn(2, 5))
    with pytest.raises(
        RuntimeError, match="hidden1 has inconsistent hidden_size: got 5, expected 4"
    ):
        cell(torch.randn(2, I), (torch.randn(2, H), torch.randn(2, 5)))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        GRUCell(I, H)(torch.randn(1, 2, I))
