"""The packed generation step (``rnnkit.decode.packed``) gives the model's own step."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decode.packed import packed_step
from rnnkit.decode.steppers import LanguageModelStepper
from rnnkit.infer.generate import generate_ids
from rnnkit.models.lm import LMConfig, RNNLanguageModel


def _model(cell: str, backend: str = "torch", embed_size=None) -> RNNLanguageModel:
    torch.manual_seed(0)
    config = LMConfig(23, cell, 16, 3, embed_size=embed_size, backend=backend)
    return RNNLanguageModel(config).double().eval()


@pytest.mark.parametrize("backend", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embed_size", [None, 0, 8])  # tied size, one-hot, its own size
def test_packed_step_equals_the_model_step(cell, backend, embed_size):
    model = _model(cell, backend, embed_size)
    ids = torch.randint(0, 23, (4, 12))
    with torch.no_grad():
        fast = packed_step(model)
        state_a = state_b = None
        for t in range(ids.size(1)):
            a, state_a = model.step(ids[:, t], state_a)
            b, state_b = fast.step(ids[:, t], state_b)
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for x, y in zip(
            state_b if isinstance(state_b, tuple) else (state_b,),
            state_a if isinstance(state_a, tuple) else (state_a,),
            strict=True,
        ):
            assert x.shape == y.shape == (3, 4, 16)
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_packed_again_only_when_a_weight_changes():
    model = _model("lstm")
    with torch.no_grad():
        first = packed_step(model)
        assert packed_step(model) is first
        model.decoder.bias.add_(1.0)  # as an optimizer step would
        second = packed_step(model)
    assert second is not first
    y = torch.tensor([1, 2])
    with torch.no_grad():
        torch.testing.assert_close(second.step(y, None)[0], model.step(y, None)[0])


def test_no_packing_while_training_or_recording_gradients():
    model = _model("gru")
    assert packed_step(model) is None  # gradients on
    with torch.no_grad():
        assert packed_step(_model("gru").train()) is None
        assert packed_step(_model("lnlstm", backend="scratch")) is None


def test_generation_goes_through_the_packed_step(monkeypatch):
    model = _model("lstm").float()
    calls = []
    real = packed_step

    def counting(m):
        calls.append(m)
        return real(m)

    monkeypatch.setattr("rnnkit.decode.steppers.packed_step", counting)
    out = list(generate_ids(model, [1, 2, 3], 20, temperature=1.0, seed=3))
    assert len(out) == 20 and calls == [model]  # looked up once, then kept by the stepper
    stepper = LanguageModelStepper(model, torch.tensor([[1, 2]]))
    with torch.no_grad():
        logits, state = stepper.start()
        fast, _ = stepper.step(torch.tensor([4]), state)
        slow, _ = model.step(torch.tensor([4]), state)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
