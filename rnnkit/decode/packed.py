"""A language model's one-token step with its weights packed once: the generation fast path.

Generating feeds one token at a time, so each step is a few matrix-vector products; called
through ``nn.LSTM`` each step also pays for the layer's set-up (the oneDNN kernel reorders its
weights on every call), several times the arithmetic at batch 1. ``PackedStep`` does the same
maths with the least work per token:

- the weights are transposed into the layout ``addmm`` reads fastest, once per set of weights
  (``packed_step`` keeps one per model and packs again only when a weight changes);
- the first layer's input projection of every token, ``E W_ih^T + b``, is one table lookup
  (the embedding and the first product are both linear, so the table is exact), which leaves
  one product per layer for the first layer and two for the others;
- the biases of the two products are folded into one where the cell allows (RNN, LSTM; the
  GRU keeps ``b_hn`` inside ``r * (...)``, as ``torch.nn.GRU`` does).

The gates follow ``torch.nn`` (LSTM ``i|f|g|o``, GRU ``r|z|n``), so the logits equal the
model's own ``step`` to float rounding (tested), and the state keeps the model's layout:
``h`` (L, N, H), or the pair ``(h, c)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from rnnkit.nn.recurrent import State

FAST_CELLS = ("rnn", "lstm", "gru")  # the layer-norm LSTM keeps the model's own step

Product = Callable[[torch.Tensor | None, torch.Tensor, torch.Tensor], torch.Tensor]
Activation = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]


def product(bias: torch.Tensor | None, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``bias + x @ w`` (``x @ w`` without a bias): (N, K) @ (K, M) -> (N, M)."""
    return x @ w if bias is None else torch.addmm(bias, x, w)


def apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)``: the nonlinearities as the generation path applies them."""
    return fn(x)


class PackedStep:
    """``step(y_prev (N,), state) -> (logits (N, V), state)`` of a language model in eval mode,
    from weights packed at construction (later changes to the model are not seen)."""

    def __init__(self, model):
        c = model.config
        self.cell, self.layers, self.hidden = c.cell, c.num_layers, c.hidden_size
        p = dict(model.rnn.named_parameters())
        with torch.no_grad():
            if model.embedding is None:  # one-hot input: row v of the table is column v of W
                inputs = torch.eye(c.vocab_size, dtype=p["weight_ih_l0"].dtype)
                inputs = inputs.to(p["weight_ih_l0"].device)
            else:
                inputs = model.embedding.weight
            gru = self.cell == "gru"
            self.table = torch.addmm(self._bias(p, 0, gru), inputs, p["weight_ih_l0"].t())
            self.w_ih = [None] + [
                p[f"weight_ih_l{k}"].t().contiguous() for k in range(1, c.num_layers)
            ]
            self.w_hh = [p[f"weight_hh_l{k}"].t().contiguous() for k in range(c.num_layers)]
            self.b = [None] + [self._bias(p, k, gru) for k in range(1, c.num_layers)]
            self.b_hh = [p[f"bias_hh_l{k}"].clone() for k in range(c.num_layers)] if gru else None
            self.w_out = model.decoder.weight.t().contiguous()  # (H, V)
            self.b_out = model.decoder.bias.clone()
        self.nonlinearity = (
            torch.relu if getattr(model.rnn, "nonlinearity", "tanh") == "relu" else torch.tanh
        )

    @staticmethod
    def _bias(p: dict, k: int, gru: bool) -> torch.Tensor:
        """The input product's bias: ``b_ih + b_hh`` (a GRU adds ``b_hh`` inside its cell)."""
        return p[f"bias_ih_l{k}"].clone() if gru else p[f"bias_ih_l{k}"] + p[f"bias_hh_l{k}"]

    def layer(self, k: int, gi, h, c, mm: Product = product, act: Activation = apply):
        """Layer ``k`` at one time step: ``gi`` (N, G) its input product with bias, ``h`` and
        ``c`` (N, H) its state -> the new ``(h, c)`` (``c`` None but for the LSTM). ``mm``
        computes the products and ``act`` applies the nonlinearities (see ``step``)."""
        if self.cell == "lstm":
            gates = gi + mm(None, h, self.w_hh[k])  # (N, 4H)
            i, f, g, o = gates.chunk(4, 1)
            c = act(torch.sigmoid, f) * c + act(torch.sigmoid, i) * act(torch.tanh, g)
            return act(torch.sigmoid, o) * act(torch.tanh, c), c
        if self.cell == "gru":
            gh = mm(self.b_hh[k], h, self.w_hh[k])  # (N, 3H)
            ir, iz, in_ = gi.chunk(3, 1)
            hr, hz, hn = gh.chunk(3, 1)
            r, z = act(torch.sigmoid, ir + hr), act(torch.sigmoid, iz + hz)
            n = act(torch.tanh, in_ + r * hn)
            return n + z * (h - n), None  # (1 - z) * n + z * h
        return act(self.nonlinearity, gi + mm(None, h, self.w_hh[k])), None

    def layers_step(self, gi0, hs, cs, mm: Product = product, act: Activation = apply):
        """Every layer at one time step, from the first layer's input product ``gi0`` (N, G)
        and the states ``hs``, ``cs`` (indexable by layer, (N, H) each)."""
        new_h, new_c = [], []
        x = None
        for k in range(self.layers):
            gi = gi0 if k == 0 else mm(self.b[k], x, self.w_ih[k])
            x, c = self.layer(k, gi, hs[k], cs[k] if cs is not None else None, mm, act)
            new_h.append(x)
            new_c.append(c)
        return new_h, new_c

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every packed tensor by a flat name (to register them as buffers of a module)."""
        out = {"table": self.table, "w_out": self.w_out, "b_out": self.b_out}
        for k in range(self.layers):
            out[f"w_hh_{k}"] = self.w_hh[k]
            if k:
                out[f"w_ih_{k}"], out[f"b_{k}"] = self.w_ih[k], self.b[k]
            if self.b_hh is not None:
                out[f"b_hh_{k}"] = self.b_hh[k]
        return out

    def bind(self, t: dict[str, torch.Tensor]) -> PackedStep:
        """The same step on the tensors ``t`` (named as ``tensors()`` names them): a module
        that holds them as buffers runs the step on its own, e.g. while ``torch.export`` traces
        it."""
        new = copy.copy(self)
        new.table, new.w_out, new.b_out = t["table"], t["w_out"], t["b_out"]
        new.w_hh = [t[f"w_hh_{k}"] for k in range(self.layers)]
        new.w_ih = [None] + [t[f"w_ih_{k}"] for k in range(1, self.layers)]
        new.b = [None] + [t[f"b_{k}"] for k in range(1, self.layers)]
        if self.b_hh is not None:
            new.b_hh = [t[f"b_hh_{k}"] for k in range(self.layers)]
        return new

    @torch.no_grad()
    def step(
        self,
        y_prev: torch.Tensor,
        state: State | None,
        mm: Product = product,
        act: Activation = apply,
    ) -> tuple[torch.Tensor, State]:
        """Logits (N, V) after ``y_prev`` (N,) and the new state. ``mm(bias, x, w)`` computes
        every product ``bias + x @ w`` and ``act(fn, x)`` every nonlinearity: the generation
        path uses the plain ones; ``rnnkit.decode.running.step_rows`` passes row-by-row ones."""
        n = y_prev.size(0)
        if state is None:
            h0 = self.table.new_zeros(self.layers, n, self.hidden)
            state = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        hs, cs = state if self.cell == "lstm" else (state, None)
        gi0 = self.table.index_select(0, y_prev)  # (N, G): x W_ih^T + b of each token
        new_h, new_c = self.layers_step(gi0, hs, cs, mm, act)
        logits = mm(self.b_out, new_h[-1], self.w_out)  # (N, V)
        h_n = torch.stack(new_h)
        return logits, ((h_n, torch.stack(new_c)) if self.cell == "lstm" else h_n)


def _fingerprint(model) -> tuple:
    # An optimizer step or load_state_dict changes a weight in place (its version counter
    # moves) or replaces it (its storage moves): either one means packing again.
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def packed_step(model) -> PackedStep | None:
    """The model's ``PackedStep``, packed again only when a weight changed; None when the fast
    path does not apply (a cell without one, training mode, or gradients being recorded)."""
    if model.training or torch.is_grad_enabled() or model.config.cell not in FAST_CELLS:
        return None
    key = _fingerprint(model)
    cached = model.__dict__.get("_packed_step")
    if cached is None or cached[0] != key:
        cached = (key, PackedStep(model))
        model.__dict__["_packed_step"] = cached  # not a submodule: never in the state dict
    return cached[1]
