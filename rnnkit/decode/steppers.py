"""What a search drives: a model that scores the next token, one step at a time.

Every model family answers the same three calls, so greedy search, sampling and beam search are
written once:

- ``start(repeats)``: the logits of the first token of every item, each item's row repeated
  ``repeats`` times in a row (rows ``i*repeats ..`` are item ``i``), and the state after them;
- ``step(y_prev, state)``: ``y_prev`` (M,) -> ``(logits (M, V), state)``;
- ``select(state, index)``: rows ``index`` (M',) of a state, in that order (beams reorder).

A language model is warmed up on a context (a prompt); an encoder-decoder reads its encoder
memory, expanded for the beams, and starts from ``<bos>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from rnnkit.decode.packed import packed_step
from rnnkit.errors import GenerationError


class Stepper(Protocol):
    batch: int  # N, the items searched side by side
    model: torch.nn.Module

    def start(self, repeats: int = 1) -> tuple[torch.Tensor, Any]: ...

    def step(self, y_prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...

    def select(self, state: Any, index: torch.Tensor) -> Any: ...


class LanguageModelStepper:
    """An ``RNNLanguageModel`` (``forward`` / ``step`` / ``select_state``) after a context.

    Args:
        model: the language model.
        context: (N, C) int64 token ids, C >= 1, read in one call to set the state; the
            logits after its last token are the first step's.
    """

    def __init__(self, model, context: torch.Tensor):
        self.model, self.context, self.batch = model, context, context.size(0)
        self.fast = False  # unknown until the first step: the grad mode is the caller's

    def start(self, repeats: int = 1):
        logits, _, state = self.model(self.context, None, None)  # (N, C, V)
        logits = logits[:, -1]  # (N, V)
        if repeats > 1:  # the context is read once, its result copied
            rows = torch.arange(self.batch, device=logits.device).repeat_interleave(repeats)
            logits, state = logits.index_select(0, rows), self.model.select_state(state, rows)
        return logits, state

    def step(self, y_prev, state):
        if self.fast is False:  # the packed step where it applies (rnnkit.decode.packed)
            fast = packed_step(self.model)
            self.fast = fast.step if fast is not None else self.model.step
        return self.fast(y_prev, state)

    def select(self, state, index):
        return self.model.select_state(state, index)


class Seq2SeqStepper:
    """A ``Seq2Seq`` decoder over a batch of source sentences.

    Args:
        model: the encoder-decoder (``encode`` / ``expand_memory`` / ``init_state`` /
            ``step`` / ``select_state``).
        src: (N, S) source ids. src_len: (N,).
        bos: the target vocabulary's ``<bos>`` id, fed first.
    """

    def __init__(self, model, src: torch.Tensor, src_len: torch.Tensor, bos: int):
        self.model, self.src, self.src_len, self.bos = model, src, src_len, bos
        self.batch = src.size(0)
        self.memory = None

    def start(self, repeats: int = 1):
        memory = self.model.encode(self.src, self.src_len)
        if repeats > 1:
            memory = self.model.expand_memory(memory, repeats)
        self.memory = memory  # fixed for the whole search
        state = self.model.init_state(memory)
        y = torch.full((self.batch * repeats,), self.bos, dtype=torch.long, device=self.src.device)
        return self.step(y, state)

    def step(self, y_prev, state):
        logits, state, _ = self.model.step(y_prev, state, self.memory)  # (M, V)
        return logits, state

    def select(self, state, index):
        return self.model.select_state(state, index)


def max_lens(max_len: int | Sequence[int], n: int) -> list[int]:
    """``max_len`` per row: one number for all rows, or one each."""
    lens = [max_len] * n if isinstance(max_len, int) else [int(m) for m in max_len]
    if len(lens) != n or any(m < 0 for m in lens):
        raise GenerationError(f"need {n} max lengths >= 0, got {max_len}")
    return lens
