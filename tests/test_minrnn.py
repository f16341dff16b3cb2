"""minGRU / minLSTM (rnnkit/nn/minrnn.py, deep_minrnn.py): the parallel scan against the step
mode, against the recurrence written out, gradcheck, padding, state carried across windows;
the language model on them; the command line."""

from __future__ import annotations

import pytest
import torch
from conftest import (
    _CLASSIFY_SMALL,
    TINY_TRAIN_ARGS,
    call_cli,
    toy_pairs,
    write_csv,
    write_tiny_text,
    write_tsv,
)
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.errors import ConfigError, ExportError
from rnnkit.export.lm import on_torch_layers
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn import DeepMinGRU, DeepMinLSTM, MinGRU, MinLSTM
from rnnkit.nn.minrnn import MinRNNSequence, scan

LAYERS = [MinGRU, MinLSTM, DeepMinGRU, DeepMinLSTM]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _inputs(dtype, T=11, N=4, I=5, L=3, H=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, I, generator=g, dtype=dtype)
    h0 = torch.randn(L, N, H, generator=g, dtype=dtype)
    return x, h0


def _layer(cls, dtype, I=5, H=6, L=3, **kw):
    torch.manual_seed(1)
    return cls(I, H, L, **kw).to(dtype)


def _reference(gates: torch.Tensor, h0: torch.Tensor, lstm: bool) -> torch.Tensor:
    """The paper's equations, one step at a time, written out without any shared helper."""
    out, h = [], h0
    for g in gates:
        if lstm:
            k_i, k_f, h_tilde = g.chunk(3, -1)
            i, f = torch.sigmoid(k_i), torch.sigmoid(k_f)
            h = f / (f + i) * h + i / (f + i) * h_tilde
        else:
            k_z, h_tilde = g.chunk(2, -1)
            z = torch.sigmoid(k_z)
            h = (1 - z) * h + z * h_tilde
        out.append(h)
    return torch.stack(out)


# ---- the scan ----------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 2, 5, 16, 37])
def test_chunked_scan_equals_the_sequential_one(T):
    g = torch.Generator().manual_seed(T)
    a = torch.rand(T, 3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(T, 3, 4, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    expected, h = [], h0
    for t in range(T):
        h = a[t] * h + b[t]
        expected.append(h)
    for chunked in (False, True):
        torch.testing.assert_close(scan(a, b, h0, chunked), torch.stack(expected))


@pytest.mark.parametrize("lstm", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_scan_gradcheck(lstm, chunked, padded):
    T, N, H = 7, 3, 2
    g = torch.Generator().manual_seed(3)
    gates = torch.randn(T, N, (3 if lstm else 2) * H, generator=g, dtype=torch.float64)
    h0 = torch.randn(N, H, generator=g, dtype=torch.float64)
    mask = None
    if padded:
        mask = (torch.arange(T)[:, None] < torch.tensor([7, 3, 1])[None]).unsqueeze(-1)

    def fn(gates, h0):
        return MinRNNSequence.apply(gates, h0, mask, chunked, lstm)

    assert torch.autograd.gradcheck(fn, (gates.requires_grad_(), h0.requires_grad_()))


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_parallel_matches_the_equations(cls):
    x, h0 = _inputs(torch.float64, L=1)
    layer = _layer(cls, torch.float64, L=1)
    out, h_n = layer(x, h0)
    gates = torch.nn.functional.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)
    expected = _reference(gates, h0[0], lstm=cls is MinLSTM)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], expected[-1], rtol=0, atol=1e-12)


# ---- parallel == step --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("padded", [False, True])
def test_parallel_equals_step(cls, dtype, padded):
    x, h0 = _inputs(dtype)
    lengths = torch.tensor([11, 4, 1, 7]) if padded else None
    layer = _layer(cls, dtype)
    out_p, h_p = layer(x, h0, lengths=lengths)
    layer.mode = "step"
    out_s, h_s = layer(x, h0, lengths=lengths)
    tol = TOL[dtype]
    torch.testing.assert_close(out_p, out_s, rtol=0, atol=tol)
    torch.testing.assert_close(h_p, h_s, rtol=0, atol=tol)
    # the gradients agree too
    grads = []
    for mode in ("parallel", "step"):
        layer.mode = mode
        layer.zero_grad()
        out, h = layer(x, h0, lengths=lengths)
        (out.sin().sum() + h.cos().sum()).backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for gp, gs in zip(*grads, strict=True):
        torch.testing.assert_close(gp, gs, rtol=0, atol=100 * tol)


