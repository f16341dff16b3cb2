"""A linear-chain conditional random field (Lafferty et al. 2001) over per-step tag scores.

For a sentence of S steps with emission scores ``emit`` (S, T) (one score per step and tag,
usually from a tagger's output layer), a tag path ``y = y_1 .. y_S`` scores

    score(y) = start[y_1] + sum_{t=1..S} emit[t, y_t] + sum_{t=2..S} trans[y_{t-1}, y_t]
               + end[y_S]

and ``p(y | x) = exp(score(y)) / Z`` with ``Z = sum_y' exp(score(y'))`` over all T^S paths.
``log Z`` comes from the forward algorithm, ``alpha_t[j] = emit[t, j] + logsumexp_i
(alpha_{t-1}[i] + trans[i, j])``; the best path from Viterbi, the same recursion with max in
place of logsumexp. Training minimises ``-log p(y | x) = log Z - score(y)``.

Everything is batch-first: ``emissions`` (N, S, T), ``tags`` (N, S), ``mask`` (N, S) bool with
each row's valid steps a prefix of at least one step. Padded steps change nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.errors import ConfigError, check_choice

# Added to the score of a forbidden move. Finite, unlike -inf, so log Z and its gradients stay
# finite even when a gold path breaks a constraint; exp(-1e4) is exactly 0 in float32 and
# float64, so forbidden paths carry no probability mass. Viterbi only picks a forbidden move
# when every allowed path scores 1e4 below it, which no sensible emissions reach.
FORBIDDEN = -1e4

REDUCTIONS = ("mean", "sum", "none")


def bio_constraints(tags: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The moves a BIO tagging allows: ``I-x`` only after ``B-x`` or ``I-x``, never first.

    Tags that are not ``O``, ``B-x`` or ``I-x`` (``<pad>``, say) are unconstrained: every move
    to and from them is allowed.

    Args:
        tags: the tag names, in tag-id order.

    Returns:
        ``(allowed_start (T,), allowed (T, T), allowed_end (T,))``, bool; ``allowed[i, j]``
        says whether tag j may follow tag i.
    """
    tags = list(tags)
    T = len(tags)

    def split(tag: str) -> tuple[str, str | None]:
        if tag == "O":
            return "O", None
        prefix, sep, kind = tag.partition("-")
        if sep and kind and prefix in ("B", "I"):
            return prefix, kind
        return "", None  # unconstrained

    parsed = [split(t) for t in tags]
    allowed_start = torch.ones(T, dtype=torch.bool)
    allowed = torch.ones(T, T, dtype=torch.bool)
    for j, (prefix_j, kind_j) in enumerate(parsed):
        if prefix_j != "I":
            continue
        allowed_start[j] = False
        for i, (prefix_i, kind_i) in enumerate(parsed):
            # O, or B-/I- of another type, cannot be followed by I-x.
            if prefix_i == "O" or (prefix_i in ("B", "I") and kind_i != kind_j):
                allowed[i, j] = False
    return allowed_start, allowed, torch.ones(T, dtype=torch.bool)


