"""Recurrent language model: embedding (or one-hot) -> RNN / LSTM / GRU / minGRU / minLSTM ->
linear decoder."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.bounds import check
from rnnkit.errors import ConfigError, check_choice
from rnnkit.nn.recurrent import CELLS, MIN_CELLS, State, build_recurrent, init_state, select_state


@dataclass(frozen=True)
class LMConfig:
    """Shape of a language model.

    Args:
        vocab_size: V.
        cell: ``rnn``, ``lstm``, ``gru``, ``lnlstm`` (layer-normalised LSTM), ``mingru`` or
            ``minlstm`` (gates from the input alone, trained by a parallel scan).
        hidden_size: H, per layer.
        num_layers: stacked recurrent layers.
        embed_size: E; ``None`` means E = H; ``0`` feeds one-hot vectors (E = V), as in the
            classic formulation.
        dropout: on the embedding, between layers and before the decoder.
        tie_weights: share the decoder weight with the embedding (needs E = H).
        backend: which recurrent implementation (see ``rnnkit.nn.recurrent.BACKENDS``).
        init_range: if > 0, every parameter is drawn from U(-r, r) (Zaremba et al.);
            otherwise PyTorch's default initialisation.
        forget_bias: LSTMs (minLSTM too) only: start the forget gates at this bias (1.0 is the
            usual choice, Jozefowicz et al. 2015), so the cell remembers by default.
        locked_dropout: draw one dropout mask per sequence and reuse it at every time step
            (variational dropout, Gal & Ghahramani 2016) instead of a new mask per step.
        weight_drop: DropConnect on the recurrent weights ``weight_hh_l*`` (Merity et al.
            2017), applied functionally: the parameters themselves are never replaced.
    """

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    embed_size: int | None = None
    dropout: float = 0.0
    tie_weights: bool = False
    backend: str = "torch"
    init_range: float = 0.0
    forget_bias: float = 0.0
    locked_dropout: bool = False
    weight_drop: float = 0.0

    def __post_init__(self):
        check_choice("model", self.cell, CELLS)
        if self.vocab_size <= 0:
            raise ConfigError(f"vocab_size must be > 0, got {self.vocab_size}")
        for name in ("hidden_size", "num_layers", "embed_size", "dropout", "weight_drop"):
            check(name, getattr(self, name))
        if self.forget_bias and self.cell not in ("lstm", "lnlstm", "minlstm"):
            raise ConfigError(f"forget_bias is for LSTMs; the {self.cell} has no forget gate")
        if self.weight_drop and self.cell in MIN_CELLS:
            raise ConfigError(
                f"weight_drop drops recurrent weights and the {self.cell} has none; use --dropout"
            )
        if self.tie_weights and self.input_size != self.hidden_size:
            raise ConfigError(
                f"tie_weights needs embed_size == hidden_size ({self.input_size} != "
                f"{self.hidden_size}); set --embed-size {self.hidden_size} or drop --tie-weights"
            )

    @property
    def input_size(self) -> int:
        if self.embed_size == 0:
            return self.vocab_size
        return self.hidden_size if self.embed_size is None else self.embed_size


class RNNLanguageModel(nn.Module):
    """Predicts the next token at every position.

    Inputs: ``idx``, ``targets=None``, ``state=None``
        - **idx**: token ids, (N, T).
        - **targets**: next-token ids, (N, T); when given, ``loss`` is the mean cross-entropy.
        - **state**: from ``init_state`` or a previous call; ``None`` means zeros.

    Outputs: ``(logits, loss, state)``
        - **logits**: (N, T, V).
        - **loss**: scalar tensor, or ``None`` without targets.
        - **state**: ``h`` (num_layers, N, H), or ``(h, c)`` for LSTM.
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = c = config
        self.embedding = None if c.embed_size == 0 else nn.Embedding(c.vocab_size, c.input_size)
        # Identity when off: a p=0 dropout still costs a pass over the activations.
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.rnn = build_recurrent(
            c.cell, c.input_size, c.hidden_size, c.num_layers, c.dropout, c.backend
        )
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        if c.tie_weights:
            self.decoder.weight = self.embedding.weight
        if c.init_range > 0:
            for p in self.parameters():
                nn.init.uniform_(p, -c.init_range, c.init_range)
        if c.forget_bias:
            with torch.no_grad():  # gate order i|f|g|o (minLSTM i|f|h~): forget is the second
                H = c.hidden_size
                for name, p in self.rnn.named_parameters():
                    # torch-style layers: bias_ih_l{k}; the layer-norm LSTM: cells.{k}.bias
                    if name.startswith("bias_ih") or re.fullmatch(r"cells\.\d+\.bias", name):
                        p[H : 2 * H] = c.forget_bias
                    elif name.startswith("bias_hh"):
                        p[H : 2 * H] = 0.0

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout on (T, N, F) activations; locked: one mask per sequence, shared over T."""
        p = self.config.dropout
        if not (self.training and p > 0 and self.config.locked_dropout):
            return self.drop(x)
        mask = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1 - p) / (1 - p)
        return x * mask

    def _recurrent(self, x: torch.Tensor, state: State | None):
        p = self.config.weight_drop
        if not (self.training and p > 0):
            return self.rnn(x, state)
        dropped = {
            name: F.dropout(w, p, training=True)
            for name, w in self.rnn.named_parameters()
            if name.rsplit(".", 1)[-1].startswith("weight_hh")  # also cells.{k}.weight_hh
        }
        return torch.func.functional_call(self.rnn, dropped, (x, state))

    def init_state(self, batch: int) -> State:
        p = self.decoder.weight
        c = self.config
        return init_state(c.cell, c.num_layers, batch, c.hidden_size, p.device, p.dtype)

    def step(self, y_prev: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One token per row: ``y_prev`` (N,) -> ``(logits (N, V), state)``, as ``Seq2Seq.step``.

        The same computation as ``forward`` on a length-1 sequence, so stepping through a text
        gives the logits ``forward`` gives for it.
        """
        logits, _, state = self(y_prev[:, None], None, state)  # (N, 1, V)
        return logits[:, 0], state

    # Rows ``index`` (N',) of a state, in that order: beam search reorders its hypotheses.
    select_state = staticmethod(select_state)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        # The recurrent kernels are time-major; transposing the ids is free, the logits come
        # back as a (N, T, V) view.
        idx_t = idx.t()  # (T, N)
        if self.embedding is None:
            x = F.one_hot(idx_t, self.config.vocab_size).to(self.decoder.weight.dtype)
        else:
            x = self.embedding(idx_t)  # (T, N, E)
        out, state = self._recurrent(self._dropout(x), state)  # (T, N, H)
        logits = self.decoder(self._dropout(out))  # (T, N, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.t().reshape(-1), reduction="mean"
            )
        return logits.transpose(0, 1), loss, state
