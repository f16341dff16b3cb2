"""Decoding a ``Seq2Seq``: batched greedy search and batched beam search.

Both run a sentence for at most ``max_len = floor(a * src_len + b)`` decoder steps and stop it
at ``<eos>``, which is scored but not returned. Tokens in ``banned`` are never produced, so
``beam_search(beam=1, alpha=0)`` returns exactly what ``greedy_decode`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager

import torch

from rnnkit.errors import GenerationError

BANNED = (0, 1, 2)  # <pad>, <unk>, <bos>


def _max_lens(src_len: torch.Tensor, a: float, b: int) -> list[int]:
    return [max(0, math.floor(a * n + b)) for n in src_len.tolist()]


@contextmanager
def _decoding(model):
    """Dropout off and no autograd while decoding; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def greedy_decode(
    model,
    src: torch.Tensor,
    src_len: torch.Tensor,
    *,
    bos: int = 2,
    eos: int = 3,
    max_len_a: float = 1.5,
    max_len_b: int = 10,
    banned: Sequence[int] = BANNED,
) -> tuple[list[list[int]], list[torch.Tensor | None]]:
    """The most likely next token at every step, for a batch of sentences at once.

    Inputs: ``src`` (N, S), ``src_len`` (N,).

    Outputs: ``(tokens, attention)``: per sentence its token ids (without ``<eos>``) and, when
    the model attends, the weights (L, S_i) of the step that produced each of its L tokens
    (else ``None``).
    """
    N = src.size(0)
    max_lens = _max_lens(src_len, max_len_a, max_len_b)
    banned = torch.as_tensor(list(banned), dtype=torch.long, device=src.device)
    steps, weights = [], []
    with _decoding(model):
        memory = model.encode(src, src_len)
        state = model.init_state(memory)
        y = torch.full((N,), bos, dtype=torch.long, device=src.device)
        done = torch.tensor([m == 0 for m in max_lens], device=src.device)
        for t in range(max(max_lens, default=0)):
            logits, state, w = model.step(y, state, memory)  # (N, V)
            y = logits.index_fill(1, banned, -math.inf).argmax(-1)  # (N,)
            steps.append(y)
            weights.append(w)
            reached = torch.tensor([t + 1 >= m for m in max_lens], device=src.device)
            done = done | (y == eos) | reached
            if bool(done.all()):
                break
    tokens_out, attn_out = [], []
    ids = torch.stack(steps, 1).tolist() if steps else [[] for _ in range(N)]  # (N, steps)
    attn = torch.stack(weights, 1) if steps and weights[0] is not None else None  # (N, t, S)
    lens = src_len.tolist()
    for i in range(N):
        row = ids[i][: max_lens[i]]
        if eos in row:
            row = row[: row.index(eos)]
        tokens_out.append(row)
        attn_out.append(None if attn is None else attn[i, : len(row), : lens[i]])
    return tokens_out, attn_out


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); 1 for ``alpha = 0``."""
    return ((5 + length) / 6) ** alpha


def beam_search(
    model,
    src: torch.Tensor,
    src_len: torch.Tensor,
    *,
    beam: int = 5,
    alpha: float = 0.6,
    n_best: int = 1,
    bos: int = 2,
    eos: int = 3,
    max_len_a: float = 1.5,
    max_len_b: int = 10,
    banned: Sequence[int] = BANNED,
    keep_greedy: bool = True,
) -> list[list[tuple[list[int], float]]]:
    """Beam search over a batch: the beams of all sentences step together in one tensor.

    A hypothesis's score is its summed log-probability (``<eos>`` included) divided by
    ``length_penalty(steps, alpha)``; ``alpha = 0`` keeps the raw sum. An ``<eos>`` among the
    ``beam`` best candidates of a step finishes that hypothesis; the ``beam`` best others go on.
    A sentence stops once it has ``beam`` finished hypotheses or at its max length, where the
    live ones are finished as they are.

    Beam search can prune the greedy path early and end on a less likely translation than
    greedy search. With ``keep_greedy`` (and beam > 1) one extra row per sentence follows the
    greedy path in the same tensor step and its hypothesis competes with the finished ones,
    so the result never scores below greedy's; ``keep_greedy=False`` is the textbook search.

    Outputs: per sentence up to ``n_best`` ``(token ids, score)`` pairs, best first.
    """
    if beam < 1 or not 1 <= n_best <= beam:
        raise GenerationError(f"need beam >= 1 and 1 <= n_best <= beam, got {beam} and {n_best}")
    N, K, device = src.size(0), beam, src.device
    greedy = keep_greedy and K > 1
    R = K + 1 if greedy else K  # rows per sentence: K beams (and the greedy row last)
    max_lens = _max_lens(src_len, max_len_a, max_len_b)
    banned = torch.as_tensor(list(banned), dtype=torch.long, device=device)
    finished: list[list[tuple[list[int], float]]] = [[] for _ in range(N)]
    done = [m == 0 for m in max_lens]  # the beam part of each sentence
    g_live = [greedy and m > 0 for m in max_lens]
    g_words: list[list[int]] = [[] for _ in range(N)]
    g_score = torch.zeros(N, dtype=torch.float64, device=device)
    block = torch.arange(N, device=device)[:, None] * R  # (N, 1): each sentence's first row

    def finish(i: int, words: list[int], score: float, steps: int) -> None:
        finished[i].append((words, score / length_penalty(steps, alpha)))

    with _decoding(model):
        memory = model.expand_memory(model.encode(src, src_len), R)
        state = model.init_state(memory)
        # All beams of a sentence start equal: only the first may expand at step 0. Scores are
        # float64 so that adding a long prefix's score rarely ties two candidates.
        scores = torch.full((N, K), -math.inf, dtype=torch.float64, device=device)
        scores[:, 0] = 0.0
        history = torch.empty((N, K, 0), dtype=torch.long, device=device)
        y = torch.full((N * R,), bos, dtype=torch.long, device=device)
        for t in range(max(max_lens, default=0)):
            logits, state, _ = model.step(y, state, memory)  # (N*R, V)
            logp = logits.double().log_softmax(-1).index_fill(1, banned, -math.inf)
            V = logp.size(-1)
            logp = logp.view(N, R, V)
            cand = (scores.unsqueeze(-1) + logp[:, :K]).view(N, K * V)
            top, idx = cand.topk(min(2 * K, K * V), dim=1)  # (N, 2K), best first
            origin, token = idx // V, idx % V
            is_eos = token == eos
            for i, k in (is_eos[:, :K] & top[:, :K].isfinite()).nonzero().tolist():
                if not done[i]:
                    finish(i, history[i, origin[i, k]].tolist(), top[i, k].item(), t + 1)
            # The K best candidates that are not <eos> go on (a stable sort keeps their order;
            # at most K of the 2K are <eos>, one per beam).
            keep = is_eos.to(torch.int8).argsort(dim=1, stable=True)[:, :K]  # (N, K)
            scores = top.gather(1, keep)
            origin, token = origin.gather(1, keep), token.gather(1, keep)  # (N, K)
            history = history.gather(1, origin.unsqueeze(-1).expand_as(history))
            history = torch.cat([history, token.unsqueeze(-1)], 2)  # (N, K, t+1)
            rows, y = origin + block, token
            if greedy:
                g_tok = logp[:, K].argmax(-1)  # (N,)
                g_score += logp[:, K].gather(1, g_tok[:, None]).squeeze(1)
                for i, tok in enumerate(g_tok.tolist()):
                    if g_live[i] and (tok == eos or t + 1 >= max_lens[i]):
                        words = g_words[i] + ([] if tok == eos else [tok])
                        finish(i, words, g_score[i].item(), t + 1)
                        g_live[i] = False
                    g_words[i].append(tok)
                rows = torch.cat([rows, block + K], 1)  # (N, R)
                y = torch.cat([token, g_tok[:, None]], 1)
            state = model.select_state(state, rows.view(-1))
            y = y.reshape(-1)
            for i in range(N):
                if done[i]:
                    continue
                if t + 1 >= max_lens[i]:  # out of steps: the live hypotheses end here
                    for k in (scores[i].isfinite()).nonzero().flatten().tolist():
                        finish(i, history[i, k].tolist(), scores[i, k].item(), t + 1)
                    done[i] = True
                elif len(finished[i]) >= K:
                    done[i] = True
            if all(done) and not any(g_live):
                break
            # A finished sentence's beams must not record anything again.
            scores[torch.tensor(done, device=device)] = -math.inf
    return [sorted(h, key=lambda h: h[1], reverse=True)[:n_best] or [([], 0.0)] for h in finished]
