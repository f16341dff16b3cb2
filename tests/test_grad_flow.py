import json

from rnnkit.cli import cli
from rnnkit.diagnostics.grad_flow import gradient_norms, measure
from rnnkit.models.lm import LMConfig, RNNLanguageModel


def test_norms_match_autograd_through_a_full_sequence():
    import torch

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


def test_run_mode_reports_flow_and_clipping(tmp_path):
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
        model="gru",
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
    assert data["models"][0]["cell"] == "gru" and len(data["models"][0]["norms"]) == 8
    clip = data["clipping"]
    assert clip["logged_steps"] == 6 and clip["clip"] == 0.05
    assert clip["after"]["max"] <= 0.05 <= clip["before"]["max"]
