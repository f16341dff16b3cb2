"""Encoder-decoder models: a (bi)directional GRU/LSTM encoder and a GRU/LSTM decoder, with
the fixed-context decoder of Cho et al. (2014) or attention over the encoder outputs
(Bahdanau et al. 2015; Luong et al. 2015).

Batches are batch-first: ``src`` (N, S) padded with ``<pad>`` = 0 and ``src_len`` (N,);
``tgt_in`` (N, T) is the target without its last token (teacher forcing predicts
``tgt[:, 1:]``). Padding changes nothing: the encoder runs over packed sequences and attention
gives padded positions exactly zero weight, so a sentence's logits do not depend on what it is
batched with.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from rnnkit.errors import ConfigError, DataError, check_choice
from rnnkit.nn.recurrent import BACKENDS, State, build_recurrent, run_padded, select_state

CELLS = ("gru", "lstm", "mingru", "minlstm")
ATTENTIONS = ("none", "additive", "dot", "general", "scaled")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Shape of an encoder-decoder.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes (``<pad>`` = 0 in both).
        embed: E, embedding size of both sides.
        hidden: H, per layer and direction.
        layers: stacked recurrent layers, in the encoder and in the decoder.
        cell: ``gru``, ``lstm``, ``mingru`` or ``minlstm`` (encoder and decoder).
        bidirectional: the encoder reads both ways; its outputs are (N, S, 2H).
        attention: ``none`` (one fixed context vector, Cho et al. 2014), ``additive``
            (Bahdanau), ``dot``, ``general`` or ``scaled`` (Luong-style scores).
        dropout: on embeddings, between stacked layers and before the output layer.
        backend: which recurrent implementation (see ``rnnkit.nn.recurrent.BACKENDS``).
    """

    src_vocab: int
    tgt_vocab: int
    embed: int = 256
    hidden: int = 512
    layers: int = 1
    cell: str = "gru"
    bidirectional: bool = True
    attention: str = "additive"
    dropout: float = 0.3
    backend: str = "torch"

    def __post_init__(self):
        for f in fields(self):
            value, want = getattr(self, f.name), f.type
            if want == "float" and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                continue
            ok = {"int": int, "float": float, "bool": bool, "str": str}[want]
            if not isinstance(value, ok) or (want == "int" and isinstance(value, bool)):
                raise ConfigError(f"seq2seq {f.name} must be {want}, got {value!r}")
        for name in ("src_vocab", "tgt_vocab"):
            if getattr(self, name) < 4:
                raise ConfigError(
                    f"{name} must be >= 4 (<pad> <unk> <bos> <eos>), got {getattr(self, name)}"
                )
        for name in ("embed", "hidden", "layers"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"seq2seq {name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"seq2seq dropout must be in [0, 1), got {self.dropout}")
        check_choice("seq2seq cell", self.cell, CELLS)
        check_choice("seq2seq attention", self.attention, ATTENTIONS)
        check_choice("seq2seq backend", self.backend, tuple(BACKENDS))

    @property
    def context_size(self) -> int:
        """C = D*H, the size of an encoder output (D = 2 if bidirectional else 1)."""
        return self.hidden * (2 if self.bidirectional else 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Seq2SeqConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"a seq2seq config must be a mapping of field: value, got {d!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown seq2seq config keys {', '.join(unknown)}; known keys are "
                f"{', '.join(known)}"
            )
        missing = [k for k in ("src_vocab", "tgt_vocab") if k not in d]
        if missing:
            raise ConfigError(f"a seq2seq config needs {' and '.join(missing)}; add them")
        return cls(**d)


# ---- attention -------------------------------------------------------------------------------
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim of ``scores`` (N, S) where ``mask`` (N, S) is True.

    Masked positions get exactly 0; a row with no valid position is all zeros (not NaN).
    """
    # The dtype's lowest finite value rather than -inf: exp() still underflows to exactly 0,
    # and an all-masked row stays finite.
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores.softmax(-1).masked_fill(~mask, 0.0)


class AdditiveAttention(nn.Module):
    """Bahdanau attention: ``score(q, k) = v^T tanh(W_q q + W_k k)``.

    Args:
        query_size: Hq. key_size: Hk. attn_size: A, the width of the hidden layer.

    Inputs: ``query`` (N, Hq), ``keys`` (N, S, Hk), ``mask`` (N, S) bool, ``proj_keys``
        (N, S, A) from ``project_keys(keys)``, computed once per sentence; ``None`` computes it.

    Outputs: ``(context (N, Hk), weights (N, S))``.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)
        self.key_proj = nn.Linear(key_size, attn_size)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return self.key_proj(keys)  # (N, S, A)

    def forward(self, query, keys, mask, proj_keys=None):
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        hidden = torch.tanh(proj_keys + self.query_proj(query).unsqueeze(1))  # (N, S, A)
        weights = masked_softmax(self.v(hidden).squeeze(-1), mask)  # (N, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (N, Hk)
        return context, weights


