import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn.layernorm_lstm import LayerNormLSTM, LayerNormLSTMCell


def reference_step(cell, x, h, c):
    """The equations of Ba et al. (2016), written independently of the module."""
    H = cell.hidden_size
    ln = lambda v, m: F.layer_norm(v, (v.size(-1),), m.weight, m.bias)  # noqa: E731
    a = ln(x @ cell.weight_ih.t(), cell.ln_ih) + ln(h @ cell.weight_hh.t(), cell.ln_hh)
    a = a + cell.bias
    i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * ln(c, cell.ln_c).tanh(), c


def test_cell_follows_the_equations_and_gradchecks():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(3, 4).double()
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for m in (cell.ln_ih, cell.ln_hh, cell.ln_c):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, 4, 4))
    got = cell(x, (h, c))
    want = reference_step(cell, x, h, c)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    xs = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: cell(v, (h, c)), (xs,))


def test_layer_shapes_state_and_carry():
    torch.manual_seed(0)
    layer = LayerNormLSTM(3, 5, num_layers=2).eval()
    x = torch.randn(7, 2, 3)
    out, (h, c) = layer(x)
    assert out.shape == (7, 2, 5) and h.shape == c.shape == (2, 2, 5)
    a, s = layer(x[:3])
    b, _ = layer(x[3:], s)
    torch.testing.assert_close(torch.cat([a, b]), out)
    with pytest.raises(ConfigError, match="unidirectional"):
        LayerNormLSTM(3, 5, bidirectional=True)


def test_language_model_with_layer_norm_lstm_learns():
    torch.manual_seed(0)
    m = RNNLanguageModel(LMConfig(6, "lnlstm", 16, 1, backend="scratch", forget_bias=1.0))
    assert torch.equal(m.rnn.cells[0].bias[16:32], torch.ones(16))
    assert not torch.equal(m.rnn.cells[0].ln_ih.bias[16:32], torch.ones(16))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x = torch.arange(6).repeat(4, 3)  # a periodic sequence: easy to learn
    first = None
    for _ in range(60):
        _, loss, _ = m(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.2 * first
    with pytest.raises(ConfigError, match="--backend scratch"):
        RNNLanguageModel(LMConfig(6, "lnlstm", 8, 1, backend="torch"))


def test_weight_drop_reaches_the_layer_norm_lstm():
    torch.manual_seed(0)
    m = RNNLanguageModel(LMConfig(6, "lnlstm", 8, 1, backend="scratch", weight_drop=0.9))
    x = torch.randint(0, 6, (2, 5))
    a = m(x)[0]
    b = m(x)[0]
    assert not torch.equal(a, b)  # a new recurrent mask per call in training
    m.eval()
    assert torch.equal(m(x)[0], m(x)[0])
