import json

import pytest
import torch

from rnnkit.cli import cli
from rnnkit.diagnostics.grad_flow import gradient_norms, measure
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn.minrnn import update_gate


def test_norms_match_autograd_through_a_full_sequence():
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(7, "gru", 5, 1)).double()
    idx = torch.randint(0, 7, (2, 6))
    target = torch.randint(0, 7, (2,))
    norms = gradient_norms(model, idx, target)
    assert len(norms) == 6
    # dL/dh_T is the decoder's gradient alone: W^T (softmax - onehot), per row
    _, _, h = model(idx)
    h = h.detach().requires_grad_()
    logits = model.decoder(h[-1])
    torch.nn.functional.cross_entropy(logits, target).backward()
    assert abs(h.grad[-1].norm(dim=-1).mean().item() - norms[-1]) < 1e-12


def test_plain_rnn_gradient_vanishes_faster_than_it_arrives():
    flow = measure("rnn", hidden_size=16, seq_len=40, batch_size=4)
    assert flow.norms[0] < 1e-3 * flow.norms[-1]  # vanished over 40 steps
    assert all(n >= 0 for n in flow.norms)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minrnn_gradient_shrinks_by_its_keep_gate_per_step(cell):
    """A minRNN's gates read the input alone: dh_t/dh_{t-1} = diag(1 - z_t), so the gradient
    at t is the one at t + 1 times the keep gate of step t + 1, exactly."""
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(7, cell, 5, 1)).double()
    idx = torch.randint(0, 7, (2, 6))
    target = torch.randint(0, 7, (2,))
    norms = gradient_norms(model, idx, target)
    _, _, h = model(idx)
    h = h.detach().requires_grad_()
    torch.nn.functional.cross_entropy(model.decoder(h[-1]), target).backward()
    grad = h.grad[-1]  # (N, H): dL/dh_T
    gates = torch.nn.functional.linear(
        model.embedding(idx.t()), model.rnn.weight_ih_l0, model.rnn.bias_ih_l0
    )  # (T, N, G*H)
    z, _ = update_gate(gates, cell == "minlstm")
    want = [grad.norm(dim=-1).mean().item()]
    for t in range(5, 0, -1):  # back from T: G_{t-1} = (1 - z_t) G_t
        grad = (1 - z[t]) * grad
        want.insert(0, grad.norm(dim=-1).mean().item())
    assert norms == pytest.approx(want, rel=1e-9)


def test_minlstm_forget_bias_keeps_more_of_the_gradient():
    opened = measure("minlstm", hidden_size=8, seq_len=20, batch_size=2, forget_bias=2.0)
    plain = measure("minlstm", hidden_size=8, seq_len=20, batch_size=2)
    assert opened.cell == "minlstm (forget bias 2)" and plain.cell == "minlstm"
    assert opened.ratio_first_to_last > 10 * plain.ratio_first_to_last


def test_cli_writes_plot_and_json(tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "gf.png"
    res = CliRunner().invoke(
        cli,
        [
            "grad-flow",
            "--seq-len",
            "12",
            "--hidden-size",
            "8",
            "--batch-size",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [m["cell"] for m in data["models"]] == ["rnn", "lstm", "gru"]
    assert all(len(m["norms"]) == 12 for m in data["models"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_measures_the_minimal_cells(tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "gf.png"
    args = ["grad-flow", "--cell", "mingru", "--model", "minlstm", "--forget-bias", "1"]
    args += ["--seq-len", "10", "--hidden-size", "8", "--batch-size", "2"]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [m["cell"] for m in data["models"]] == ["mingru", "minlstm (forget bias 1)"]
    for m in data["models"]:
        assert len(m["norms"]) == 10 and all(n > 0 for n in m["norms"])
        assert m["first"] < m["last"]  # a keep gate below 1 at every step back
    assert data["plot"] == str(out.resolve()) and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("model", ["gru", "mingru"])
def test_run_mode_reports_flow_and_clipping(tmp_path, model):
    from click.testing import CliRunner

    from rnnkit.config import TrainConfig
    from rnnkit.train.lm_task import LMTask
    from rnnkit.train.trainer import Trainer

    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabdabe\n" * 200, encoding="utf-8")
    cfg = TrainConfig(
        data=str(corpus),
        hidden_size=8,
        num_layers=1,
        seq_len=10,
        batch_size=4,
        max_steps=6,
        log_every=1,
        clip=0.05,
        model=model,
    )
    Trainer(LMTask(cfg), tmp_path / "run", echo=None, progress=False).fit()
    res = CliRunner().invoke(
        cli,
        [
            "grad-flow",
            "--run",
            str(tmp_path / "run"),
            "--seq-len",
            "8",
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "g.png"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["models"][0]["cell"] == model and len(data["models"][0]["norms"]) == 8
    clip = data["clipping"]
    assert clip["logged_steps"] == 6 and clip["clip"] == 0.05
    assert clip["after"]["max"] <= 0.05 <= clip["before"]["max"]