class DotAttention(nn.Module):
    """Luong's multiplicative scores.

    ``kind``: ``"dot"`` (plain ``q . k``, no parameters), ``"general"`` (``q W k``) or
    ``"scaled"`` (``q . k / sqrt(Hq)``, keys projected to Hq first when the sizes differ).
    Plain dot over a bidirectional encoder (Hk = D*Hq) scores against the sum of the D
    directions' states, so it stays parameter-free; the context still averages the full
    (N, S, Hk) keys. The key-side transform is computed once per sentence by ``project_keys``.

    Inputs and outputs as ``AdditiveAttention``; ``proj_keys`` is (N, S, Hq).
    """

    def __init__(self, query_size: int, key_size: int, kind: str = "dot"):
        super().__init__()
        check_choice("dot attention", kind, ("dot", "general", "scaled"))
        if kind == "dot" and key_size % query_size:
            raise ConfigError(
                f"dot attention needs a key size that is a multiple of the query size "
                f"({key_size} vs {query_size}); use general or scaled attention"
            )
        self.kind = kind
        self.scale = 1.0 / math.sqrt(query_size) if kind == "scaled" else 1.0
        needs_proj = kind == "general" or (kind == "scaled" and query_size != key_size)
        self.key_proj = nn.Linear(key_size, query_size, bias=False) if needs_proj else None
        self.directions = key_size // query_size if kind == "dot" else 1

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        if self.key_proj is not None:
            return self.key_proj(keys)  # (N, S, Hq)
        if self.directions > 1:  # (N, S, D*Hq) -> sum of directions (N, S, Hq)
            return keys.unflatten(-1, (self.directions, -1)).sum(-2)
        return keys

    def forward(self, query, keys, mask, proj_keys=None):
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        scores = torch.bmm(proj_keys, query.unsqueeze(-1)).squeeze(-1) * self.scale  # (N, S)
        weights = masked_softmax(scores, mask)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (N, Hk)
        return context, weights


