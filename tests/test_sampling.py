import math

import pytest
import torch

from rnnkit.bounds import MAX_TEMPERATURE, MIN_TEMPERATURE, MIN_TOP_P
from rnnkit.decode.search import make_generator
from rnnkit.decode.warpers import (
    check_sampling,
    filter_logits,
    sample_next,
)
from rnnkit.errors import GenerationError
from rnnkit.infer.generate import generate_ids, generate_text, prompt_ids
from rnnkit.infer.scoring import token_logprobs
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.text.corpus import build_vocab
from rnnkit.text.tokenizers import build_tokenizer


def test_top_k_keeps_k_best():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, False, True]]


def test_top_p_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.8)).tolist()
    assert kept == [[True, True, False, False]]
    # the best token always survives, even for a tiny p
    assert torch.isfinite(filter_logits(probs.log(), top_p=0.01)).tolist() == [
        [True, False, False, False]
    ]


def test_greedy_and_seeded_sampling():
    logits = torch.randn(4, 10)
    assert torch.equal(sample_next(logits, temperature=0), logits.argmax(-1))
    g1, g2 = make_generator(3), make_generator(3)
    assert torch.equal(
        sample_next(logits, 1.0, generator=g1), sample_next(logits, 1.0, generator=g2)
    )
    assert torch.equal(sample_next(logits, 1.0, top_k=1), logits.argmax(-1))


def test_temperature_sharpens_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    g = make_generator(0)
    draws = torch.stack([sample_next(logits.expand(2000, 3), 0.1, generator=g)])
    assert (draws == 0).float().mean() > 0.99


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [
        (0, 0, 1.0),
        (MIN_TEMPERATURE, 0, 1.0),
        (MAX_TEMPERATURE, 0, 1.0),
        (1.0, 0, MIN_TOP_P),
        (1.0, 10**9, 1.0),  # a k over the vocabulary is the same as 0
    ],
)
def test_sampling_bounds_are_inclusive(temperature, top_k, top_p):
    check_sampling(temperature, top_k, top_p)


@pytest.mark.parametrize(
    "temperature, top_k, top_p, flag",
    [
        (-1.0, 0, 1.0, "--temperature"),
        (1e-45, 0, 1.0, "--temperature"),  # the logits divided by it overflow to inf
        (MIN_TEMPERATURE / 2, 0, 1.0, "--temperature"),
        (MAX_TEMPERATURE * 1.01, 0, 1.0, "--temperature"),
        (1e39, 0, 1.0, "--temperature"),  # inf in float32
        (math.nan, 0, 1.0, "--temperature"),
        (math.inf, 0, 1.0, "--temperature"),
        (1.0, -1, 1.0, "--top-k"),
        (1.0, 0, 0.0, "--top-p"),
        (1.0, 0, 1e-46, "--top-p"),  # 0 in float32: every token dropped
        (1.0, 0, MIN_TOP_P / 2, "--top-p"),
        (1.0, 0, 1.5, "--top-p"),
        (1.0, 0, math.nan, "--top-p"),
    ],
)
def test_sampling_values_out_of_bounds_are_refused_naming_the_range(
    temperature, top_k, top_p, flag
):
    with pytest.raises(GenerationError) as info:
        check_sampling(temperature, top_k, top_p)
    message = str(info.value)
    assert message.startswith(flag) and "\n" not in message
    assert "got" in message and ("[" in message or ">=" in message)


def test_sampling_at_the_bounds_gives_tokens_not_nan():
    torch.manual_seed(0)
    logits = torch.randn(64, 50) * 30  # sharp logits: largest after dividing by the smallest T
    g = make_generator(0)
    for temperature, top_p in [(MIN_TEMPERATURE, 1.0), (MAX_TEMPERATURE, 1.0), (1.0, MIN_TOP_P)]:
        picked = sample_next(logits, temperature, top_p=top_p, generator=g)
        assert picked.shape == (64,) and ((picked >= 0) & (picked < 50)).all()
    # Near-greedy at the smallest temperature and top-p: the best token, as the doc says.
    assert torch.equal(sample_next(logits, MIN_TEMPERATURE, generator=g), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 1.0, top_p=MIN_TOP_P, generator=g), logits.argmax(-1))


def test_the_command_line_help_gives_the_bounds(cli):
    for command in (["generate"], ["poem", "write"]):
        code, out, _ = cli([*command, "--help"])
        assert code == 0
        text = " ".join(out.split())  # help text is wrapped
        assert f"0 (greedy) or {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}" in text
        assert f"{MIN_TOP_P:g} to 1" in text


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    tok = build_tokenizer("char")
    vocab = build_vocab("hello world\nhello there\n", tok)
    model = RNNLanguageModel(LMConfig(len(vocab), "gru", 8, 1)).eval()
    return model, tok, vocab


def test_generation_is_repeatable_and_warm_started(tiny_model):
    model, tok, vocab = tiny_model
    a = generate_text(model, tok, vocab, "hel", 20, seed=5)
    b = generate_text(model, tok, vocab, "hel", 20, seed=5)
    assert a == b and a.startswith("hel") and len(a) == 23
    ctx = prompt_ids("hel", tok, vocab)
    assert ctx[0] == vocab.token_to_id("\n")  # a prompt starts a fresh line


def test_generation_memory_is_constant_per_token(tiny_model):
    model, tok, vocab = tiny_model
    seen = []

    def spy(module, inputs, output):
        seen.append(inputs[0].shape[0])  # time-major: steps fed in this call

    handle = model.rnn.register_forward_hook(spy)
    list(generate_ids(model, [1, 5, 6, 7], 10, seed=0))
    handle.remove()
    assert seen[0] == 4 and all(t == 1 for t in seen[1:])  # prompt once, then one token a call


def test_stop_token_ends_generation(tiny_model):
    model, tok, vocab = tiny_model
    ids = list(generate_ids(model, [vocab.token_to_id("h")], 200, temperature=0, seed=0))
    stop = ids[3]
    cut = list(generate_ids(model, [vocab.token_to_id("h")], 200, 0, stop_id=stop, seed=0))
    assert cut == ids[: ids.index(stop)]


def test_prompt_of_unknown_tokens_is_refused_partial_warns(tiny_model):
    _, tok, vocab = tiny_model
    with pytest.raises(GenerationError, match="<unk>"):
        prompt_ids("ЖЖ", tok, vocab)
    warnings = []
    prompt_ids("hЖ", tok, vocab, warn=warnings.append)
    assert "'Ж'" in warnings[0]


def test_token_logprobs_sum_to_sequence_logprob(tiny_model):
    model, tok, vocab = tiny_model
    ids = vocab.encode(list("hello")).tolist()
    lp = token_logprobs(model, [vocab.token_to_id("\n")], ids)
    assert len(lp) == 5 and all(x <= 0 for x in lp)
    # chain rule, computed step by step
    total, state = 0.0, None
    x = torch.tensor([[vocab.token_to_id("\n")] + ids])
    with torch.no_grad():
        for t in range(5):
            logits, _, state = model(x[:, t : t + 1], None, state)
            total += torch.log_softmax(logits[0, -1], -1)[x[0, t + 1]].item()
    assert math.isclose(sum(lp), total, rel_tol=1e-5)
