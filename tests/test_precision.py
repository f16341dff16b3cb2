"""--precision and --compile: a few CPU steps each, against float32 eager training."""

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.errors import ConfigError, TrainingError
from rnnkit.registry.runs import read_run
from rnnkit.train import trainer as trainer_module
from rnnkit.train.lm_task import LMTask
from rnnkit.train.precision import Precision, bf16_supported
from rnnkit.train.trainer import Trainer, resume_trainer
from tests.conftest import one_line_error, tiny_lm_config, train_losses

TEXT = "".join(f"the quick brown fox {i % 7} jumps over the lazy dog\n" for i in range(300))
CPU = torch.device("cpu")


def config(tmp_path, **kw):
    return tiny_lm_config(
        tmp_path, TEXT, **{"num_layers": 2, "max_steps": 6, "eval_every": 3, **kw}
    )


def fit(tmp_path, name, **kw):
    Trainer(LMTask(config(tmp_path, **kw)), tmp_path / name, echo=None, progress=False).fit()
    return tmp_path / name


needs_bf16 = pytest.mark.skipif(not bf16_supported(CPU), reason="no CPU bfloat16 autocast")


@needs_bf16
@pytest.mark.parametrize("backend", ["torch", "scratch"])
def test_bf16_trains_close_to_fp32_and_saves_fp32(tmp_path, backend):
    ref = train_losses(fit(tmp_path, "fp32", backend=backend))
    run = fit(tmp_path, "bf16", backend=backend, precision="bf16", sampling="sequential")
    got = train_losses(run)
    assert len(got) == len(ref) == 6
    # bfloat16 keeps ~3 significant digits; the curves agree to that, not to float32's.
    assert got == pytest.approx(ref, rel=2e-2)
    assert got != ref  # autocast did change the arithmetic
    assert all(t.dtype == torch.float32 for t in load_file(run / "last.safetensors").values())
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    assert all(h.dtype == torch.float32 for h in state["hidden"])  # carried state stays fp32


@needs_bf16
def test_resume_may_change_precision(tmp_path):
    run = fit(tmp_path, "r", precision="bf16", max_steps=3)
    resume_trainer(run, {"precision": "fp32", "max_steps": 6}, echo=None, progress=False).fit()
    assert len(train_losses(run)) == 6
    assert read_run(run).config["precision"] == "fp32"


def test_fp16_needs_cuda_and_names_the_fix():
    msg = one_line_error(ConfigError, Precision, "fp16", CPU)
    assert "CUDA" in msg and "--precision bf16" in msg
    assert "fp64" in one_line_error(ConfigError, Precision, "fp64", CPU)


def test_cli_rejects_fp16_on_cpu(tmp_path, cli):
    (tmp_path / "x.txt").write_text(TEXT, encoding="utf-8")
    code, _, err = cli(
        ["train", "--data", tmp_path / "x.txt", "--out", tmp_path / "r"]
        + ["--precision", "fp16", "--device", "cpu", "--quiet"]
    )
    assert code == 2 and err.startswith("error: --precision fp16 needs a CUDA device")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_grad_scaler_step_equals_the_unscaled_step():
    """The fp16 path (scale, unscale, clip the true gradients, step) on CPU's scaler."""
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3)
    b = torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 4)
    plain = Precision("fp32", CPU)
    scaled = Precision("fp32", CPU)
    scaled.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), 0.1), torch.optim.SGD(b.parameters(), 0.1)
    na = plain.backward_and_step(a(x).pow(2).mean(), a, opt_a, clip=0.5)
    nb = scaled.backward_and_step(b(x).pow(2).mean(), b, opt_b, clip=0.5)
    torch.testing.assert_close(na, nb)  # the norm of the true gradient, not the scaled one
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    assert scaled.state_dict()["scale"] == 1024.0


def test_compile_matches_eager(tmp_path):
    ref = train_losses(fit(tmp_path, "eager"))
    got = train_losses(fit(tmp_path, "compiled", compile=True))
    assert got == pytest.approx(ref, rel=1e-4)
    assert set(load_file(tmp_path / "compiled/model.safetensors")) == set(
        load_file(tmp_path / "eager/model.safetensors")
    )  # no "_orig_mod." prefixes: the plain model is saved


def test_compile_failure_is_one_line(tmp_path, monkeypatch):
    class BackendCompilerFailed(RuntimeError):
        """Named and placed as torch.compile's own error."""

    BackendCompilerFailed.__module__ = "torch._dynamo.exc"

    def broken(model):
        def run(*args):
            raise BackendCompilerFailed("inductor: no working C++ compiler\nmore detail")

        return run

    monkeypatch.setattr(trainer_module.torch, "compile", broken)
    t = Trainer(LMTask(config(tmp_path, compile=True)), tmp_path / "r", echo=None, progress=False)
    msg = one_line_error(TrainingError, t.fit)
    assert "no working C++ compiler" in msg and "without --compile" in msg


@needs_bf16
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_scratch_layers_stay_float32_under_autocast(name):
    from rnnkit.nn import layers

    torch.manual_seed(0)
    layer = getattr(layers, name)(8, 16, num_layers=2)
    x = torch.randn(5, 3, 8)
    want, _ = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, state = layer(x.bfloat16())  # a lower-precision input is taken up to float32
    assert got.dtype == torch.float32
    assert all(s.dtype == torch.float32 for s in (state if isinstance(state, tuple) else [state]))
    torch.testing.assert_close(got, layer(x.bfloat16().float())[0], rtol=0, atol=0)
    assert want.shape == got.shape
