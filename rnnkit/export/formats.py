"""The file formats: writing an ``Exportable`` and running the written file back.

``pt2`` is ``torch.export``'s program, and ``onnx`` comes from the supported (dynamo) ONNX
exporter, which starts from the same program. ``torch.export`` unrolls ``nn.LSTM``,
``nn.GRU`` and ``nn.RNN`` over time, fixing the length to the example's, so a language model
goes there as a scan over time (``rnnkit.export.lm``; an ONNX ``Scan`` node) and its length
stays free. Its GRU is written out gate by gate, so the exporter's ``linear_before_reset``
mapping of ``nn.GRU`` never comes into play.

The legacy formats, kept while the installed PyTorch has TorchScript: ``onnx-legacy`` (the
TorchScript-based exporter, one ONNX ``LSTM`` / ``GRU`` / ``RNN`` node per layer, opsets 9 to
20) and ``torchscript``. The warnings these exporters give on every call are silenced here.
Every check after writing runs other batch sizes and lengths through the file than the export
saw."""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.errors import ConfigError, ExportError, first_line
from rnnkit.export.graph import Exportable, Inputs

Runner = Callable[[Inputs], list[torch.Tensor]]

# onnx: the dynamo exporter writes opset 18 and up (asked for less, it writes 18 anyway).
# onnx-legacy: the TorchScript-based exporter writes opsets 7 to 20 (torch.onnx._constants in
# torch 2.13); below 9, zeros_like becomes ConstantFill, which onnxruntime no longer runs.
OPSETS = {"onnx": (18, 23), "onnx-legacy": (9, 20)}
EXTRA = "pip install 'rnnkit[export]'"
# The formats written from ``Exportable.program`` (torch.export); the others trace ``module``.
PROGRAM_FORMATS = ("pt2", "onnx")


def require(module: str, purpose: str):
    """Import an optional package, or raise a one-line ``ExportError`` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ExportError(f"{purpose} needs the {module} package: {EXTRA}") from e


@contextlib.contextmanager
def known_warnings() -> Iterator[None]:
    """Silence the warnings torch gives on every trace and legacy ONNX export (see the module
    docstring): they say nothing about this model."""
    with warnings.catch_warnings():
        for message, module in (
            (r"`torch\.jit\.\w+` is deprecated", r"torch\.jit"),
            (r"You are using the legacy TorchScript-based ONNX export", ""),
            (r"The feature will be removed", r"torch\.onnx"),
        ):
            warnings.filterwarnings(
                "ignore", message=message, category=DeprecationWarning, module=module
            )
        # nn.RNN and the forecasters check their input shapes in Python while tracing; the
        # traced graph itself takes any batch and length, which the check after writing runs.
        warnings.filterwarnings(
            "ignore",
            category=torch.jit.TracerWarning,
            module=r"torch\.nn\.modules\.rnn|rnnkit\.forecast\.models",
        )
        # The dynamo exporter's own deprecations, and its note that several inputs share the
        # batch axis, which they do.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`")
        warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
        # It asks for the initial states to be graph inputs, which they are.
        warnings.filterwarnings(
            "ignore", message=r"Exporting a model to ONNX with a batch_size other than 1"
        )
        # The dynamo exporter logs that torchvision's operators are not registered; saving a
        # program logs that the (temporary) file's name does not end in .pt2, and how it
        # writes the empty list of extra inputs of a scan that reads no weights (a minRNN's).
        logs = [
            logging.getLogger(name)
            for name in ("torch.onnx", "torch.export.pt2_archive", "torch._export.serde")
        ]
        levels = [log.level for log in logs]
        for log in logs:
            log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for log, level in zip(logs, levels, strict=True):
                log.setLevel(level)


def _traced(exp: Exportable, fmt: str) -> torch.nn.Module:
    """The module the TorchScript-based formats trace, or a one-line refusal when the model
    exists only as a ``torch.export`` program (a scan, which TorchScript cannot trace)."""
    if exp.module is None:
        raise ExportError(
            f"--format {fmt} traces with TorchScript, which cannot carry this model's scan over "
            f"time; use --format {' or '.join(PROGRAM_FORMATS)}"
        )
    return exp.module


def _example(exp: Exportable) -> tuple[torch.Tensor, ...]:
    """Inputs for the trace: sizes above 1, so that no axis is taken for a broadcast one."""
    feed = exp.sample(2, 5, torch.Generator().manual_seed(0))
    return tuple(feed[name] for name in exp.input_names)


def _dynamic_shapes(exp: Exportable) -> tuple:
    """``torch.export``'s ``dynamic_shapes``: one ``Dim`` per axis name, shared by the inputs."""
    dims: dict[str, torch.export.Dim] = {}
    return tuple(
        {axis: dims.setdefault(name, torch.export.Dim(name, min=1)) for axis, name in axes}
        if (axes := spec.dynamic_axes.items())
        else None
        for spec in exp.inputs
    )


@contextlib.contextmanager
def failing_as(failure: str, fix: str) -> Iterator[None]:
    """Run an exporter or a runtime quietly, without gradients; its failure is one
    ``ExportError`` line: ``<failure> (<why>); <fix>``."""
    try:
        with known_warnings(), torch.no_grad():
            yield
    except Exception as e:  # the exporters and onnxruntime raise many types; each means a failure
        raise ExportError(f"{failure} ({first_line(e)}); {fix}") from e


