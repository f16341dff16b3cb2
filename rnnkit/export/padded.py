"""A recurrent stack over a padded batch, written as scans over time, for ``torch.export``.

Encoders read a padded batch with its lengths. rnnkit runs them through
``pack_padded_sequence`` (or the scratch layers' own masking); ``torch.export`` can follow
neither with a free length: packing sorts by the lengths' values, and ``nn.LSTM`` / ``nn.GRU``
are unrolled to the example's length. ``PaddedScan`` runs the same layer as one ``scan`` per
layer and direction, with the rows past their length keeping their state, so the exported
program takes any batch and length and gives what packing gives. A decoder's one step runs
through it too (a scan of one step): the step then holds the cells' equations, not
``nn.GRU``'s flattened weights, which ``torch.export`` warns about.

``scan_twin`` makes such a copy of a classifier or an encoder-decoder; ``load_which`` picks
the run's weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch._higher_order_ops.scan import scan

from rnnkit.errors import ConfigError, ExportError, RunDirError
from rnnkit.nn.cells import gru_cell, lstm_cell, rnn_cell
from rnnkit.nn.layers import stack_layers
from rnnkit.nn.minrnn import cell_step
from rnnkit.train.checkpoint import RunDir, build_for_loading, load_weights

SCAN_CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm")
# How the sidecar says the recurrent layers were exported.
ENCODER_LAYERS = "the cells' equations, as one scan over time per layer and direction"


def padded_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(N, S) bool, True at each row's first ``lengths[n]`` steps."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def random_lengths(batch: int, time: int, gen: torch.Generator) -> torch.Tensor:
    """(batch,) random lengths in [1, time], the first row full, as a padded batch has: the
    inputs of the check after writing."""
    lengths = torch.randint(1, time + 1, (batch,), generator=gen)
    lengths[0] = time
    return lengths


class PaddedScan(nn.Module):
    """``rnn`` (``torch.nn.RNN`` / ``LSTM`` / ``GRU``, rnnkit's scratch layers of the same
    names, which share their parameter names and gate order, or rnnkit's ``MinGRU`` /
    ``MinLSTM``) over a padded batch, one step at a time.

    Args:
        rnn: the time-major layer; its parameters stay its own (``self.rnn``).
        cell: one of ``SCAN_CELLS``.

    Inputs: ``x`` (S, N, I), ``hx`` the initial state as the layer takes it (``None``:
    zeros), ``lengths`` (N,) with 1 <= lengths <= S (``None``: every row is S long).

    Outputs: ``(out, h_n)`` as ``rnnkit.nn.recurrent.run_padded`` gives them: ``out``
    (S, N, D*H), zeros past each length; ``h_n`` (D*L, N, H) (an LSTM: ``(h_n, c_n)``), taken
    at each row's last valid step.

    Raises:
        ExportError: another cell (the layer-normalised LSTM).
    """

    def __init__(self, rnn: nn.Module, cell: str):
        super().__init__()
        if cell not in SCAN_CELLS:
            raise ExportError(
                f"a {cell} encoder has no scan form for torch.export; export a run of "
                f"{', '.join(SCAN_CELLS)}"
            )
        self.rnn, self.cell = rnn, cell
        self.directions = 2 if rnn.bidirectional else 1
        self.nonlinearity = getattr(rnn, "nonlinearity", "tanh")

    def _step(self, g: torch.Tensor, state: tuple, w_hh, b_hh) -> tuple:
        if w_hh is None:  # minGRU / minLSTM: gates from the input alone
            return (cell_step(g, state[0], self.cell == "minlstm"),)
        if self.cell == "lstm":
            return lstm_cell(g, *state, w_hh, b_hh)
        if self.cell == "gru":
            return (gru_cell(g, state[0], w_hh, b_hh),)
        return (rnn_cell(g, state[0], w_hh, b_hh, self.nonlinearity),)

    def _direction(self, x, init: tuple, suffix: str, mask, reverse: int):
        """One layer one way over ``x`` (S, N, I) from the state ``init`` ((h,) or (h, c), each
        (N, H)): ``(out (S, N, H), final state tuple)``."""
        w_ih, b_ih, w_hh, b_hh = (
            getattr(self.rnn, name + suffix, None)  # no bias without one; no W_hh in a min cell
            for name in ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
        )
        xp = F.linear(x, w_ih, b_ih)  # (S, N, G*H): every step's input product at once

        def body(carry, inputs):  # carry: (h,) or (h, c), each (N, H)
            g, valid = inputs  # (N, G*H), (N, 1)
            new = self._step(g, carry, w_hh, b_hh)
            # A row past its length keeps its state; stepping backwards, it starts from zeros
            # at its own last valid step, as packing does.
            new = tuple(torch.where(valid, n, c) for n, c in zip(new, carry, strict=True))
            return new, new[0].clone()  # scan's outputs may not alias its carry

        final, out = scan(body, init, (xp, mask), reverse=bool(reverse))
        return out, final

    def forward(self, x: torch.Tensor, hx=None, lengths: torch.Tensor | None = None):
        S, N = x.shape[:2]
        if lengths is None:
            lengths = torch.full((N,), S, dtype=torch.long, device=x.device)
        mask = padded_mask(lengths, S).t().unsqueeze(-1)  # (S, N, 1)
        if hx is None:
            h0 = x.new_zeros(self.directions * self.rnn.num_layers, N, self.rnn.hidden_size)
            hx = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        hx = hx if isinstance(hx, tuple) else (hx,)
        out, final = stack_layers(
            self._direction, x, hx, mask, self.rnn.num_layers, self.directions
        )
        return out, final if self.cell == "lstm" else final[0]


def check_which(run_dir: str | Path, which: str) -> None:
    """Check that the run has its ``which`` weights: ``best`` (model.safetensors) or ``last``
    (last.safetensors).

    Raises:
        ConfigError: another ``which``. RunDirError: no last.safetensors.
    """
    if which not in ("best", "last"):
        raise ConfigError(f"--which must be best or last, got {which!r}")
    path = RunDir(run_dir).last_path
    if which == "last" and not path.exists():
        raise RunDirError(f"{path.parent} has no {path.name}; export --which best")


def load_which(model: nn.Module, run_dir: str | Path, which: str) -> None:
    """Load the run's ``which`` weights (``check_which``) into ``model``, built and loaded with
    the best ones."""
    check_which(run_dir, which)
    if which == "last":
        load_weights(model, RunDir(run_dir).last_path)


def scan_twin(model: nn.Module, build: Callable, encoder: str = "") -> nn.Module:
    """A copy of ``model`` (built by ``build(config)``) with the same weights, its ``encoder``
    submodule (``""``: the model itself) and any other ``rnn`` of ``model`` (a decoder's) run
    by ``PaddedScan``: scans over ``torch.nn``'s cell equations, which ``torch.export`` keeps
    free of the example's sizes.

    The scratch layers share ``torch.nn``'s parameter names, so the weights move as they are.
    """
    twin = build_for_loading(build, replace(model.config, backend="torch"))
    twin.load_state_dict(model.state_dict())
    owner = twin.get_submodule(encoder)
    owner.rnn = PaddedScan(owner.rnn, owner.config.cell)
    # owner runs it through run_padded, which packs the batch for the torch backend and passes
    # the lengths to the layer for the others; PaddedScan takes the lengths.
    owner.config = replace(owner.config, backend="scratch")
    if owner is not twin and hasattr(twin, "rnn"):
        twin.rnn = PaddedScan(twin.rnn, twin.config.cell)
    # An inference program: with no parameter that needs a gradient, the loaded program runs
    # outside torch.no_grad too (autograd through the Viterbi scan's integer outputs fails).
    return twin.eval().requires_grad_(False)
