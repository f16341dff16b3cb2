"""Encoder-decoder models, attention and search (rnnkit.seq2seq.models, and rnnkit.decode
driven by rnnkit.seq2seq.translate.search_batch)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError, DataError, GenerationError
from rnnkit.seq2seq.models import (
    AdditiveAttention,
    DotAttention,
    Seq2Seq,
    Seq2SeqConfig,
    build_seq2seq,
    masked_softmax,
)
from rnnkit.seq2seq.translate import attention_weights, search_batch
from rnnkit.text.vocab import RESERVED, Vocab

BOS, EOS = 2, 3


def target_vocab(model) -> Vocab:
    """A target vocabulary of the model's size, reserved tokens first."""
    size = model.config.tgt_vocab if hasattr(model, "config") else 10
    return Vocab(list(RESERVED) + [f"w{i}" for i in range(size - len(RESERVED))])


def greedy_decode(model, src, src_len, **kw):
    """``(tokens, attention)`` per sentence, greedy (attention ``None`` without any)."""
    hyps = search_batch(model, src, src_len, target_vocab(model), beam=1, **kw)
    tokens = [h[0].tokens for h in hyps]
    if getattr(model, "attention", None) is None:
        return tokens, [None] * len(tokens)
    return tokens, attention_weights(model, src, src_len, tokens, BOS)


def beam_search(model, src, src_len, **kw):
    """Per sentence its ``(tokens, score)`` n-best list."""
    hyps = search_batch(model, src, src_len, target_vocab(model), **kw)
    return [[(h.tokens, h.score) for h in hs] for hs in hyps]


ATTENTIONS = ["none", "additive", "dot", "general", "scaled"]


def tiny(dtype=torch.float64, seed=0, **kw) -> Seq2Seq:
    """A small model in eval mode."""
    torch.manual_seed(seed)
    cfg = dict(src_vocab=13, tgt_vocab=11, embed=6, hidden=8, layers=2, dropout=0.0)
    cfg.update(kw)
    return build_seq2seq(cfg).to(dtype).eval()