def check_opset(fmt: str, opset: int | None) -> None:
    """Refuse an ``--opset`` that ``fmt`` does not write (``OPSETS``)."""
    low, high = OPSETS.get(fmt, (0, -1))
    if opset is not None and not low <= opset <= high:
        ranges = " or ".join(f"{f} ({a} to {b})" for f, (a, b) in OPSETS.items())
        raise ConfigError(
            f"--format {fmt} does not write opset {opset}; give --opset only with {ranges}"
        )


# ---- ONNX ----------------------------------------------------------------------------------------
def write_onnx(exp: Exportable, path: Path, opset: int | None) -> dict:
    """Write ``exp`` to ``path`` through the supported (dynamo) ONNX exporter, from the same
    program as ``pt2``; returns the sidecar's format fields (the opset)."""
    require("onnxscript", "ONNX export")
    failure = f"the ONNX exporter at opset {opset or 'default'} cannot write this model"
    with failing_as(failure, "try --format pt2"):
        program = torch.onnx.export(
            exp.program or exp.module,
            _example(exp),
            dynamo=True,
            input_names=exp.input_names,
            output_names=exp.output_names,
            dynamic_shapes=_dynamic_shapes(exp),
            opset_version=opset,
            verbose=False,
        )
        program.save(str(path))
    return {"opset": _checked_opset(path), "exporter": "torch.onnx (dynamo)"}


def write_onnx_legacy(exp: Exportable, path: Path, opset: int | None) -> dict:
    """Write ``exp`` to ``path`` through the TorchScript-based ONNX exporter (one ``LSTM`` /
    ``GRU`` / ``RNN`` node per layer, opsets 9 to 20)."""
    require("onnx", "ONNX export")
    module = _traced(exp, "onnx-legacy")
    failure = f"the ONNX exporter at opset {opset or 'default'} cannot write this model"
    with failing_as(failure, "try another --opset"):
        torch.onnx.export(
            module,
            _example(exp),
            str(path),
            dynamo=False,
            input_names=exp.input_names,
            output_names=exp.output_names,
            dynamic_axes={
                s.name: s.dynamic_axes for s in (*exp.inputs, *exp.outputs) if s.dynamic_axes
            },
            opset_version=opset,
        )
    return {"opset": _checked_opset(path), "exporter": "torch.onnx (TorchScript-based, legacy)"}


def _checked_opset(path: Path) -> int:
    onnx = require("onnx", "ONNX export")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def onnx_runner(path: Path) -> Runner:
    ort = require("onnxruntime", "Checking an ONNX file (skip it with --no-check)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch may use
    with failing_as("onnxruntime cannot load the exported file", "try another --opset"):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(feed: Inputs) -> list[torch.Tensor]:
        with failing_as("onnxruntime cannot run the exported file", "try another --opset"):
            out = session.run(None, {k: v.numpy() for k, v in feed.items()})
        return [torch.from_numpy(o) for o in out]

    return run


# ---- TorchScript ---------------------------------------------------------------------------------
def write_torchscript(exp: Exportable, path: Path, opset: int | None) -> dict:
    """Trace ``exp`` and save it to ``path`` for ``torch.jit.load`` (Python or libtorch)."""
    module = _traced(exp, "torchscript")
    with failing_as("TorchScript cannot write this model", "try --format pt2"):
        torch.jit.save(torch.jit.trace(module, _example(exp)), str(path))
    return {"call": f"module({', '.join(exp.input_names)}) -> ({', '.join(exp.output_names)})"}


def torchscript_runner(path: Path) -> Runner:
    with known_warnings():
        return module_runner(torch.jit.load(str(path), map_location="cpu"))


def module_runner(module) -> Runner:
    """A loaded module (TorchScript or a ``torch.export`` program) as a ``Runner``."""

    def run(feed: Inputs) -> list[torch.Tensor]:
        with torch.no_grad():
            out = module(*feed.values())
        return list(out) if isinstance(out, tuple | list) else [out]

    return run


# ---- torch.export (.pt2) ------------------------------------------------------------------------
def write_pt2(exp: Exportable, path: Path, opset: int | None) -> dict:
    """Export ``exp`` with ``torch.export`` (its ``program``: a scan over time for a language
    model) and save the program to ``path`` for ``torch.export.load``."""
    with failing_as("torch.export cannot write this model", "try --format onnx-legacy"):
        program = torch.export.export(
            exp.program or exp.module, _example(exp), dynamic_shapes=_dynamic_shapes(exp)
        )
    with known_warnings():
        torch.export.save(program, str(path))
    names = ", ".join(exp.input_names)
    return {"call": f"torch.export.load(file).module()({names}) -> ({', '.join(exp.output_names)})"}


def pt2_runner(path: Path) -> Runner:
    with known_warnings():
        return module_runner(torch.export.load(str(path)).module())


@dataclass(frozen=True)
class Format:
    """A file format: how to write an ``Exportable`` and how to run the file back.

    ``write(exp, path, opset)`` returns the format's fields for the sidecar; ``runner(path)``
    returns a function from named inputs to the outputs, in order.
    """

    name: str
    runtime: str  # what runs the file back, in words
    write: Callable[[Exportable, Path, int | None], dict]
    runner: Callable[[Path], Runner]


FORMATS = {
    "pt2": Format("pt2", "torch.export.load", write_pt2, pt2_runner),
    "onnx": Format("onnx", "onnxruntime", write_onnx, onnx_runner),
}
# Legacy: kept while the installed PyTorch still has TorchScript.
if hasattr(torch.jit, "trace") and hasattr(torch.jit, "load"):
    FORMATS["onnx-legacy"] = Format("onnx-legacy", "onnxruntime", write_onnx_legacy, onnx_runner)
    FORMATS["torchscript"] = Format(
        "torchscript", "torch.jit.load", write_torchscript, torchscript_runner
    )
