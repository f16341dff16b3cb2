"""What an exported model is: a module with named tensor inputs and outputs, and a description of
them that a consumer without rnnkit can follow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

Inputs = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an exported graph.

    Args:
        name: its name in the ONNX graph and in the sidecar JSON.
        shape: sizes in order; a string names a dynamic axis (``batch``, ``time``).
        doc: what it holds, for the sidecar.
        dtype: ``float32``, ``int64`` or ``bool``.
    """

    name: str
    shape: tuple[int | str, ...]
    doc: str
    dtype: str = "float32"

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: s for i, s in enumerate(self.shape) if isinstance(s, str)}

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "doc": self.doc}


def torch_layers_note(backend: str, cell: str) -> str:
    """``Exportable.notes``' line for a run whose layers export as ``torch.nn``'s twins."""
    return (
        f"the run uses the {backend} backend: exported through the equivalent torch.nn "
        f"{cell.upper()} with the same weights"
    )


@dataclass
class Exportable:
    """A trained model made ready to export, with what is needed to check the file.

    Attributes:
        kind: the kind of run it came from (a key of ``rnnkit.export.run.EXPORTERS``: ``lm``,
            ``forecast``, ``classify``, ``seq2seq``).
        module: eval-mode module built from ``torch.nn`` layers, whose ``forward`` takes the
            ``inputs`` positionally and returns the ``outputs`` as a tuple, in order; what the
            TorchScript-based formats trace. None: the model exists only as ``program``
            (scans over time), and those formats refuse it.
        reference: the same computation on the model as rnnkit runs it (its scratch layers, for
            a scratch run); the written file is checked against it.
        inputs, outputs: the graph's tensors.
        sample: ``sample(batch, time, generator)`` makes valid inputs of those sizes (``time``
            is ignored by graphs without a time axis).
        state: ``(input, output)`` name pairs: an output fed back as an input on the next
            call (the recurrent state of a language model); empty for one-shot graphs.
        meta: the sidecar fields of this kind (model shape, vocabulary, tokenizer, scaler).
        notes: what the user should know about how it was exported, one line each.
        program: the module ``torch.export`` writes (``--format pt2`` and ``onnx``), when
            ``module`` would not keep its dynamic axes there (a language model's loop over
            time, written as a scan); None: ``module`` itself.
    """

    kind: str
    reference: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    sample: Callable[[int, int, torch.Generator], Inputs]
    module: nn.Module | None = None
    state: tuple[tuple[str, str], ...] = ()
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    program: nn.Module | None = None

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]


@dataclass
class Bundle:
    """Programs that are exported together, each to its own file in one directory, with one
    sidecar (a translation model's encoder and decoder step).

    Attributes:
        kind: the kind of run it came from (``seq2seq``).
        parts: file stem -> program, in the order a consumer calls them.
        meta, notes: as ``Exportable``'s, for the whole bundle.
    """

    kind: str
    parts: dict[str, Exportable]
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