def random_batch(lengths, vocab=13, seed=0):
    """``src`` (N, max(lengths)) of ids >= 4, padded with 0, and ``src_len``."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor(lengths)
    src = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=g)
    src[torch.arange(src.size(1))[None, :] >= src_len[:, None]] = 0
    return src, src_len


def random_tgt(n, length, vocab=11, seed=1):
    g = torch.Generator().manual_seed(seed)
    tgt = torch.randint(4, vocab, (n, length), generator=g)
    tgt[:, 0] = BOS
    return tgt


def sequence_logprob(model, src, src_len, tokens, max_len) -> float:
    """Log-probability of ``tokens`` (+ ``<eos>`` unless cut at ``max_len``) under the model."""
    seq = [BOS, *tokens] + ([EOS] if len(tokens) < max_len else [])
    tgt = torch.tensor([seq])
    with torch.no_grad():
        logits, _ = model(src, src_len, tgt[:, :-1])
    logp = logits.double().log_softmax(-1)[0]  # (T, V)
    return logp.gather(1, tgt[0, 1:, None]).sum().item()


# ---- shapes and attention --------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes(cell, bidirectional):
    model = tiny(torch.float32, cell=cell, bidirectional=bidirectional)
    src, src_len = random_batch([5, 2, 4])
    tgt_in = random_tgt(3, 6)
    D = 2 if bidirectional else 1
    outputs, final = model.encoder(src, src_len)
    assert outputs.shape == (3, 5, D * 8)
    finals = final if cell == "lstm" else (final,)
    assert all(f.shape == (3, D * 8) for f in finals)
    assert outputs[1, 2:].abs().max() == 0  # padding gives zero outputs
    logits, attn = model(src, src_len, tgt_in)
    assert logits.shape == (3, 6, 11) and attn.shape == (3, 6, 5)
    memory = model.encode(src, src_len)
    state = model.init_state(memory)
    states = state if cell == "lstm" else (state,)
    assert all(s.shape == (2, 3, 8) for s in states)  # (layers, N, H)
    step_logits, _, weights = model.step(tgt_in[:, 0], state, memory)
    assert step_logits.shape == (3, 11) and weights.shape == (3, 5)


def test_masked_softmax():
    scores = torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]).bool()
    w = masked_softmax(scores, mask)
    assert torch.all(w[~mask] == 0)
    torch.testing.assert_close(w[:2].sum(-1), torch.ones(2))
    torch.testing.assert_close(w[0, :3], scores[0, :3].softmax(-1))
    assert torch.all(w[2] == 0)  # nothing valid: zeros, not NaN


@pytest.mark.parametrize("attention", ATTENTIONS[1:])
def test_attention_weights_sum_to_one_over_valid_positions(attention):
    model = tiny(attention=attention)
    src, src_len = random_batch([6, 3, 1, 4])
    _, attn = model(src, src_len, random_tgt(4, 5))  # (N, T, S)
    mask = torch.arange(6)[None, :] < src_len[:, None]  # (N, S)
    assert torch.all(attn.masked_select(~mask[:, None, :].expand_as(attn)) == 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(4, 5, dtype=attn.dtype))


def test_attention_modules():
    q, keys = torch.randn(2, 8), torch.randn(2, 4, 16)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    additive = AdditiveAttention(8, 16, 10)
    context, w = additive(q, keys, mask)
    assert context.shape == (2, 16) and w.shape == (2, 4)
    # Precomputed key projections give the same answer.
    context2, w2 = additive(q, keys, mask, proj_keys=additive.project_keys(keys))
    torch.testing.assert_close((context, w), (context2, w2))
    for kind in ("general", "scaled"):
        context, w = DotAttention(8, 16, kind)(q, keys, mask)
        assert context.shape == (2, 16) and torch.all(w[1, 2:] == 0)
    keys8 = torch.randn(2, 4, 8)
    _, w = DotAttention(8, 8, "dot")(q, keys8, mask)
    torch.testing.assert_close(w[0], (keys8[0] @ q[0]).softmax(-1))
    _, w = DotAttention(8, 8, "scaled")(q, keys8, mask)
    torch.testing.assert_close(w[0], (keys8[0] @ q[0] / math.sqrt(8)).softmax(-1))


def test_plain_dot_over_two_directions_scores_their_sum():
    q, keys = torch.randn(2, 8), torch.randn(2, 4, 16)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    dot = DotAttention(8, 16, "dot")
    assert not list(dot.parameters())  # plain dot stays parameter-free
    context, w = dot(q, keys, mask)
    summed = keys[..., :8] + keys[..., 8:]
    torch.testing.assert_close(w[0], (summed[0] @ q[0]).softmax(-1))
    torch.testing.assert_close(context[1], w[1, :2] @ keys[1, :2])
    assert context.shape == (2, 16)


def test_plain_dot_attention_needs_compatible_sizes():
    with pytest.raises(ConfigError, match="dot attention needs"):
        DotAttention(8, 12, "dot")
    with pytest.raises(ConfigError, match="unknown dot attention"):
        DotAttention(8, 8, "cosine")


# ---- padding changes nothing -----------------------------------------------------------------
CASES = [
    (attention, cell, backend, bidirectional)
    for attention in ATTENTIONS
    for cell in ("gru", "lstm")
    for backend in ("torch", "scratch")
    for bidirectional in (True, False)
]


@pytest.mark.parametrize("attention, cell, backend, bidirectional", CASES)
def test_padding_changes_nothing(attention, cell, backend, bidirectional):
    model = tiny(
        attention=attention, cell=cell, backend=backend, bidirectional=bidirectional, seed=3
    )
    src, src_len = random_batch([7, 3, 5, 1, 6], seed=4)
    tgt_in = random_tgt(5, 6)
    tgt_len = [6, 2, 4, 3, 5]  # target lengths differ from source lengths
    with torch.no_grad():
        logits, attn = model(src, src_len, tgt_in)
        for i, (n, m) in enumerate(zip(src_len.tolist(), tgt_len, strict=True)):
            alone, attn_alone = model(src[i : i + 1, :n], src_len[i : i + 1], tgt_in[i : i + 1, :m])
            torch.testing.assert_close(logits[i, :m], alone[0], rtol=0, atol=1e-10)
            if attn is not None:
                torch.testing.assert_close(attn[i, :m, :n], attn_alone[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("attention", ["none", "additive", "scaled"])
def test_padding_changes_nothing_float32(attention):
    model = tiny(torch.float32, attention=attention, seed=5)
    src, src_len = random_batch([9, 2, 5], seed=6)
    tgt_in = random_tgt(3, 7)
    with torch.no_grad():
        logits, _ = model(src, src_len, tgt_in)
        for i, n in enumerate(src_len.tolist()):
            alone, _ = model(src[i : i + 1, :n], src_len[i : i + 1], tgt_in[i : i + 1, :4])
            torch.testing.assert_close(logits[i, :4], alone[0], rtol=0, atol=1e-6)


def test_backends_exchange_weights():
    torch_model = tiny(attention="additive", cell="lstm", backend="torch")
    scratch = tiny(attention="additive", cell="lstm", backend="scratch", seed=9)
    scratch.load_state_dict(torch_model.state_dict())
    src, src_len = random_batch([5, 2, 4])
    tgt_in = random_tgt(3, 5)
    with torch.no_grad():
        torch.testing.assert_close(
            torch_model(src, src_len, tgt_in), scratch(src, src_len, tgt_in), rtol=0, atol=1e-10
        )


def test_empty_source_is_a_data_error():
    model = tiny(attention="additive")
    src, _ = random_batch([3, 2])
    with pytest.raises(DataError, match="source lengths"):
        model.encode(src, torch.tensor([3, 0]))


# ---- teacher forcing -------------------------------------------------------------------------
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_teacher_forcing_matches_a_step_loop(attention, cell):
    model = tiny(attention=attention, cell=cell)
    src, src_len = random_batch([5, 3, 4])
    tgt_in = random_tgt(3, 6)
    with torch.no_grad():
        logits, attn = model(src, src_len, tgt_in)
        memory = model.encode(src, src_len)
        state = model.init_state(memory)
        for t in range(6):
            step_logits, state, weights = model.step(tgt_in[:, t], state, memory)
            torch.testing.assert_close(logits[:, t], step_logits, rtol=0, atol=1e-10)
            if attn is not None:
                torch.testing.assert_close(attn[:, t], weights, rtol=0, atol=1e-10)


def manual_loop(model, src, src_len, tgt_in, teacher_forcing, generator):
    memory = model.encode(src, src_len)
    state, y, out = model.init_state(memory), tgt_in[:, 0], []
    for t in range(tgt_in.size(1)):
        if t > 0:
            use_true = torch.rand((), generator=generator).item() < teacher_forcing
            y = tgt_in[:, t] if use_true else out[-1].argmax(-1)
        logits, state, _ = model.step(y, state, memory)
        out.append(logits)
    return torch.stack(out, 1)


@pytest.mark.parametrize("teacher_forcing", [0.0, 0.5])
@pytest.mark.parametrize("attention", ["none", "general"])
def test_scheduled_sampling_feeds_argmax(teacher_forcing, attention):
    model = tiny(attention=attention)
    src, src_len = random_batch([5, 3, 4])
    tgt_in = random_tgt(3, 7)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(7)
        logits, _ = model(src, src_len, tgt_in, teacher_forcing, gen)
        gen = torch.Generator().manual_seed(7)
        want = manual_loop(model, src, src_len, tgt_in, teacher_forcing, gen)
        torch.testing.assert_close(logits, want, rtol=0, atol=1e-10)
        if teacher_forcing == 0.0:  # no true token after the first can reach the model
            other = tgt_in.clone()
            other[:, 1:] = 4
            torch.testing.assert_close(model(src, src_len, other, 0.0)[0], logits)


def test_training_with_dropout_runs_backward():
    model = tiny(torch.float32, attention="additive", dropout=0.3, cell="lstm").train()
    src, src_len = random_batch([5, 3])
    tgt = random_tgt(2, 6)
    for tf in (1.0, 0.5):
        logits, _ = model(src, src_len, tgt[:, :-1], tf)
        loss = F.cross_entropy(logits.reshape(-1, 11), tgt[:, 1:].reshape(-1))
        loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# ---- config ----------------------------------------------------------------------------------
def test_config_round_trip():
    cfg = Seq2SeqConfig(src_vocab=20, tgt_vocab=30, cell="lstm", attention="general", layers=2)
    d = cfg.to_dict()
    assert Seq2SeqConfig.from_dict(d) == cfg
    model = build_seq2seq(d)
    assert model.config == cfg
    assert build_seq2seq(cfg).config == cfg
    assert Seq2SeqConfig(src_vocab=20, tgt_vocab=30, dropout=0).dropout == 0.0


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"heads": 4}, "unknown seq2seq config keys heads"),
        ({"cell": "rnn"}, "unknown seq2seq cell"),
        ({"attention": "luong"}, "unknown seq2seq attention"),
        ({"backend": "cuda"}, "unknown seq2seq backend"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"hidden": 0}, "hidden must be positive"),
        ({"layers": True}, "layers must be int"),
        ({"embed": "256"}, "embed must be int"),
        ({"bidirectional": 1}, "bidirectional must be bool"),
        ({"src_vocab": 3}, "src_vocab must be >= 4"),
    ],
)
def test_bad_configs(changes, match):
    d = {"src_vocab": 20, "tgt_vocab": 30, **changes}
    with pytest.raises(ConfigError, match=match):
        Seq2SeqConfig.from_dict(d)


def test_config_needs_vocab_sizes():
    with pytest.raises(ConfigError, match="needs tgt_vocab"):
        build_seq2seq({"src_vocab": 20})


# ---- search ----------------------------------------------------------------------------------
SEARCH_MODELS = [
    dict(attention="additive", cell="gru", tgt_vocab=11),
    dict(attention="none", cell="lstm", tgt_vocab=9),
    dict(attention="general", cell="gru", tgt_vocab=30, layers=1),
    dict(attention="scaled", cell="lstm", tgt_vocab=20),
]


def peaky(seed, **kw):
    """A random model whose next-token distributions are far from uniform, as trained ones are."""
    model = tiny(seed=seed, **kw)
    with torch.no_grad():
        model.out.weight.mul_(3.0)
    return model


@pytest.mark.parametrize("seed", range(len(SEARCH_MODELS)))
def test_beam_one_is_greedy(seed):
    model = peaky(seed, **SEARCH_MODELS[seed])
    src, src_len = random_batch([6, 1, 3, 7, 2, 5], seed=seed)
    tokens, _ = greedy_decode(model, src, src_len)
    hyps = beam_search(model, src, src_len, beam=1, alpha=0.0)
    assert [h[0][0] for h in hyps] == tokens
    # float32, as models are used
    model = model.float()
    tokens, _ = greedy_decode(model, src, src_len)
    assert [h[0][0] for h in beam_search(model, src, src_len, beam=1, alpha=0.0)] == tokens


@pytest.mark.parametrize("seed", range(len(SEARCH_MODELS)))
def test_batched_beam_search_equals_one_sentence_at_a_time(seed):
    model = peaky(seed, **SEARCH_MODELS[seed])
    src, src_len = random_batch([6, 1, 3, 7, 2], seed=seed)
    for keep_greedy in (True, False):
        kw = dict(beam=4, alpha=0.6, n_best=3, keep_greedy=keep_greedy)
        batched = beam_search(model, src, src_len, **kw)
        for i, n in enumerate(src_len.tolist()):
            alone = beam_search(model, src[i : i + 1, :n], src_len[i : i + 1], **kw)[0]
            assert [h[0] for h in alone] == [h[0] for h in batched[i]]
            assert [h[1] for h in alone] == pytest.approx([h[1] for h in batched[i]], abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_beam_never_scores_below_greedy(seed):
    model = peaky(seed, **SEARCH_MODELS[seed % len(SEARCH_MODELS)])
    src, src_len = random_batch([6, 1, 3, 7, 2, 5], seed=seed)
    greedy, _ = greedy_decode(model, src, src_len)
    hyps = beam_search(model, src, src_len, beam=5, alpha=0.0, n_best=5)
    for i, n in enumerate(src_len.tolist()):
        max_len = math.floor(1.5 * n + 10)
        one = (src[i : i + 1, :n], src_len[i : i + 1])
        best_tokens, best = hyps[i][0]
        # Scores are the model's log-probabilities, best first.
        assert best == pytest.approx(sequence_logprob(model, *one, best_tokens, max_len), abs=1e-9)
        assert [h[1] for h in hyps[i]] == sorted((h[1] for h in hyps[i]), reverse=True)
        assert best >= sequence_logprob(model, *one, greedy[i], max_len) - 1e-9


class TableModel(torch.nn.Module):
    """A decoder whose next-token probabilities are a table of the prefix: the decoding API
    (encode, init_state, step, expand_memory, select_state) without a network.

    Greedy reads a x <eos> (log-prob -2.13), but with beam 2 the greedy path a x is pruned at
    step 2 by b y and b z, whose every continuation costs log(1/7) = -1.95 per token.
    """

    A, B, X, Y, Z = 4, 5, 6, 7, 8
    TABLE = {
        (): {A: 0.40, B: 0.39, X: 0.07, Y: 0.07, Z: 0.07},
        (A,): {X: 0.3, Y: 0.25, Z: 0.25, 9: 0.2},
        (B,): {Y: 0.5, Z: 0.49, X: 0.01},
        (A, X): {EOS: 0.99, Y: 0.01},
    }

    def encode(self, src, src_len):
        return src_len

    def expand_memory(self, memory, repeats):
        return memory.repeat_interleave(repeats)

    def init_state(self, memory):
        return torch.empty(memory.size(0), 0, dtype=torch.long)  # the prefix so far

    def select_state(self, state, index):
        return state.index_select(0, index)

    def step(self, y_prev, state, memory):
        state = torch.cat([state, y_prev[:, None]], 1)
        uniform = dict.fromkeys([EOS, *range(4, 10)], 1 / 7)
        probs = torch.zeros(state.size(0), 10, dtype=torch.float64)
        for row, prefix in enumerate(state[:, 1:].tolist()):  # the prefix after <bos>
            for token, p in self.TABLE.get(tuple(prefix), uniform).items():
                probs[row, token] = p
        return probs.log(), state, None


def test_keep_greedy_rescues_a_pruned_greedy_path():
    model = TableModel()
    src, src_len = random_batch([3, 2])
    greedy, _ = greedy_decode(model, src, src_len)
    assert greedy == [[model.A, model.X]] * 2
    greedy_score = math.log(0.4) + math.log(0.3) + math.log(0.99)
    textbook = beam_search(model, src, src_len, beam=2, alpha=0.0, keep_greedy=False)
    assert [h[0][0][0] for h in textbook] == [model.B] * 2
    assert all(h[0][1] < greedy_score - 1 for h in textbook)
    for hyps in beam_search(model, src, src_len, beam=2, alpha=0.0):
        assert hyps[0] == ([model.A, model.X], pytest.approx(greedy_score))


def test_max_length_and_banned_tokens():
    model = tiny(attention="additive", tgt_vocab=11, seed=2)
    with torch.no_grad():
        model.out.bias[EOS] = -1e4  # never ends by itself
        model.out.bias[1] = 1e4  # <unk> would win every step if allowed
    src, src_len = random_batch([4, 1, 6], seed=2)
    tokens, attn = greedy_decode(model, src, src_len, max_len_a=1.0, max_len_b=2)
    assert [len(t) for t in tokens] == [6, 3, 8]
    assert all(1 not in t and 0 not in t and BOS not in t for t in tokens)
    assert [tuple(a.shape) for a in attn] == [(6, 4), (3, 1), (8, 6)]
    for a in attn:
        torch.testing.assert_close(a.sum(-1), torch.ones(a.size(0), dtype=a.dtype))
    hyps = beam_search(model, src, src_len, beam=3, n_best=3, max_len_a=1.0, max_len_b=2)
    for h, n in zip(hyps, [6, 3, 8], strict=True):
        assert len(h) == 3 and all(len(words) == n and 1 not in words for words, _ in h)
    # <unk> is banned only by default
    tokens, _ = greedy_decode(model, src, src_len, max_len_b=2, banned=(0, 2))
    assert all(set(t) == {1} for t in tokens)


def test_search_settings_are_checked():
    model = tiny(attention="additive")
    src, src_len = random_batch([3])
    with pytest.raises(GenerationError, match="--n-best"):
        beam_search(model, src, src_len, beam=2, n_best=3)
    model.train()
    beam_search(model, src, src_len, beam=2)
    assert model.training  # the caller's mode comes back


# ---- a tiny model learns to reverse ----------------------------------------------------------
def reverse_batch(g: torch.Generator, n: int):
    """Sequences of 3-6 tokens from ids 4..9 and their reversals (``<bos> ... <eos>``)."""
    src_len = torch.randint(3, 7, (n,), generator=g)
    src = torch.zeros(n, 6, dtype=torch.long)
    tgt = torch.zeros(n, 8, dtype=torch.long)
    for i, n_i in enumerate(src_len.tolist()):
        seq = torch.randint(4, 10, (n_i,), generator=g)
        src[i, :n_i] = seq
        tgt[i, 0], tgt[i, 1 : n_i + 1], tgt[i, n_i + 1] = BOS, seq.flip(0), EOS
    return src, src_len, tgt


def test_tiny_model_learns_to_reverse():
    torch.manual_seed(0)
    model = build_seq2seq(dict(src_vocab=10, tgt_vocab=10, embed=16, hidden=32, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src, src_len, tgt = reverse_batch(g, 32)
        logits, _ = model(src, src_len, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 10), tgt[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, src_len, tgt = reverse_batch(torch.Generator().manual_seed(1), 40)
    want = [tgt[i, 1 : n + 1].tolist() for i, n in enumerate(src_len.tolist())]
    greedy, attn = greedy_decode(model, src, src_len)
    assert greedy == want
    assert [h[0][0] for h in beam_search(model, src, src_len, beam=4)] == want
    # Reversing: the first output token attends most to the last source token.
    assert all(a[0].argmax().item() == n - 1 for a, n in zip(attn, src_len.tolist(), strict=True))