class CRF(nn.Module):
    """Linear-chain CRF with start, end and transition scores, optionally constrained.

    Args:
        num_tags: T, the number of tags.
        allowed: (T, T) bool, ``allowed[i, j]`` False forbids moving from tag i to tag j.
        allowed_start: (T,) bool, False forbids a path starting with that tag.
        allowed_end: (T,) bool, False forbids a path ending with that tag.
        (All three default to all True.)

    Parameters ``start`` (T,), ``end`` (T,) and ``transitions`` (T, T), where
    ``transitions[i, j]`` scores moving from tag i to tag j, start uniform in [-0.1, 0.1].
    Forbidden moves get ``FORBIDDEN`` added, in ``score``, ``log_partition`` and ``decode``
    alike, so the likelihood stays a distribution and Viterbi avoids them.

    Inputs: ``emissions`` (N, S, T) float, ``tags`` (N, S) int64, ``mask`` (N, S) bool, True
        at valid steps, which must be a prefix of at least one step in every row (``None``:
        all steps valid). Tags at padded steps are ignored and may hold any value.

    Outputs: ``forward`` gives the negative log-likelihood, (N,) with ``reduction="none"``,
        else a scalar; ``decode`` gives the best paths and their scores (N,).
    """

    def __init__(
        self,
        num_tags: int,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
        allowed_end: torch.Tensor | None = None,
    ):
        super().__init__()
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags < 1:
            raise ConfigError(f"num_tags must be an integer >= 1, got {num_tags!r}")
        self.num_tags = T = num_tags
        self.start = nn.Parameter(torch.empty(T).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(T).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(T, T).uniform_(-0.1, 0.1))
        for name, value, shape in (
            ("allowed_start", allowed_start, (T,)),
            ("allowed", allowed, (T, T)),
            ("allowed_end", allowed_end, (T,)),
        ):
            if value is None:
                value = torch.ones(shape, dtype=torch.bool)
            value = torch.as_tensor(value)
            if value.dtype != torch.bool or tuple(value.shape) != shape:
                raise ConfigError(
                    f"{name} must be a bool tensor of shape {shape}, got {value.dtype} "
                    f"{tuple(value.shape)}; build it with bio_constraints or leave it None"
                )
            self.register_buffer(name, value.clone())

    @classmethod
    def from_bio(cls, tags: list[str]) -> CRF:
        """A CRF over ``tags`` (names in tag-id order) with the BIO constraints."""
        allowed_start, allowed, allowed_end = bio_constraints(tags)
        return cls(len(tags), allowed, allowed_start, allowed_end)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    # -- scores with the constraints applied --
    def _scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(start (T,), transitions (T, T), end (T,))`` with forbidden moves penalised."""
        pairs = (
            (self.start, self.allowed_start),
            (self.transitions, self.allowed),
            (self.end, self.allowed_end),
        )
        return tuple(p + (~ok).to(p.dtype) * FORBIDDEN for p, ok in pairs)

    def _check(self, emissions, mask, tags=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate the inputs; return ``(mask (N, S) bool, lengths (N,))``."""
        if emissions.dim() != 3 or emissions.size(2) != self.num_tags:
            raise ConfigError(
                f"expected emissions (N, S, {self.num_tags}), got {tuple(emissions.shape)}; "
                "batch sentences first, one score per tag"
            )
        N, S, _ = emissions.shape
        if mask is None:
            mask = torch.ones(N, S, dtype=torch.bool, device=emissions.device)
        if tuple(mask.shape) != (N, S) or mask.dtype != torch.bool:
            raise ConfigError(
                f"expected a bool mask of shape {(N, S)}, got {mask.dtype} {tuple(mask.shape)}; "
                "pass mask = steps < lengths"
            )
        if tags is not None and tuple(tags.shape) != (N, S):
            raise ConfigError(
                f"expected tags of shape {(N, S)} like the emissions, got {tuple(tags.shape)}"
            )
        lengths = mask.sum(1)  # (N,)
        if N and int(lengths.min()) < 1:
            bad = int((lengths < 1).nonzero()[0])
            raise ConfigError(f"row {bad} of the mask has no valid step; drop empty sentences")
        steps = torch.arange(S, device=mask.device)
        if not torch.equal(mask, steps[None, :] < lengths[:, None]):
            raise ConfigError("mask rows must be True on a prefix then False; left-align the data")
        return mask, lengths

    # -- the three quantities --
    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask=None) -> torch.Tensor:
        """``score(y)`` of the paths ``tags`` (N, S); returns (N,)."""
        mask, lengths = self._check(emissions, mask, tags)
        tags = tags.masked_fill(~mask, 0)  # any padded value indexes safely
        if not bool(((tags >= 0) & (tags < self.num_tags)).all()):
            raise ConfigError(f"tags must be in [0, {self.num_tags}) at the valid steps")
        start, trans, end = self._scores()
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (N, S)
        total = start[tags[:, 0]] + emit.masked_fill(~mask, 0.0).sum(1)
        moves = trans[tags[:, :-1], tags[:, 1:]]  # (N, S-1), move into step t from t-1
        total = total + moves.masked_fill(~mask[:, 1:], 0.0).sum(1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (N,)
        return total + end[last]

    def log_partition(self, emissions: torch.Tensor, mask=None) -> torch.Tensor:
        """``log Z`` by the forward algorithm; returns (N,)."""
        mask, _ = self._check(emissions, mask)
        start, trans, end = self._scores()
        alpha = start + emissions[:, 0]  # (N, T), log-sum of all paths ending in each tag
        for t in range(1, emissions.size(1)):
            # (N, T_prev, 1) + (T_prev, T_next), summed out over the previous tag
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)  # padded: carry alpha unchanged
        return torch.logsumexp(alpha + end, dim=1)

    def forward(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask=None, reduction: str = "mean"
    ) -> torch.Tensor:
        """Negative log-likelihood ``log Z - score(tags)``, reduced over the batch."""
        check_choice("reduction", reduction, REDUCTIONS)
        nll = self.log_partition(emissions, mask) - self.score(emissions, tags, mask)  # (N,)
        if reduction == "none":
            return nll
        return nll.sum() if reduction == "sum" else nll.mean()

    def decode(self, emissions: torch.Tensor, mask=None) -> tuple[list[list[int]], torch.Tensor]:
        """Viterbi: each row's highest-scoring path (as long as its valid steps) and score."""
        mask, lengths = self._check(emissions, mask)
        N, S, T = emissions.shape
        start, trans, end = self._scores()
        best = start + emissions[:, 0]  # (N, T), best score of a path ending in each tag
        keep = torch.arange(T, device=emissions.device).expand(N, T)
        backpointers = []  # per step t >= 1: (N, T) best previous tag for each tag
        for t in range(1, S):
            step, prev = (best.unsqueeze(2) + trans).max(dim=1)  # (N, T) each
            valid = mask[:, t, None]
            best = torch.where(valid, step + emissions[:, t], best)
            # A padded step points every tag at itself, so backtracking passes through it.
            backpointers.append(torch.where(valid, prev, keep))
        scores, tag = (best + end).max(dim=1)  # (N,)
        path = [tag]
        for prev in reversed(backpointers):
            tag = prev.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        path = torch.stack(path[::-1], dim=1).tolist()  # (N, S)
        return [row[:n] for row, n in zip(path, lengths.tolist(), strict=True)], scores
