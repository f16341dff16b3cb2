"""Batched beam search over any ``Stepper``, under the same processors as sampling.

A hypothesis's score is its summed log-probability (``eos`` included) divided by
``length_penalty(steps, alpha)``; ``alpha = 0`` keeps the raw sum. An ``eos`` among the
``beam`` best candidates of a step finishes that hypothesis; the ``beam`` best others go on.
An item stops once ``beam`` hypotheses have finished or at its max length, where the live ones
are finished as they are. Processors see log-probabilities, so a ruled-out token is never
extended and every returned hypothesis keeps the constraints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rnnkit.decode.processors import Processor, apply
from rnnkit.decode.steppers import Stepper, max_lens
from rnnkit.infer.settings import check_beam


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # without eos
    score: float | None  # length-penalised log-probability; None when not computed


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); 1 for ``alpha = 0``."""
    return ((5 + length) / 6) ** alpha


class _Finished:
    """The finished hypotheses of one item, each token sequence once (its best score)."""

    def __init__(self):
        self.best: dict[tuple[int, ...], float] = {}
        self.count = 0  # every finish, repeats included: the stopping rule counts these

    def add(self, tokens: list[int], score: float) -> None:
        key = tuple(tokens)
        self.best[key] = max(score, self.best.get(key, -math.inf))
        self.count += 1

    def n_best(self, n: int) -> list[Hypothesis]:
        ranked = sorted(self.best.items(), key=lambda kv: kv[1], reverse=True)  # stable
        return [Hypothesis(list(t), s) for t, s in ranked[:n]] or [Hypothesis([], 0.0)]


@torch.no_grad()
def beam_search(
    stepper: Stepper,
    *,
    beam: int = 5,
    max_len: int | Sequence[int],
    eos: int | None = None,
    processors: Sequence[Processor] = (),
    alpha: float = 0.6,
    n_best: int = 1,
    keep_greedy: bool = True,
    prefix: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """The ``n_best`` distinct hypotheses of each item, best first.

    Beam search can prune the greedy path early and end on a less likely output than greedy
    search. With ``keep_greedy`` (and beam > 1) one extra row per item follows the greedy path
    in the same tensor step and its hypothesis competes with the finished ones, so the result
    never scores below greedy's; ``keep_greedy=False`` is the textbook search.

    Args:
        stepper: the model (see ``rnnkit.decode.steppers``).
        beam: K, hypotheses kept per item and step.
        max_len: steps per item, one number or one per item.
        eos: the token that ends a hypothesis (``None``: only the max length does).
        processors: constraints, applied to the log-probabilities of every row.
        alpha: length penalty exponent. n_best: hypotheses returned per item (<= beam).
        prefix: (N, P) tokens the processors see before the first new one.
    """
    check_beam(beam, n_best)
    N, K = stepper.batch, beam
    greedy = keep_greedy and K > 1
    R = K + 1 if greedy else K  # rows per item: K beams (and the greedy row last)
    lens = max_lens(max_len, N)
    finished = [_Finished() for _ in range(N)]
    done = [m == 0 for m in lens]  # the beam part of each item
    g_live = [greedy and m > 0 for m in lens]
    if all(done):
        return [f.n_best(n_best) for f in finished]

    def finish(i: int, tokens: list[int], score: float, steps: int) -> None:
        finished[i].add(tokens, score / length_penalty(steps, alpha))

    logits, state = stepper.start(R)  # (N*R, V)
    device = logits.device
    # All beams of an item start equal: only the first may expand at step 0. Scores are
    # float64 so that adding a long prefix's score rarely ties two candidates.
    scores = torch.full((N, K), -math.inf, dtype=torch.float64, device=device)
    scores[:, 0] = 0.0
    g_score = torch.zeros(N, dtype=torch.float64, device=device)
    history = torch.empty((N, R, 0), dtype=torch.long, device=device)  # greedy row last
    if prefix is not None:
        history = prefix.to(device)[:, None, :].expand(N, R, -1)
    P = history.size(2)
    block = torch.arange(N, device=device)[:, None] * R  # (N, 1): each item's first row
    y = None  # the tokens fed at the next step, (N*R,)
    for t in range(max(lens)):
        if t > 0:
            logits, state = stepper.step(y, state)
        logp = logits.double().log_softmax(-1)
        logp = apply(processors, history.reshape(N * R, -1), logp)
        V = logp.size(-1)
        logp = logp.view(N, R, V)
        cand = (scores.unsqueeze(-1) + logp[:, :K]).view(N, K * V)
        top, idx = cand.topk(min(2 * K, K * V), dim=1)  # (N, 2K), best first
        origin, token = idx // V, idx % V
        is_eos = token == eos if eos is not None else torch.zeros_like(token, dtype=torch.bool)
        for i, k in (is_eos[:, :K] & top[:, :K].isfinite()).nonzero().tolist():
            if not done[i]:
                finish(i, history[i, origin[i, k], P:].tolist(), top[i, k].item(), t + 1)
        # The K best candidates that are not eos go on (a stable sort keeps their order; at
        # most K of the 2K are eos, one per beam).
        keep = is_eos.to(torch.int8).argsort(dim=1, stable=True)[:, :K]  # (N, K)
        scores = top.gather(1, keep)
        origin, token = origin.gather(1, keep), token.gather(1, keep)  # (N, K)
        beams = history.gather(1, origin.unsqueeze(-1).expand(N, K, history.size(2)))
        beams = torch.cat([beams, token.unsqueeze(-1)], 2)  # (N, K, P+t+1)
        rows, y = origin + block, token
        if greedy:
            g_tok = logp[:, K].argmax(-1)  # (N,)
            g_score += logp[:, K].gather(1, g_tok[:, None]).squeeze(1)
            g_hist = history[:, K, P:].tolist()
            for i, tok in enumerate(g_tok.tolist()):
                if g_live[i] and (tok == eos or t + 1 >= lens[i]):
                    tokens = g_hist[i] + ([] if tok == eos else [tok])
                    finish(i, tokens, g_score[i].item(), t + 1)
                    g_live[i] = False
            g_row = torch.cat([history[:, K], g_tok[:, None]], 1)  # (N, P+t+1)
            history = torch.cat([beams, g_row[:, None]], 1)  # (N, R, P+t+1)
            rows = torch.cat([rows, block + K], 1)  # (N, R)
            y = torch.cat([token, g_tok[:, None]], 1)
        else:
            history = beams
        state = stepper.select(state, rows.view(-1))
        y = y.reshape(-1)
        for i in range(N):
            if done[i]:
                continue
            if t + 1 >= lens[i]:  # out of steps: the live hypotheses end here
                for k in scores[i].isfinite().nonzero().flatten().tolist():
                    finish(i, history[i, k, P:].tolist(), scores[i, k].item(), t + 1)
                done[i] = True
            elif finished[i].count >= K:
                done[i] = True
        if all(done) and not any(g_live):
            break
        # A finished item's beams must not record anything again.
        scores[torch.tensor(done, device=device)] = -math.inf
    return [f.n_best(n_best) for f in finished]
