import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn.recurrent import detach_state


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embed_size", [None, 0, 12])
def test_shapes_and_contract(cell, embed_size):
    V, N, T, H, L = 17, 3, 5, 8, 2
    model = RNNLanguageModel(LMConfig(V, cell, H, L, embed_size=embed_size))
    idx = torch.randint(0, V, (N, T))
    logits, loss, state = model(idx, torch.randint(0, V, (N, T)))
    assert logits.shape == (N, T, V)
    assert loss.ndim == 0 and torch.isfinite(loss)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (L, N, H)
    init = model.init_state(N)
    assert (init[0] if cell == "lstm" else init).shape == (L, N, H)
    assert model(idx)[1] is None


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_state_equals_one_long_sequence(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(11, cell, 6, 2)).eval()
    idx = torch.randint(0, 11, (2, 10))
    full, _, _ = model(idx)
    a, _, s = model(idx[:, :4])
    b, _, _ = model(idx[:, 4:], state=detach_state(s))
    torch.testing.assert_close(torch.cat([a, b], 1), full)


def test_loss_is_mean_cross_entropy():
    model = RNNLanguageModel(LMConfig(9, "gru", 4, 1))
    idx, tgt = torch.randint(0, 9, (2, 3)), torch.randint(0, 9, (2, 3))
    logits, loss, _ = model(idx, tgt)
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), tgt.reshape(-1))
    torch.testing.assert_close(loss, ref)


def test_tied_weights_share_one_tensor():
    model = RNNLanguageModel(LMConfig(20, "lstm", 8, 1, tie_weights=True))
    assert model.decoder.weight is model.embedding.weight
    with pytest.raises(ConfigError, match="embed-size"):
        LMConfig(20, "lstm", 8, 1, embed_size=4, tie_weights=True)


def test_init_range_bounds_every_parameter():
    model = RNNLanguageModel(LMConfig(30, "lstm", 16, 2, init_range=0.05))
    assert all(p.abs().max() <= 0.05 for p in model.parameters())


@pytest.mark.parametrize(
    "kwargs",
    [dict(hidden_size=0), dict(num_layers=-1), dict(cell="tcn"), dict(dropout=1.0)],
)
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        LMConfig(10, **kwargs)


def test_detach_state_cuts_graph_for_tuple_and_tensor():
    h = torch.ones(1, requires_grad=True) * 2
    assert not detach_state(h).requires_grad
    assert all(not s.requires_grad for s in detach_state((h, h)))
    assert detach_state(None) is None


@pytest.mark.parametrize("backend", ["torch", "scratch"])
def test_forget_bias_sets_the_forget_block_only(backend):
    m = RNNLanguageModel(LMConfig(10, "lstm", 4, 2, forget_bias=1.0, backend=backend))
    for k in range(2):
        b_ih, b_hh = getattr(m.rnn, f"bias_ih_l{k}"), getattr(m.rnn, f"bias_hh_l{k}")
        assert torch.equal(b_ih[4:8], torch.ones(4)) and torch.equal(b_hh[4:8], torch.zeros(4))
        assert not torch.equal(b_ih[:4], torch.ones(4))
    with pytest.raises(ConfigError, match="forget gate"):
        LMConfig(10, "gru", 4, forget_bias=1.0)


def test_locked_dropout_mask_is_shared_over_time():
    torch.manual_seed(0)
    m = RNNLanguageModel(LMConfig(10, "gru", 6, 1, dropout=0.5, locked_dropout=True))
    x = torch.ones(7, 3, 6)  # (T, N, F)
    dropped = m._dropout(x)
    assert torch.equal(dropped, dropped[:1].expand_as(dropped))  # same mask at every t
    assert (dropped == 0).any() and (dropped == 2).any()
    m.eval()
    assert torch.equal(m._dropout(x), x)


@pytest.mark.parametrize("backend", ["torch", "scratch"])
def test_weight_drop_is_functional_and_trains(backend):
    torch.manual_seed(0)
    m = RNNLanguageModel(LMConfig(12, "lstm", 8, 2, weight_drop=0.5, backend=backend))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randint(0, 12, (2, 5))
    _, loss, _ = m(x, x)
    loss.backward()
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # not replaced
    assert m.rnn.weight_hh_l0.grad is not None and m.rnn.weight_hh_l0.grad.abs().sum() > 0
    m.eval()
    a, b = m(x)[0], m(x)[0]
    assert torch.equal(a, b)  # no dropping at evaluation


def test_regularisers_agree_across_backends():
    outs = []
    for backend in ("torch", "scratch"):
        torch.manual_seed(3)
        cfg = LMConfig(
            15,
            "lstm",
            8,
            2,
            dropout=0.3,
            locked_dropout=True,
            weight_drop=0.4,
            forget_bias=1.0,
            backend=backend,
        )
        m = RNNLanguageModel(cfg).double()
        x = torch.randint(0, 15, (3, 6))
        outs.append(m(x, x)[1].item())
    assert abs(outs[0] - outs[1]) < 1e-9