# ---- encoder ---------------------------------------------------------------------------------
class Encoder(nn.Module):
    """Embedding + multi-layer, optionally bidirectional GRU/LSTM over the valid steps only.

    Inputs: ``src`` (N, S) int64, ``src_len`` (N,) with 1 <= src_len <= S.

    Outputs: ``(outputs, final)``
        - **outputs**: (N, S, D*H), zeros past each sentence's length.
        - **final**: the top layer's last states, both directions concatenated, (N, D*H);
          for LSTM the pair ``(h, c)``.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.src_vocab, c.embed, padding_idx=0)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.rnn = build_recurrent(
            c.cell, c.embed, c.hidden, c.layers, c.dropout, c.backend, c.bidirectional
        )

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        c = self.config
        x = self.drop(self.embedding(src.t()))  # (S, N, E), time-major for the kernels
        out, final = run_padded(self.rnn, x, src_len, c.backend)  # (S, N, D*H)
        D = 2 if c.bidirectional else 1

        def top(s):  # (L*D, N, H) -> top layer, directions side by side (N, D*H)
            return s[-D:].transpose(0, 1).reshape(s.size(1), D * c.hidden)

        final = tuple(top(s) for s in final) if isinstance(final, tuple) else top(final)
        return out.transpose(0, 1), final  # (N, S, D*H)


# ---- the model -------------------------------------------------------------------------------
@dataclass
class Memory:
    """What the decoder reads about a batch of source sentences.

    - **outputs**: encoder outputs (N, S, C).
    - **mask**: (N, S) bool, True at valid source positions.
    - **proj_keys**: the attention's key projection of ``outputs``, or ``None``.
    - **context**: the fixed context (N, C) of ``attention="none"``, else ``None``.
    - **state**: the decoder's initial state, (L, N, H) or ``(h, c)``.
    """

    outputs: torch.Tensor
    mask: torch.Tensor
    proj_keys: torch.Tensor | None
    context: torch.Tensor | None
    state: State

    def select(self, index: torch.Tensor) -> Memory:
        """The memory of sentences ``index`` (N',), in that order (repeats allowed)."""
        rows = (self.outputs, self.mask, self.proj_keys, self.context)
        picked = (None if t is None else t.index_select(0, index) for t in rows)
        return Memory(*picked, select_state(self.state, index))


class Seq2Seq(nn.Module):
    """Encoder-decoder with a GRU/LSTM decoder, with or without attention.

    Each decoder step reads ``y_prev`` and a context vector ``c_t``:
    ``s_t = RNN([emb(y_prev); c_t], s_{t-1})`` and
    ``logits_t = W_o [s_t; c_t; emb(y_prev)]``. With attention, ``c_t`` attends over the
    encoder outputs with the query ``s_{t-1}`` (the previous top hidden state, as Bahdanau
    et al.); without, ``c_t`` is the encoder's final state at every step (Cho et al. 2014).
    The decoder starts from ``tanh(W_b final)``, one bridge per state (h, and c for LSTM).

    Inputs: ``src`` (N, S), ``src_len`` (N,), ``tgt_in`` (N, T), ``teacher_forcing=1.0``,
        ``generator=None``. Below 1.0, each step after the first is fed the true previous
        token with that probability (one draw per step for the whole batch, from
        ``generator``), else the model's own argmax prediction.

    Outputs: ``(logits (N, T, V), attn (N, T, S) or None)``.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config
        C, H, L = c.context_size, c.hidden, c.layers
        self.encoder = Encoder(c)
        self.embedding = nn.Embedding(c.tgt_vocab, c.embed, padding_idx=0)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.bridge = nn.Linear(C, L * H)
        self.bridge_cell = nn.Linear(C, L * H) if c.cell == "lstm" else None
        self.attention = None
        if c.attention == "additive":
            self.attention = AdditiveAttention(H, C, attn_size=H)
        elif c.attention != "none":
            self.attention = DotAttention(H, C, c.attention)
        self.rnn = build_recurrent(c.cell, c.embed + C, H, L, c.dropout, c.backend)
        self.out = nn.Linear(H + C + c.embed, c.tgt_vocab)

    # -- memory and state --
    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> Memory:
        if src.dim() != 2 or src_len.shape != (src.size(0),):
            raise DataError(
                f"expected src (N, S) and src_len (N,), got {tuple(src.shape)} and "
                f"{tuple(src_len.shape)}; batch sentences first"
            )
        if src.size(0) and not (int(src_len.min()) >= 1 and int(src_len.max()) <= src.size(1)):
            raise DataError(
                f"source lengths must be in [1, {src.size(1)}], got {src_len.tolist()}; "
                "drop empty sentences"
            )
        return self.memory(src, src_len)

    def memory(self, src: torch.Tensor, src_len: torch.Tensor) -> Memory:
        """``encode`` without its checks of the lengths' values, which ``torch.export`` cannot
        trace (they read the data)."""
        outputs, final = self.encoder(src, src_len)  # (N, S, C)
        steps = torch.arange(src.size(1), device=src.device)
        mask = steps[None, :] < src_len.to(src.device)[:, None]  # (N, S)
        h_final = final[0] if isinstance(final, tuple) else final  # (N, C)
        state = self._bridge(self.bridge, h_final)
        if self.bridge_cell is not None:
            state = (state, self._bridge(self.bridge_cell, final[1]))
        if self.attention is None:
            return Memory(outputs, mask, None, h_final, state)
        return Memory(outputs, mask, self.attention.project_keys(outputs), None, state)

    def _bridge(self, layer: nn.Linear, final: torch.Tensor) -> torch.Tensor:
        L, H = self.config.layers, self.config.hidden
        return torch.tanh(layer(final)).view(-1, L, H).transpose(0, 1).contiguous()  # (L, N, H)

    def init_state(self, memory: Memory) -> State:
        return memory.state

    @staticmethod
    def select_state(state: State, index: torch.Tensor) -> State:
        """Rows ``index`` of a decoder state (beam search reorders its hypotheses with it)."""
        return select_state(state, index)

    def expand_memory(self, memory: Memory, repeats: int) -> Memory:
        """Each sentence's memory ``repeats`` times in a row: rows i*repeats .. for sentence i."""
        index = torch.arange(memory.mask.size(0), device=memory.mask.device)
        return memory.select(index.repeat_interleave(repeats))

    # -- decoding --
    def _context(self, state: State, memory: Memory):
        """``(c_t (N, C), weights (N, S) or None)`` for the step after ``state``."""
        if self.attention is None:
            return memory.context, None
        h = state[0] if isinstance(state, tuple) else state
        return self.attention(h[-1], memory.outputs, memory.mask, memory.proj_keys)

    def _advance(self, emb: torch.Tensor, state: State, memory: Memory):
        """One decoder step from the embedded previous token ``emb`` (N, E)."""
        context, weights = self._context(state, memory)
        out, state = self.rnn(torch.cat([emb, context], -1).unsqueeze(0), state)  # (1, N, H)
        return out[0], context, weights, state

    def _logits(self, h, context, emb) -> torch.Tensor:
        return self.out(self.drop(torch.cat([h, context, emb], -1)))  # (..., V)

    def step(self, y_prev: torch.Tensor, state: State, memory: Memory):
        """One step: ``y_prev`` (N,) -> ``(logits (N, V), state, weights (N, S) or None)``."""
        emb = self.drop(self.embedding(y_prev))  # (N, E)
        h, context, weights, state = self._advance(emb, state, memory)
        return self._logits(h, context, emb), state, weights

    def forward(
        self,
        src: torch.Tensor,
        src_len: torch.Tensor,
        tgt_in: torch.Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        memory = self.encode(src, src_len)
        if teacher_forcing >= 1.0:
            return self._teacher_forced(tgt_in, memory)
        state = self.init_state(memory)
        y = tgt_in[:, 0]
        logits, attn = [], []
        for t in range(tgt_in.size(1)):
            if t > 0:
                use_true = torch.rand((), generator=generator).item() < teacher_forcing
                y = tgt_in[:, t] if use_true else logits[-1].argmax(-1)
            step_logits, state, weights = self.step(y, state, memory)
            logits.append(step_logits)
            attn.append(weights)
        return torch.stack(logits, 1), (None if self.attention is None else torch.stack(attn, 1))

    def _teacher_forced(self, tgt_in: torch.Tensor, memory: Memory):
        """Every step fed the true token: embeddings and the output layer run once for all T."""
        emb = self.drop(self.embedding(tgt_in))  # (N, T, E)
        if self.attention is None:  # a fixed context: the whole sequence in one RNN call
            context = memory.context.unsqueeze(1).expand(-1, tgt_in.size(1), -1)  # (N, T, C)
            x = torch.cat([emb, context], -1).transpose(0, 1)  # (T, N, E+C)
            h, _ = self.rnn(x, memory.state)
            return self._logits(h.transpose(0, 1), context, emb), None
        state = memory.state
        hs, contexts, attn = [], [], []
        for emb_t in emb.unbind(1):
            h, context, weights, state = self._advance(emb_t, state, memory)
            hs.append(h)
            contexts.append(context)
            attn.append(weights)
        h, context = torch.stack(hs, 1), torch.stack(contexts, 1)  # (N, T, H), (N, T, C)
        return self._logits(h, context, emb), torch.stack(attn, 1)  # (N, T, V), (N, T, S)


def build_seq2seq(config: dict | Seq2SeqConfig) -> Seq2Seq:
    """A ``Seq2Seq`` from its config (a ``Seq2SeqConfig`` or its ``to_dict()``)."""
    if not isinstance(config, Seq2SeqConfig):
        config = Seq2SeqConfig.from_dict(config)
    return Seq2Seq(config)
