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