@pytest.mark.parametrize("cls", LAYERS)
def test_padding_equals_each_sequence_alone(cls):
    x, h0 = _inputs(torch.float64)
    lengths = torch.tensor([11, 4, 1, 7])
    layer = _layer(cls, torch.float64)
    out, h_n = layer(x, h0, lengths=lengths)
    for n, length in enumerate(lengths.tolist()):
        alone, h_alone = layer(x[:length, n : n + 1], h0[:, n : n + 1])
        torch.testing.assert_close(out[:length, n : n + 1], alone, rtol=0, atol=1e-12)
        torch.testing.assert_close(h_n[:, n : n + 1], h_alone, rtol=0, atol=1e-12)
        assert out[length:, n].abs().max() == 0 if length < 11 else True
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out_packed, h_packed = layer(packed, h0)
    assert torch.equal(h_packed, h_n)
    assert torch.equal(
        out_packed.data, pack_padded_sequence(out, lengths, enforce_sorted=False).data
    )


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_bidirectional_reverse_half_reads_each_sequence_backwards(cls):
    x, h0 = _inputs(torch.float64, L=4)  # 2 layers x 2 directions
    lengths = torch.tensor([11, 4, 1, 7])
    deep = _layer(cls, torch.float64, L=2, bidirectional=True)
    out, h_n = deep(x, h0, lengths=lengths)
    assert out.shape == (11, 4, 12) and h_n.shape == (4, 4, 6)
    deep.mode = "step"
    out_s, h_s = deep(x, h0, lengths=lengths)
    torch.testing.assert_close(out_s, out, rtol=0, atol=1e-10)
    torch.testing.assert_close(h_s, h_n, rtol=0, atol=1e-10)
    h0 = h0[:2]  # one layer: each direction against a one-way layer with its weights
    layer = _layer(cls, torch.float64, L=1, bidirectional=True)
    out, h_n = layer(x, h0, lengths=lengths)
    forward, backward = _layer(cls, torch.float64, L=1), _layer(cls, torch.float64, L=1)
    with torch.no_grad():
        for name, p in forward.named_parameters():
            p.copy_(getattr(layer, name))
            getattr(backward, name).copy_(getattr(layer, name + "_reverse"))
    for n, length in enumerate(lengths.tolist()):
        seq = x[:length, n : n + 1]
        ahead, _ = forward(seq, h0[:1, n : n + 1])
        behind, h_back = backward(seq.flip(0), h0[1:2, n : n + 1])
        torch.testing.assert_close(out[:length, n : n + 1, :6], ahead, rtol=0, atol=1e-12)
        torch.testing.assert_close(out[:length, n : n + 1, 6:], behind.flip(0), rtol=0, atol=1e-12)
        torch.testing.assert_close(h_n[1, n], h_back[0, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", LAYERS)
def test_state_carried_across_windows_equals_one_window(cls):
    x, h0 = _inputs(torch.float64, T=30)
    layer = _layer(cls, torch.float64)
    whole, h_whole = layer(x, h0)
    outs, h = [], h0
    for window in x.split(8):  # 8, 8, 8, 6 steps
        out, h = layer(window, h.detach())
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, h_whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_a_4096_step_sequence_has_finite_gradients(cls):
    torch.manual_seed(0)
    layer = cls(4, 8, 2)
    x = torch.randn(4096, 2, 4, requires_grad=True)
    out, h_n = layer(x)
    (out.square().mean() + h_n.sum()).backward()
    grads = [x.grad, *(p.grad for p in layer.parameters())]
    assert all(torch.isfinite(g).all() for g in grads)
    assert x.grad[0].abs().sum() > 0  # the first step still receives a gradient


# ---- shapes and errors -------------------------------------------------------------------------
@pytest.mark.parametrize("cls", LAYERS)
def test_shapes(cls):
    layer = cls(5, 6, 3, batch_first=True)
    out, h_n = layer(torch.randn(4, 9, 5))
    assert out.shape == (4, 9, 6) and h_n.shape == (3, 4, 6)
    out, h_n = layer(torch.randn(9, 5), torch.zeros(3, 6))  # unbatched
    assert out.shape == (9, 6) and h_n.shape == (3, 6)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(3, 4, 6\)"):
        layer(torch.randn(4, 9, 5), torch.zeros(2, 4, 6))
    with pytest.raises(RuntimeError, match="input_size"):
        layer(torch.randn(4, 9, 3))


def test_parameters_and_bad_arguments():
    assert [n for n, _ in MinLSTM(5, 6, 2).named_parameters()] == [
        "weight_ih_l0",
        "bias_ih_l0",
        "weight_ih_l1",
        "bias_ih_l1",
    ]
    assert MinGRU(5, 6).weight_ih_l0.shape == (12, 5)
    assert MinLSTM(5, 6).weight_ih_l0.shape == (18, 5)
    with pytest.raises(ConfigError, match="unidirectional"):
        DeepMinGRU(5, 6, bidirectional=True)
    with pytest.raises(ConfigError, match="unknown mode"):
        MinGRU(5, 6, mode="fast")
    with pytest.raises(ConfigError, match="expansion"):
        DeepMinGRU(5, 6, expansion=0)


def test_deep_stack_trains():
    """Eight residual blocks learn to copy a delayed input; the gradient reaches block 0."""
    torch.manual_seed(0)
    model = DeepMinGRU(4, 16, 8)
    head = torch.nn.Linear(16, 4)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=3e-3)
    x = torch.randn(12, 8, 4)
    target = torch.cat([torch.zeros(2, 8, 4), x[:-2]])  # the input two steps ago
    losses = []
    for _ in range(30):
        out, _ = model(x)
        loss = (head(out) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    assert model.blocks[0].rnn.weight_ih_l0.grad.abs().sum() > 0
    assert losses[-1] < 0.5 * losses[0]


# ---- the language model ------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_language_model_step_equals_forward(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(vocab_size=11, cell=cell, hidden_size=8)).double().eval()
    idx = torch.randint(0, 11, (3, 9))
    logits, _, state = model(idx)
    assert state.shape == (2, 3, 8)  # h alone, like a GRU's
    step_state = None
    with torch.no_grad():
        for t in range(9):
            step_logits, step_state = model.step(idx[:, t], step_state)
            torch.testing.assert_close(step_logits, logits[:, t], rtol=0, atol=1e-10)


def test_language_model_loss_over_windows_equals_one_window():
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(vocab_size=11, cell="minlstm", hidden_size=8)).double()
    idx = torch.randint(0, 11, (3, 25))
    _, whole, _ = model(idx[:, :-1], idx[:, 1:])
    total, state = 0.0, None
    for start in range(0, 24, 6):
        window = idx[:, start : start + 7]
        _, loss, state = model(window[:, :-1], window[:, 1:], state)
        state = state.detach()
        total += loss.item() / 4
    assert total == pytest.approx(whole.item(), abs=1e-12)


def test_language_model_options():
    model = RNNLanguageModel(LMConfig(vocab_size=5, cell="minlstm", hidden_size=4, forget_bias=1))
    assert torch.all(model.rnn.bias_ih_l0[4:8] == 1.0)  # i|f|h~: the forget block
    with pytest.raises(ConfigError, match="weight_drop"):
        LMConfig(vocab_size=5, cell="mingru", weight_drop=0.2)
    with pytest.raises(ConfigError, match="forget gate"):
        LMConfig(vocab_size=5, cell="mingru", forget_bias=1.0)
    with pytest.raises(ExportError, match="mingru") as info:
        on_torch_layers(RNNLanguageModel(LMConfig(vocab_size=5, cell="mingru", hidden_size=4)))
    assert "\n" not in str(info.value)


def test_cli_train_then_generate(tmp_path):
    text = write_tiny_text(tmp_path / "tiny.txt")
    run = tmp_path / "run"
    code, _, err = call_cli(
        ["train", "--data", text, "--out", run, "--model", "mingru", *TINY_TRAIN_ARGS]
    )
    assert code == 0, err
    args = ["generate", run, "--prompt", "The cat", "--length", 30, "--seed", 1]
    code, out, err = call_cli(args)
    assert code == 0, err
    assert out.startswith("The cat") and len(out) == len("The cat") + 30 + 1
    assert call_cli(args)[1] == out  # repeatable with a seed
    code, out, err = call_cli(["export", run, "--format", "pt2", "--out", tmp_path / "m.pt2"])
    assert code == 0 and "same outputs as rnnkit" in out, err
    code, _, err = call_cli(["export", run, "--format", "torchscript", "--out", tmp_path / "m"])
    assert code == 2 and err.startswith("error: --format torchscript") and err.count("\n") == 1


def test_cli_other_tasks_train_with_minlstm(tmp_path):
    """classify (bidirectional by default), forecast and seq2seq take the minRNN cells."""
    tsv = write_tsv(tmp_path / "intents.tsv", 60, 0)
    args = ["classify", "train", "--data", tsv, "--cell", "minlstm", *_CLASSIFY_SMALL]
    code, _, err = call_cli([*args, "--epochs", 1, "--out", tmp_path / "cls"])
    assert code == 0, err
    csv = write_csv(tmp_path / "sales.csv", n=120)
    args = ["forecast", "train", "--csv", csv, "--target", "sales", "--model", "minlstm"]
    args += ["--tau", 14, "--hidden-size", 8, "--epochs", 1, "--out", tmp_path / "fc"]
    code, _, err = call_cli(args)
    assert code == 0, err
    args = ["export", tmp_path / "fc", "--format", "torchscript", "--out", tmp_path / "f.pt"]
    code, _, err = call_cli(args)
    assert code == 2 and "minlstm" in err and err.count("\n") == 1
    src, tgt = toy_pairs(40)
    (tmp_path / "s.txt").write_text("\n".join(src) + "\n")
    (tmp_path / "t.txt").write_text("\n".join(tgt) + "\n")
    args = ["seq2seq", "train", "--src", tmp_path / "s.txt", "--tgt", tmp_path / "t.txt"]
    args += ["--cell", "minlstm", "--embed-size", 8, "--hidden-size", 16, "--epochs", 1]
    code, _, err = call_cli([*args, "--min-freq", 1, "--out", tmp_path / "s2s"])
    assert code == 0, err
