"""``export_run``: a run directory to a model file, checked against rnnkit, plus its sidecar."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

import rnnkit
from rnnkit.errors import ConfigError, ExportError, RunDirError
from rnnkit.export.forecast import forecast_exportable
from rnnkit.export.formats import FORMATS, Runner
from rnnkit.export.graph import Exportable
from rnnkit.export.lm import lm_exportable
from rnnkit.io import atomic_write, atomic_write_text
from rnnkit.registry.runs import RUN_KINDS, identify

EXPORTERS = {"lm": lm_exportable, "forecast": forecast_exportable}

# The check feeds sizes the export never saw (it sees batch 2, length 5), so a size baked into
# the file shows up: one token, a short prompt and a long one; batch 1 and 3.
CHECK_SIZES = ((1, 1), (3, 7), (1, 64))
# fp32 through another runtime's kernels: the differences are rounding, far below these.
CHECK_RTOL, CHECK_ATOL = 1e-4, 1e-5


@dataclass
class ExportReport:
    """What ``export_run`` wrote."""

    kind: str
    format: str
    out: Path
    sidecar: Path
    max_diff: float | None  # largest |file - rnnkit| in the check; None when not checked
    notes: list[str] = field(default_factory=list)


def sidecar_path(out: Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    return out.with_name(out.name + ".json")


def compare(exp: Exportable, run: Runner, batch: int, time: int, calls: int) -> float:
    """Run the file and rnnkit on the same random inputs, ``calls`` times with the state each
    returned fed back; return the largest absolute difference of any output.

    Raises:
        ExportError: an output of another shape, or one that differs by more than
            ``CHECK_ATOL + CHECK_RTOL * |rnnkit|``.
    """
    gen = torch.Generator().manual_seed(1)
    feed_ref = feed_file = exp.sample(batch, time, gen)
    worst = 0.0
    for call in range(calls if exp.state else 1):
        with torch.no_grad():
            ref = exp.reference(*(feed_ref[n] for n in exp.input_names))
        ref = list(ref) if isinstance(ref, tuple) else [ref]
        got = run({n: feed_file[n] for n in exp.input_names})
        if len(got) != len(ref):
            raise ExportError(
                f"the exported file returns {len(got)} outputs where rnnkit gives {len(ref)}"
            )
        for spec, r, g in zip(exp.outputs, ref, got, strict=True):
            diff = (g.float() - r.float()).abs() if g.shape == r.shape else None
            if diff is None or (diff > CHECK_ATOL + CHECK_RTOL * r.abs()).any():
                how = f"shape {tuple(g.shape)}" if diff is None else f"{float(diff.max()):.3g}"
                raise ExportError(
                    f"the exported {spec.name} differs from rnnkit's ({how}, call {call + 1}); "
                    "the file was not written (--no-check writes it anyway)"
                )
            worst = max(worst, float(diff.max()))
        # The next call: fresh inputs, and each side's own returned state.
        fresh = exp.sample(batch, time, gen)
        feed_ref, feed_file = dict(fresh), dict(fresh)
        for name_in, name_out in exp.state:
            k = exp.output_names.index(name_out)
            feed_ref[name_in], feed_file[name_in] = ref[k], got[k]
    return worst


def export_run(
    run_dir: str | Path,
    fmt: str,
    out: str | Path,
    which: str = "best",
    opset: int | None = None,
    check: bool = True,
) -> ExportReport:
    """Export the model of a language-model or forecasting run to ``out``.

    ``out`` and its sidecar ``out + ".json"`` are each written atomically; with ``check``, the
    file is first run back (``torch.export.load``, onnxruntime or ``torch.jit.load``) at
    lengths 1, 7 and 64 (batch sizes 1, 3 and 1), over two calls with the state carried, and
    must give rnnkit's outputs, or nothing is written.

    Raises:
        RunDirError: not a run, or a kind of run that has no export.
        ConfigError: a bad format, ``which`` or opset.
        ExportError: a model or environment that cannot export, or a file that does not
            reproduce the model.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    kind = identify(run_dir)
    if kind.name not in EXPORTERS:
        kinds = " and ".join(f"{RUN_KINDS[k].what}s ({RUN_KINDS[k].trained_by})" for k in EXPORTERS)
        raise RunDirError(
            f"cannot export {run_dir}: rnnkit export writes {kinds}, not {kind.what}s"
        )
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name such as model.{fmt}")
    exp = EXPORTERS[kind.name](run_dir, which)
    form = FORMATS[fmt]
    details: dict = {}
    diffs: list[float] = []

    def write(tmp: str) -> None:
        details.update(form.write(exp, Path(tmp), opset))
        if check:
            runner = form.runner(Path(tmp))
            diffs.extend(compare(exp, runner, batch, time, 2) for batch, time in CHECK_SIZES)

    atomic_write(out, write)
    sidecar = sidecar_path(out)
    doc = _sidecar(exp, run_dir, which, fmt, out, details)
    atomic_write_text(sidecar, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return ExportReport(kind.name, fmt, out, sidecar, max(diffs) if diffs else None, exp.notes)


def _sidecar(exp: Exportable, run_dir, which: str, fmt: str, out: Path, details: dict) -> dict:
    """Everything a consumer needs besides the model file, in one JSON document."""
    return {
        "format": fmt,
        "file": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        **details,
        "kind": exp.kind,
        "run": {"path": str(Path(run_dir).resolve()), "weights": which},
        "inputs": [s.to_dict() for s in exp.inputs],
        "outputs": [s.to_dict() for s in exp.outputs],
        "state": [{"input": i, "output": o} for i, o in exp.state],
        **exp.meta,
        "exported_by": {"rnnkit": rnnkit.__version__, "torch": torch.__version__.split("+")[0]},
    }
