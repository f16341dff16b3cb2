"""Logits processors: constraints on the next token, chained in a list.

A processor is a callable ``(history, logits) -> logits``:

- **history**: (N, t) int64, the tokens each row has so far (a search's ``prefix`` first),
  so ``t`` is the position of the token being chosen.
- **logits**: (N, V) scores of the next token (log-probabilities in beam search); a token a
  processor rules out gets -inf.

Processors read everything they need from ``history`` and keep nothing between calls, so beam
search may reorder, copy and drop rows freely. Every processor leaves each row at least one
token it allows. Special token ids come from the ``Vocab`` (see ``reserved_ids``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch

Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def apply(processors: Iterable[Processor], history: torch.Tensor, logits: torch.Tensor):
    """``logits`` through every processor in turn. Shape: (N, V) -> (N, V)."""
    for process in processors:
        logits = process(history, logits)
    return logits


def reserved_ids(vocab, keep: Iterable[str] = ()) -> list[int]:
    """Ids of the vocabulary's reserved tokens (``<pad>``, ``<unk>``, ...) but those in ``keep``."""
    keep = set(keep)
    return [vocab.id_of(t) for t in vocab.reserved if t not in keep]


class BanTokens:
    """Tokens that are never chosen: reserved ids, or those the training text never had.

    Args:
        ids: the banned token ids.
    """

    def __init__(self, ids: Sequence[int]):
        self.ids = torch.as_tensor(list(ids), dtype=torch.long)

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if not len(self.ids):
            return logits
        return logits.index_fill(1, self.ids.to(logits.device), float("-inf"))


class AllowTokens:
    """Only the tokens of a mask at the positions it names.

    Args:
        masks: position -> allowed tokens, a (V,) bool mask; positions not in it are free.
        default: the mask of every other position (``None``: they are free).
    """

    def __init__(self, masks: Mapping[int, torch.Tensor], default: torch.Tensor | None = None):
        self.masks, self.default = dict(masks), default

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        allowed = self.masks.get(history.size(1), self.default)
        if allowed is None:
            return logits
        return logits.masked_fill(~allowed.to(logits.device), float("-inf"))


class ForceTokens(AllowTokens):
    """One given token at each position it names (a poem's marks, an acrostic's heads).

    Args:
        tokens: position -> the token id that must come there.
        vocab_size: V.
        default: the tokens allowed at every other position, a (V,) bool mask (``None``: free).
    """

    def __init__(self, tokens: Mapping[int, int], vocab_size: int, default=None):
        super().__init__({p: torch.arange(vocab_size) == t for p, t in tokens.items()}, default)


class SameGroup:
    """The tokens at ``positions`` share one group (a rhyme), the group read from the history.

    At the first of ``positions`` any token with a group may come (``fallback`` when no token
    has one). At a later one the group is that of the first earlier such token that has one,
    and a token not used at an earlier such position is preferred while the group has one left.
    Because everything is read from ``history``, a row keeps its group whatever beam search does
    with the rows.

    Args:
        positions: the positions that share a group (a poem's even line ends).
        group_of: token id -> its group name, or ``None``.
        fallback: (V,) bool, the tokens allowed when no group is known and no token has one.
    """

    def __init__(self, positions: Iterable[int], group_of: Sequence[str | None], fallback):
        self.positions = sorted(positions)
        self.group_of = list(group_of)
        V = len(self.group_of)
        self.masks: dict[str, torch.Tensor] = {}
        for i, g in enumerate(self.group_of):
            if g is not None:
                self.masks.setdefault(g, torch.zeros(V, dtype=torch.bool))[i] = True
        grouped = torch.tensor([g is not None for g in self.group_of])
        self.first = (grouped & fallback) if (grouped & fallback).any() else fallback

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        t = history.size(1)
        if t not in self.positions:
            return logits
        earlier = [p for p in self.positions if p < t]
        rows = [self._allowed(row) for row in history[:, earlier].tolist()]
        allowed = torch.stack(rows).to(logits.device)  # (N, V)
        return logits.masked_fill(~allowed, float("-inf"))

    def _allowed(self, used: list[int]) -> torch.Tensor:
        """The allowed tokens of one row, given its tokens at the earlier positions."""
        group = next((self.group_of[i] for i in used if self.group_of[i] is not None), None)
        if group is None:
            return self.first
        mask = self.masks[group]
        fresh = mask.clone()
        fresh[used] = False
        return fresh if fresh.any() else mask
