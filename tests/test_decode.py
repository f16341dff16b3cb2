"""The decoding library (rnnkit.decode): step protocol, processors, greedy, sampling and beam
search, and the callers that use it (generation, poems, translation)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_poetry_decoding import make_decoder

from rnnkit.decode import (
    AllowTokens,
    BanTokens,
    ForceTokens,
    LanguageModelStepper,
    SameGroup,
    Seq2SeqStepper,
    Temperature,
    TopK,
    TopP,
    beam_search,
    filter_logits,
    greedy,
    length_penalty,
    make_generator,
    reserved_ids,
    sample,
    search,
    search_settings,
)
from rnnkit.errors import GenerationError
from rnnkit.infer.generate import generate_ids, generate_text
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.poetry.decoding import check_form, rhyme_group, rhymes
from rnnkit.seq2seq.models import build_seq2seq
from rnnkit.seq2seq.translate import search_batch
from rnnkit.text.corpus import build_vocab
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import EOS, RESERVED, Vocab


def lm(vocab_size=7, cell="lstm", seed=0, sharpen=3.0) -> RNNLanguageModel:
    torch.manual_seed(seed)
    model = RNNLanguageModel(LMConfig(vocab_size, cell, 16, 2, embed_size=8)).eval()
    with torch.no_grad():  # far from uniform, as trained models are
        model.decoder.weight.mul_(sharpen)
    return model


def seq2seq(seed=0, tgt_vocab=12):
    torch.manual_seed(seed)
    cfg = dict(src_vocab=12, tgt_vocab=tgt_vocab, embed=8, hidden=16, dropout=0.0)
    model = build_seq2seq(cfg).double().eval()
    with torch.no_grad():
        model.out.weight.mul_(3.0)
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor([5, 1, 3, 6])
    src = torch.randint(4, 12, (4, 6), generator=g)
    src[torch.arange(6)[None, :] >= src_len[:, None]] = 0
    vocab = Vocab(list(RESERVED) + [f"w{i}" for i in range(tgt_vocab - 4)])
    return model, src, src_len, vocab


# ---- the step protocol -----------------------------------------------------------------------
def test_language_model_step_is_forward_one_token_at_a_time():
    model = lm()
    x = torch.randint(0, 7, (3, 5))
    with torch.no_grad():
        want, _, _ = model(x, None, None)
        state, got = None, []
        for t in range(5):
            logits, state = model.step(x[:, t], state)
            got.append(logits)
    torch.testing.assert_close(torch.stack(got, 1), want)


def test_select_state_reorders_rows_of_the_lm_state():
    model = lm()
    with torch.no_grad():
        _, _, (h, c) = model(torch.randint(0, 7, (3, 4)), None, None)
    index = torch.tensor([2, 0, 0])
    h2, c2 = model.select_state((h, c), index)
    assert torch.equal(h2, h[:, index]) and torch.equal(c2, c[:, index])


def test_lm_stepper_repeats_the_context_rows():
    model = lm()
    stepper = LanguageModelStepper(model, torch.tensor([[1, 2, 3], [4, 5, 6]]))
    with torch.no_grad():
        one, _ = stepper.start(1)
        three, (h, _) = stepper.start(3)
    assert torch.equal(three, one.repeat_interleave(3, 0)) and h.size(1) == 6


# ---- processors ------------------------------------------------------------------------------
def test_ban_allow_and_force():
    logits, history = torch.zeros(2, 5), torch.zeros(2, 3, dtype=torch.long)
    banned = BanTokens([0, 3])(history, logits)
    assert torch.isinf(banned).tolist() == [[True, False, False, True, False]] * 2
    allow = torch.tensor([False, True, True, False, False])
    at3 = AllowTokens({3: allow})(history, logits)
    assert torch.isfinite(at3).tolist() == [allow.tolist()] * 2
    assert torch.equal(AllowTokens({4: allow})(history, logits), logits)  # not its position
    forced = ForceTokens({3: 4, 5: 1}, 5, default=allow)
    assert torch.isfinite(forced(history, logits)).sum(-1).tolist() == [1, 1]
    assert forced(history, logits).argmax(-1).tolist() == [4, 4]
    other = forced(torch.zeros(2, 1, dtype=torch.long), logits)  # default elsewhere
    assert torch.isfinite(other).tolist() == [allow.tolist()] * 2


def test_reserved_ids_come_from_the_vocab():
    vocab = Vocab(["<unk>", "<eos>", "<pad>", "a", "b"], reserved=("<unk>", "<eos>", "<pad>"))
    assert reserved_ids(vocab) == [0, 1, 2]
    assert reserved_ids(vocab, keep=[EOS]) == [0, 2]


def test_torch_warpers_match_filter_logits():
    logits = torch.randn(4, 20) * 3
    warped = TopP(0.8)(None, TopK(5)(None, Temperature(0.7)(None, logits)))
    torch.testing.assert_close(warped, filter_logits(logits.float() / 0.7, 5, 0.8))
    assert torch.isfinite(TopK(5)(None, logits)).sum(-1).tolist() == [5] * 4
    assert torch.equal(TopK(0)(None, logits), logits) and torch.equal(
        TopP(1.0)(None, logits), logits
    )


GROUPS = [None, "a", "a", "a", "b", "b", None]  # token -> its group
FALLBACK = torch.tensor([False, True, True, True, True, True, True])


def test_same_group_reads_the_group_from_the_history():
    rhyme = SameGroup([1, 3], GROUPS, FALLBACK)
    logits = torch.zeros(3, 7)
    first = rhyme(torch.zeros(3, 1, dtype=torch.long), logits)  # any token with a group
    assert torch.isfinite(first[0]).tolist() == [False, True, True, True, True, True, False]
    history = torch.tensor([[0, 1, 6], [0, 4, 6], [0, 6, 6]])  # groups a, b, none yet
    allowed = torch.isfinite(rhyme(history, logits)).tolist()
    assert allowed[0] == [False, False, True, True, False, False, False]  # a, 1 used
    assert allowed[1] == [False, False, False, False, False, True, False]  # b, 4 used
    assert allowed[2] == torch.isfinite(first[0]).tolist()
    assert torch.equal(rhyme(history[:, :2], logits), logits)  # not a rhyme position


def test_same_group_follows_rows_through_beam_reordering():
    rhyme = SameGroup([1, 3, 5], GROUPS, FALLBACK)
    g = torch.Generator().manual_seed(0)
    history = torch.randint(1, 7, (6, 5), generator=g)
    logits = torch.randn(6, 7, generator=g)
    before = rhyme(history, logits)
    for perm in (torch.tensor([5, 4, 3, 2, 1, 0]), torch.tensor([0, 0, 3, 3, 1, 2])):
        # Beams reordered, copied and dropped: each row keeps its own group.
        assert torch.equal(rhyme(history[perm], logits[perm]), before[perm])
    for row, out in zip(history.tolist(), before, strict=True):
        group = next((GROUPS[t] for t in (row[1], row[3]) if GROUPS[t]), None)
        if group is not None:
            assert all(GROUPS[t] == group for t in torch.isfinite(out).nonzero().flatten())


# ---- searches --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_one_is_greedy_for_a_language_model(cell):
    model = lm(cell=cell, seed=3)
    stepper = LanguageModelStepper(model, torch.tensor([[1, 2], [3, 4], [5, 6]]))
    want = greedy(stepper, max_len=12, eos=6, processors=[BanTokens([0])])
    got = beam_search(stepper, beam=1, max_len=12, eos=6, processors=[BanTokens([0])], alpha=0)
    assert [h[0].tokens for h in got] == want


def test_beam_one_is_greedy_for_seq2seq():
    model, src, src_len, vocab = seq2seq(seed=1)
    stepper = Seq2SeqStepper(model, src, src_len, bos=2)
    ban = [BanTokens([0, 1, 2])]
    want = greedy(stepper, max_len=9, eos=3, processors=ban)
    got = beam_search(stepper, beam=1, max_len=9, eos=3, processors=ban, alpha=0)
    assert [h[0].tokens for h in got] == want


def exhaustive(model, context, V, eos, max_len, alpha):
    """Every hypothesis of at most ``max_len`` steps, scored as beam search scores them."""
    out = []
    words = [t for t in range(V) if t != eos]
    for n in range(max_len + 1):
        for seq in itertools.product(words, repeat=n):
            ended = n < max_len
            full = list(seq) + ([eos] if ended else [])
            with torch.no_grad():
                logits, _, _ = model(torch.tensor([context + full]), None, None)
            logp = logits[0, len(context) - 1 :].double().log_softmax(-1)
            total = sum(logp[i, tok].item() for i, tok in enumerate(full))
            out.append((list(seq), total / length_penalty(len(full), alpha)))
    return sorted(out, key=lambda h: h[1], reverse=True)


@pytest.mark.parametrize("alpha, keep_greedy", [(0.0, True), (0.6, False), (1.0, True)])
def test_a_wide_beam_is_exhaustive_search(alpha, keep_greedy):
    V, eos, max_len = 4, 3, 3  # 1 + 3 + 9 + 27 = 40 hypotheses
    model = lm(V, seed=5, sharpen=1.5)
    want = exhaustive(model, [0], V, eos, max_len, alpha)
    stepper = LanguageModelStepper(model, torch.tensor([[0]]))
    got = beam_search(
        stepper, beam=64, n_best=40, max_len=max_len, eos=eos, alpha=alpha, keep_greedy=keep_greedy
    )[0]
    assert len(got) == len(want) == 40
    assert [h.tokens for h in got[:10]] == [w[0] for w in want[:10]]
    assert [h.score for h in got] == pytest.approx([w[1] for w in want], abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_n_best_lists_are_distinct_and_sorted(seed):
    model, src, src_len, vocab = seq2seq(seed)
    for beam, n_best in ((2, 2), (5, 5), (8, 6)):
        for hyps in search_batch(model, src, src_len, vocab, beam=beam, n_best=n_best):
            tokens = [tuple(h.tokens) for h in hyps]
            scores = [h.score for h in hyps]
            assert len(set(tokens)) == len(tokens) and 1 <= len(tokens) <= n_best
            assert scores == sorted(scores, reverse=True)


def test_sampling_is_seeded_by_a_local_generator_only():
    model = lm(seed=2)
    stepper = LanguageModelStepper(model, torch.tensor([[1, 2], [3, 4]]))
    state, np_state = torch.get_rng_state(), np.random.get_state()

    def draw(seed):
        return search(stepper, max_len=30, temperature=1.0, seed=seed)

    assert draw(7) == draw(7) and draw(7) != draw(8)
    draw(None)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state, strict=True))


def test_a_forced_step_draws_no_random_number():
    model = lm(seed=4)
    stepper = LanguageModelStepper(model, torch.tensor([[1, 2]] * 3))
    g = make_generator(0)
    before = g.bit_generator.state
    forced = [ForceTokens({0: 5, 1: 2, 2: 3}, 7)]
    assert sample(stepper, max_len=3, processors=forced, generator=g) == [[5, 2, 3]] * 3
    assert g.bit_generator.state == before  # forcing does not shift later samples
    sample(stepper, max_len=1, generator=g)
    assert g.bit_generator.state != before


def test_search_restores_the_model_mode_and_needs_no_grad():
    model = lm().train()
    stepper = LanguageModelStepper(model, torch.tensor([[1]]))
    with torch.enable_grad():
        out = search(stepper, max_len=5, beam=3)
    assert model.training and len(out[0][0].tokens) == 5


@pytest.mark.parametrize(
    "beam, given, message",
    [
        (0, {}, "--beam must be > 0"),
        (3, {"temperature": 0.7}, "drop --temperature"),
        (3, {"top_k": 5, "top_p": 0.9}, "drop --top-k and --top-p"),
        (1, {"top_p": 0.0}, "--top-p"),
    ],
)
def test_search_settings_refuse_what_makes_no_sense(beam, given, message):
    with pytest.raises(GenerationError, match=message):
        search_settings(beam, **given)


def test_search_settings_defaults():
    assert search_settings(None, beam_default=5, temperature_default=0.0) == (
        5,
        {"temperature": 0.0, "top_k": 0, "top_p": 1.0},
    )
    beam, sampling = search_settings(None, top_k=4, beam_default=5, temperature_default=0.0)
    assert beam == 1 and sampling == {"temperature": 1.0, "top_k": 4, "top_p": 1.0}


# ---- language-model generation ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    tok = build_tokenizer("char")
    vocab = build_vocab("hello world\nhello there\n", tok)
    model = RNNLanguageModel(LMConfig(len(vocab), "gru", 8, 1)).eval()
    return model, tok, vocab


def test_generation_does_not_touch_the_global_rng(tiny_lm):
    model, tok, vocab = tiny_lm
    torch.manual_seed(123)
    state = torch.get_rng_state()
    generate_text(model, tok, vocab, "hel", 20)  # a fresh seed, from the OS
    generate_text(model, tok, vocab, "hel", 20, seed=5)
    generate_text(model, tok, vocab, "hel", 20, beam=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_generation_beam_is_the_most_likely_continuation(tiny_lm):
    model, tok, vocab = tiny_lm
    ctx = [vocab.token_to_id("h")]
    greedy_ids = list(generate_ids(model, ctx, 15, temperature=0))
    assert list(generate_ids(model, ctx, 15, beam=1, temperature=0)) == greedy_ids
    beamed = list(generate_ids(model, ctx, 15, beam=4))
    assert len(beamed) == 15

    def logprob(ids):
        with torch.no_grad():
            logits, _, _ = model(torch.tensor([ctx + ids]), None, None)
        logp = logits[0, :-1].double().log_softmax(-1)
        return sum(logp[i, t].item() for i, t in enumerate(ids))

    assert logprob(beamed) >= logprob(greedy_ids) - 1e-9
    with pytest.raises(GenerationError, match="--beam 4"):
        generate_text(model, tok, vocab, "hel", 5, temperature=0.5, beam=4)


# ---- poems -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def poem_decoder():
    return make_decoder()


@pytest.mark.parametrize("form", ["wujue", "qijue"])
def test_poem_beam_keeps_form_acrostic_and_rhyme(poem_decoder, form):
    poems = poem_decoder.generate_batch(4, form=form, acrostic="春夏秋冬", rhyme=True, beam=6)
    assert len(poems) == 4 and len(set(poems)) == 4
    for poem in poems:
        assert check_form(poem, form) and rhymes(poem, form), poem
        lines = [s for s in poem.replace("。", "，").split("，") if s]
        assert [line[0] for line in lines] == list("春夏秋冬")


def test_poem_beam_with_start_and_free_mode(poem_decoder):
    poem = poem_decoder.generate(form="wujue", start="床前明月光，疑是", rhyme=True, beam=3)
    assert poem.startswith("床前明月光，疑是") and rhymes(poem, "wujue")
    assert rhyme_group(poem[-2]) == rhyme_group(poem[10])
    free = poem_decoder.generate(beam=3, max_chars=20)
    assert "<" not in free and len(free) <= 20
    with pytest.raises(GenerationError, match="--num 4"):
        poem_decoder.generate_batch(4, form="wujue", beam=2)
    with pytest.raises(GenerationError, match="--top-p"):
        poem_decoder.generate(form="wujue", beam=2, top_p=0.5)


def test_poem_beam_is_the_same_every_time(poem_decoder):
    a = list(poem_decoder.generate_each(2, form="wujue", beam=2, seed=1))
    b = list(poem_decoder.generate_each(2, form="wujue", beam=2, seed=9))
    assert a == b and len(set(a)) == 2


# ---- translation -----------------------------------------------------------------------------
def test_sampled_translations_repeat_with_a_seed_and_differ_across_seeds():
    model, src, src_len, vocab = seq2seq(seed=2, tgt_vocab=30)
    with torch.no_grad():
        model.out.weight.div_(3.0)  # flatter: samples differ

    def translate(seed):
        hyps = search_batch(model, src, src_len, vocab, beam=1, temperature=1.0, seed=seed)
        return [h[0].tokens for h in hyps]

    assert translate(3) == translate(3)
    assert translate(3) != translate(4)
    banned = set(reserved_ids(vocab, keep=[EOS]))
    assert all(not banned & set(t) for t in translate(5))
    # Greedy is sampling at temperature 0.
    greedy_out = [h[0].tokens for h in search_batch(model, src, src_len, vocab, beam=1)]
    assert greedy_out == [
        h[0].tokens for h in search_batch(model, src, src_len, vocab, beam=1, temperature=0, seed=9)
    ]


def test_max_length_counts_per_sentence():
    model, src, src_len, vocab = seq2seq(seed=0)
    with torch.no_grad():
        model.out.bias[vocab.id_of(EOS)] = -1e4  # never ends by itself
    for beam in (1, 3):
        hyps = search_batch(model, src, src_len, vocab, beam=beam, max_len_a=1.0, max_len_b=2)
        assert [len(h[0].tokens) for h in hyps] == [n + 2 for n in src_len.tolist()]
    assert search_batch(model, src, src_len, vocab, beam=1)[0][0].score is None
