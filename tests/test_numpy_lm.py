"""The numpy generation engine (rnnkit.infer.numpy_lm): the torch model's logits, the same text
for the same seed, `rnnkit generate` without torch, and the fall-back to torch."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from test_startup import imported

from rnnkit.config import TrainConfig
from rnnkit.infer.generate import generate_text
from rnnkit.infer.lines import write_text
from rnnkit.infer.numpy_lm import Ineligible, generate_ids, load
from rnnkit.infer.settings import search_settings
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.registry.runs import RunDoc, write_run
from rnnkit.text.corpus import build_vocab
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.train.checkpoint import load_for_inference, save_weights

TEXT = "the cat sees the dog\na dog likes the red ball\nmy sister feeds the old cat\n"


def make_run(
    out: Path,
    cell: str = "lstm",
    num_layers: int = 2,
    tie_weights: bool = False,
    embed_size: int | None = None,
    backend: str = "torch",
    hidden: int = 24,
    seed: int = 0,
) -> Path:
    """A language-model run directory with random weights, scaled up so that the
    distributions are sharp and different seeds give different texts."""
    tok = build_tokenizer("char")
    vocab = build_vocab(TEXT, tok)
    config = TrainConfig(
        data="made-up",
        tokenizer="char",
        model=cell,
        hidden_size=hidden,
        num_layers=num_layers,
        embed_size=embed_size,
        tie_weights=tie_weights,
        backend=backend,
        dropout=0.2,  # off at inference: changes nothing here
    )
    mcfg = LMConfig(**config.model_fields(len(vocab)))
    torch.manual_seed(seed)
    model = RNNLanguageModel(mcfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    out.mkdir(parents=True)
    vocab.save(out / "vocab.json")
    save_weights(model, out / "model.safetensors")
    write_run(out, RunDoc("lm", config.to_dict(), asdict(mcfg)))
    return out


SHAPES = [
    ("rnn", 1, False, None, "torch"),
    ("rnn", 2, True, None, "scratch"),
    ("lstm", 1, True, None, "torch"),
    ("lstm", 2, False, None, "torch"),
    ("lstm", 2, False, 0, "scratch"),  # one-hot input
    ("gru", 1, False, 16, "torch"),
    ("gru", 2, True, None, "scratch"),
]


@pytest.mark.parametrize("cell,layers,tied,embed,backend", SHAPES)
def test_numpy_logits_are_the_torch_models_logits(tmp_path, cell, layers, tied, embed, backend):
    run = make_run(tmp_path / "run", cell, layers, tied, embed, backend)
    _, _, vocab, model = load_for_inference(run)
    _, _, lm = load(run)
    ids = vocab.encode(list(TEXT[:40])).tolist()
    with torch.no_grad():
        want = model(torch.tensor([ids]))[0][0].numpy()  # (T, V)
    state, got = lm.init_state(), []
    for y in ids:
        logits, state = lm.step(y, state)
        got.append(logits)
    got = np.stack(got)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(ids), len(vocab))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    start, _ = lm.start(ids)
    np.testing.assert_array_equal(start, got[-1])  # the prompt goes through the same step


def _both(run: Path, prompt: str, length: int, **flags) -> tuple[str, str]:
    """The text of each engine for the same run, prompt and flags."""
    _, tokenizer, vocab, model = load_for_inference(run)
    torch_text = generate_text(model, tokenizer, vocab, prompt, length, **flags)
    _, sampling = search_settings(
        1, flags.get("temperature"), flags.get("top_k"), flags.get("top_p")
    )
    _, _, lm = load(run)

    def ids(ctx, stop_id, banned):
        return generate_ids(lm, ctx, length, sampling, flags.get("seed"), stop_id, banned)

    numpy_text = write_text(ids, tokenizer, vocab, prompt, length, flags.get("stop_token"))
    return torch_text, numpy_text


@pytest.mark.parametrize(
    "flags",
    [
        {"temperature": 0},
        {"seed": 1},
        {"temperature": 0.7, "seed": 2},
        {"top_k": 4, "seed": 3},
        {"temperature": 1.3, "top_p": 0.8, "seed": 4},
        {"seed": 5, "stop_token": "\n"},
    ],
    ids=str,
)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_both_engines_write_the_same_text(tmp_path, cell, flags):
    run = make_run(tmp_path / "run", cell)
    torch_text, numpy_text = _both(run, "the ", 120, **flags)
    assert torch_text == numpy_text
    assert torch_text.startswith("the ") and "<" not in torch_text  # reserved tokens banned
    if "stop_token" in flags:
        assert "\n" not in torch_text


def test_seeds_repeat_and_differ_and_no_seed_is_random(tmp_path):
    run = make_run(tmp_path / "run")
    texts = {seed: _both(run, "a", 60, seed=seed)[1] for seed in (1, 2)}
    assert texts[1] == _both(run, "a", 60, seed=1)[1] and texts[1] != texts[2]
    unseeded = {_both(run, "a", 60)[1] for _ in range(3)}
    assert len(unseeded) > 1


def test_generate_on_an_eligible_run_imports_no_torch(tmp_path, cli):
    run = make_run(tmp_path / "run")
    args = ["generate", run, "--length", "30", "--seed", "7", "--top-p", "0.9"]
    assert "torch" not in imported(args)
    assert "torch" not in imported([*args, "--engine", "numpy", "--device", "cpu"])
    code, numpy_out, err = cli(args)
    assert code == 0 and err == ""
    code, torch_out, _ = cli([*args, "--engine", "torch"])
    assert code == 0 and torch_out == numpy_out and len(numpy_out) == 30 + 1  # text, line end


def test_a_run_the_numpy_engine_cannot_compute_falls_back_to_torch(tmp_path, cli):
    run = make_run(tmp_path / "run", "mingru")
    args = ["generate", run, "--length", "20", "--seed", "0"]
    assert "torch" in imported(args)
    code, out, _ = cli(args)
    assert code == 0 and len(out) == 20 + 1
    with pytest.raises(Ineligible, match="mingru"):
        load(run)
    beam = make_run(tmp_path / "beam")
    assert "torch" in imported(["generate", beam, "--length", "5", "--beam", "2"])


@pytest.mark.parametrize(
    "cell, extra, why",
    [
        ("mingru", [], "its mingru cell has no numpy step"),
        ("lstm", ["--beam", "3"], "beam search runs on torch"),
    ],
)
def test_engine_numpy_on_a_run_it_cannot_compute_is_one_line(tmp_path, cli, cell, extra, why):
    run = make_run(tmp_path / "run", cell)
    code, out, err = cli(["generate", run, "--engine", "numpy", "--length", "5", *extra])
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and "--engine torch" in lines[0]


def test_a_damaged_weight_file_is_named_by_the_torch_path(tmp_path, cli):
    run = make_run(tmp_path / "run")
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (run / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(Ineligible, match="checksum"):
        load(run)
    code, _, err = cli(["generate", run, "--length", "5"])
    assert code == 2 and "damaged" in err and len(err.strip().splitlines()) == 1
