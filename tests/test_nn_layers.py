"""The scratch RNN / LSTM / GRU stacks against torch.nn's: same weights, outputs and gradients."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.errors import ConfigError
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn import GRU, LSTM, RNN, MinGRU, MinLSTM
from rnnkit.nn.recurrent import build_recurrent

I, H, N, T = 3, 4, 3, 5
DT = torch.float64
LENGTHS = torch.tensor([3, 5, 1])  # unsorted on purpose: enforce_sorted=False must reorder

LAYERS = {
    "rnn_tanh": (RNN, nn.RNN, {}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, {}),
    "gru": (GRU, nn.GRU, {}),
}


def make_pair(kind: str, **kwargs):
    """(ours, torch's) with torch's weights loaded into ours, in float64."""
    ours_cls, ref_cls, extra = LAYERS[kind]
    ref = ref_cls(I, H, dtype=DT, **extra, **kwargs)
    ours = ours_cls(I, H, dtype=DT, **extra, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_()


def padded(out, batch_first: bool) -> torch.Tensor:
    if isinstance(out, PackedSequence):
        return pad_packed_sequence(out, batch_first=batch_first, total_length=T)[0]
    return out


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dicts_are_interchangeable(kind, bidirectional, bias):
    ours, ref = make_pair(kind, num_layers=2, bidirectional=bidirectional, bias=bias)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for name, p in ref.state_dict().items():
        assert ours.state_dict()[name].shape == p.shape, name
    ref.load_state_dict(ours.state_dict(), strict=True)
    assert ("weight_hh_l1_reverse" in ours.state_dict()) == bidirectional


def test_same_seed_same_initial_weights_as_torch():
    torch.manual_seed(3)
    ref = nn.GRU(I, H, 2, bidirectional=True)
    torch.manual_seed(3)
    ours = GRU(I, H, 2, bidirectional=True)
    for (name, a), (_, b) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
        assert torch.equal(a, b), name
        assert a.abs().max() <= H**-0.5


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("mode", ["padded", "packed", "lengths"])
@pytest.mark.parametrize("bptt", ["manual", "autograd"])
def test_parity_with_torch(kind, num_layers, bidirectional, batch_first, mode, bptt):
    """Outputs, final states, parameter and input gradients match torch.nn in float64.

    ``lengths`` feeds ours padded input with ``lengths=`` and torch the packed equivalent.
    ``bptt`` is the hand-written backward pass or autograd through the loop over cells.
    """
    torch.manual_seed(0)
    ours, ref = make_pair(
        kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    ours.bptt = bptt
    D = 2 if bidirectional else 1
    x = torch.randn(*((N, T) if batch_first else (T, N)), I, dtype=DT)
    hx = tuple(
        torch.randn(D * num_layers, N, H, dtype=DT) for _ in range(2 if kind == "lstm" else 1)
    )
    out_weight = torch.randn(*x.shape[:2], D * H, dtype=DT)
    state_weights = [torch.randn_like(h) for h in hx]

    def run(model, as_packed: bool, lengths=None):
        x_leaf, hx_leaf = leaf(x), tuple(leaf(h) for h in hx)
        inp = x_leaf
        if as_packed:
            inp = pack_padded_sequence(
                x_leaf, LENGTHS, batch_first=batch_first, enforce_sorted=False
            )
        kwargs = {} if lengths is None else {"lengths": lengths}
        out, state = model(inp, hx_leaf if kind == "lstm" else hx_leaf[0], **kwargs)
        loss = (padded(out, batch_first) * out_weight).sum()
        loss = loss + sum(
            (s * w).sum() for s, w in zip(as_tuple(state), state_weights, strict=True)
        )
        loss.backward()
        return out, as_tuple(state), x_leaf.grad, [h.grad for h in hx_leaf]

    ref_result = run(ref, as_packed=mode != "padded")
    ours_result = run(
        ours, as_packed=mode == "packed", lengths=LENGTHS if mode == "lengths" else None
    )
    out, state, x_grad, hx_grads = ours_result
    ref_out, ref_state, ref_x_grad, ref_hx_grads = ref_result

    tight = {"atol": 1e-10, "rtol": 0}
    if mode == "packed":
        assert isinstance(out, PackedSequence)
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            assert torch.equal(getattr(out, field), getattr(ref_out, field)), field
        torch.testing.assert_close(out.data, ref_out.data, **tight)
    else:
        torch.testing.assert_close(out, padded(ref_out, batch_first), **tight)
    for s, ref_s in zip(state, ref_state, strict=True):
        assert s.shape == (D * num_layers, N, H)
        torch.testing.assert_close(s, ref_s, **tight)
    torch.testing.assert_close(x_grad, ref_x_grad, **tight)
    torch.testing.assert_close(hx_grads, ref_hx_grads, **tight)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, **tight, msg=name)


@pytest.mark.parametrize("kind", LAYERS)
def test_padding_never_leaks(kind):
    """Changing the padded steps changes no valid output, no final state, no gradient."""
    torch.manual_seed(0)
    model = LAYERS[kind][0](I, H, 2, bidirectional=True, dtype=DT)
    x = torch.randn(T, N, I, dtype=DT)
    noisy = x.clone()
    for n, length in enumerate(LENGTHS.tolist()):
        noisy[length:, n] = 100 * torch.randn(T - length, I, dtype=DT)
    x, noisy = leaf(x), leaf(noisy)
    out, state = model(x, lengths=LENGTHS)
    noisy_out, noisy_state = model(noisy, lengths=LENGTHS)
    torch.testing.assert_close(out, noisy_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(state, noisy_state, atol=1e-12, rtol=0)
    valid = torch.arange(T)[:, None] < LENGTHS[None, :]  # (T, N)
    assert (out[~valid] == 0).all()
    (out.sum() + sum(s.sum() for s in as_tuple(state))).backward()
    assert (x.grad[~valid] == 0).all() and (x.grad[valid] != 0).any()


@pytest.mark.parametrize("kind", LAYERS)
def test_dropout_between_layers(kind):
    torch.manual_seed(0)
    ours, ref = make_pair(kind, num_layers=2, dropout=0.5)
    x = torch.randn(T, N, I, dtype=DT)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-12, rtol=0)
    ours.train()
    train_out, train_state = ours(x)
    assert train_out.shape == (T, N, H)
    assert not torch.allclose(train_out, ours.eval()(x)[0])


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        GRU(I, H, 1, dropout=0.2)
    # The warning names the line that built the layer, as torch's does.
    for cls in (RNN, LSTM, GRU, MinGRU, MinLSTM):
        with pytest.warns(UserWarning, match="num_layers greater than 1") as caught:
            cls(I, H, 1, dropout=0.2)
        assert [w.filename for w in caught] == [__file__], cls.__name__
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        GRU(I, H, 2, dropout=1.5)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
def test_unbatched_input(kind, bidirectional, with_hx, batch_first):
    torch.manual_seed(0)
    ours, ref = make_pair(kind, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    D = 2 if bidirectional else 1
    x = torch.randn(T, I, dtype=DT)
    hx = None
    if with_hx:
        h = torch.randn(D * 2, H, dtype=DT)
        hx = (h, torch.randn_like(h)) if kind == "lstm" else h
    out, state = ours(x, hx)
    assert out.shape == (T, D * H)
    assert all(s.shape == (D * 2, H) for s in as_tuple(state))
    torch.testing.assert_close((out, state), ref(x, hx), atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
def test_shapes(kind, batch_first):
    model = LAYERS[kind][0](I, H, 3, bidirectional=True, batch_first=batch_first)
    x = torch.randn(N, T, I) if batch_first else torch.randn(T, N, I)
    out, state = model(x)
    assert out.shape == ((N, T, 2 * H) if batch_first else (T, N, 2 * H))
    assert out.is_contiguous()
    assert isinstance(state, tuple) == (kind == "lstm")
    assert all(s.shape == (2 * 3, N, H) for s in as_tuple(state))  # batch_first or not


def test_hx_given_equals_continuing():
    """Passing the returned state back in equals running the whole sequence at once."""
    torch.manual_seed(0)
    model = LSTM(I, H, 2, dtype=DT)
    x = torch.randn(T, N, I, dtype=DT)
    full, _ = model(x)
    a, state = model(x[:2])
    b, _ = model(x[2:], state)
    torch.testing.assert_close(torch.cat([a, b]), full)


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize("kind", LAYERS)
def test_size_errors_read_like_torch(kind):
    ours, ref = make_pair(kind, num_layers=2)
    lstm = kind == "lstm"
    h, wrong = torch.randn(2, N, H, dtype=DT), torch.randn(1, N, H, dtype=DT)
    x = torch.randn(T, N, I, dtype=DT)
    bad_calls = [
        (torch.randn(T, N, I + 3, dtype=DT), None),  # wrong input size
        (x, (wrong, h) if lstm else wrong),  # wrong hidden size
        (x, (h[0], h[0]) if lstm else h[0]),  # 2-D state for 3-D input
        (x[:, 0], (h, h) if lstm else h),  # 3-D state for 2-D input
    ]
    if lstm:
        bad_calls.append((x, (h, torch.randn(2, N, H + 1, dtype=DT))))
    for x_bad, hx in bad_calls:
        assert _error(lambda x=x_bad, hx=hx: ours(x, hx)) == _error(
            lambda x=x_bad, hx=hx: ref(x, hx)
        )
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        ours(torch.randn(1, T, N, I, dtype=DT))


def test_error_messages_text():
    gru = GRU(I, H, 2)
    with pytest.raises(RuntimeError, match=r"input_size. Expected 3, got 6"):
        gru(torch.randn(T, N, 6))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 4\), got \[1, 3, 4\]"):
        gru(torch.randn(T, N, I), torch.randn(1, N, H))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 3, 4\)"):
        LSTM(I, H)(torch.randn(T, N, I), (torch.zeros(1, N, H), torch.zeros(1, N, 5)))
    with pytest.raises(ConfigError, match="proj_size"):
        LSTM(I, H, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="lengths must hold one length"):
        gru(torch.randn(T, N, I), lengths=torch.tensor([1, 2, T + 1]))


def test_build_recurrent_scratch_backend():
    model = build_recurrent("lstm", I, H, 2, 0.1, backend="scratch")
    assert isinstance(model, LSTM) and model.num_layers == 2 and model.dropout == 0.1
    assert not model.batch_first
    with pytest.raises(ConfigError, match="unknown backend"):
        build_recurrent("lstm", I, H, backend="cudnn")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_language_model_trains_the_same_with_either_backend(cell):
    """Same seed, same batches, 30 SGD steps: both backends give the same losses."""
    models, losses = {}, {}
    V = 11
    for backend in ("torch", "scratch"):
        torch.manual_seed(0)
        model = RNNLanguageModel(LMConfig(V, cell, 6, 2, embed_size=5, backend=backend)).double()
        models[backend] = model
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        gen = torch.Generator().manual_seed(1)
        losses[backend] = []
        for _ in range(30):
            idx = torch.randint(0, V, (N, T + 1), generator=gen)
            _, loss, _ = model(idx[:, :-1], idx[:, 1:])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[backend].append(loss.item())
    torch.testing.assert_close(losses["scratch"], losses["torch"], atol=1e-9, rtol=0)
    assert losses["scratch"][-1] < losses["scratch"][0]
    scratch, fused = models["scratch"], models["torch"]
    assert isinstance(scratch.rnn, (RNN, LSTM, GRU)) and isinstance(fused.rnn, nn.RNNBase)
    fused.load_state_dict(scratch.state_dict(), strict=True)
    scratch.load_state_dict(fused.state_dict(), strict=True)
