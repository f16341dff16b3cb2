"""``export_run``: a run directory to a model file, checked against rnnkit, plus its sidecar."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

import rnnkit
from rnnkit.errors import ConfigError, ExportError, RunDirError
from rnnkit.export.classify import classify_exportable
from rnnkit.export.forecast import forecast_exportable
from rnnkit.export.formats import FORMATS, Runner, check_opset, module_runner
from rnnkit.export.graph import Bundle, Exportable
from rnnkit.export.lm import lm_exportable
from rnnkit.export.seq2seq import seq2seq_exportable
from rnnkit.io import atomic_write_text, storage_error
from rnnkit.registry.runs import RUN_KINDS, read_run

EXPORTERS = {"lm": lm_exportable, "forecast": forecast_exportable}
EXPORTERS |= {"classify": classify_exportable, "seq2seq": seq2seq_exportable}
MANIFEST = "manifest.json"  # the sidecar of programs exported into one directory

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
        ref = module_runner(exp.reference)({n: feed_ref[n] for n in exp.input_names})
        got = run({n: feed_file[n] for n in exp.input_names})
        if len(got) != len(ref):
            raise ExportError(
                f"the exported file returns {len(got)} outputs where rnnkit gives {len(ref)}"
            )
        for spec, r, g in zip(exp.outputs, ref, got, strict=True):
            diff = (g.float() - r.float()).abs() if g.shape == r.shape else None
            if diff is None or (diff > CHECK_ATOL + CHECK_RTOL * r.float().abs()).any():
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
    """Export the model of a run of a kind in ``EXPORTERS`` to ``out`` (for a ``Bundle``, a
    directory: ``_export_bundle``).

    ``out`` and its sidecar ``out + ".json"`` are each written atomically; with ``check``, the
    file is first run back (``torch.export.load``, onnxruntime or ``torch.jit.load``) at each
    of ``CHECK_SIZES``, over two calls with the state carried, and must give rnnkit's outputs,
    or nothing is written.

    Raises:
        RunDirError: not a run, or a kind of run that has no export.
        ConfigError: a bad format, ``which`` or opset.
        ExportError: a model or environment that cannot export, or a file that does not
            reproduce the model.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    check_opset(fmt, opset)
    kind = RUN_KINDS[read_run(run_dir).kind]
    if kind.name not in EXPORTERS:
        *most, last = (f"{RUN_KINDS[k].what}s ({RUN_KINDS[k].trained_by})" for k in EXPORTERS)
        kinds = f"{', '.join(most)} and {last}"
        raise RunDirError(
            f"cannot export {run_dir}: rnnkit export writes {kinds}, not {kind.what}s"
        )
    out = Path(out)
    exp = EXPORTERS[kind.name](run_dir, which)
    if isinstance(exp, Bundle):
        return _export_bundle(exp, run_dir, which, fmt, out, opset, check)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name such as model.{fmt}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        details, diffs = _write_all({out.name: exp}, fmt, out.parent, opset, check)
    except OSError as e:
        raise storage_error(out, e) from e
    doc = _file_doc(exp, out, details[out.name])
    return _finish(exp, run_dir, which, fmt, out, sidecar_path(out), doc, diffs)


def _write_all(parts: dict[str, Exportable], fmt: str, into: Path, opset, check: bool):
    """Write and check each part to ``into/NAME`` (``_write_checked``), replacing no file
    before all are written and checked; return ``({NAME: sidecar fields}, differences)``.

    Each part is written under its own name in a temp directory beside the files it replaces:
    torch names the folder inside a pt2 or TorchScript archive after the file, so a temp file
    name would make every export of one run differ."""
    details, diffs = {}, []
    with tempfile.TemporaryDirectory(prefix=f".{next(iter(parts))}.", dir=into) as tmp:
        for name, exp in parts.items():
            details[name], found = _write_checked(exp, fmt, Path(tmp) / name, opset, check)
            diffs += found
        for name in parts:
            with open(Path(tmp) / name, "rb") as f:
                os.fsync(f.fileno())
            os.replace(Path(tmp) / name, into / name)
    return details, diffs


def _write_checked(exp: Exportable, fmt: str, path: Path, opset, check: bool):
    """Write ``exp`` to ``path`` and, with ``check``, run it back at ``CHECK_SIZES``; return
    ``(the format's sidecar fields, the largest difference at each size)``."""
    form = FORMATS[fmt]
    details = form.write(exp, path, opset)
    if not check:
        return details, []
    runner = form.runner(path)
    return details, [compare(exp, runner, batch, time, 2) for batch, time in CHECK_SIZES]


def _export_bundle(bundle: Bundle, run_dir, which: str, fmt: str, out: Path, opset, check):
    """``export_run`` for programs exported together: each part to ``out/PART.FMT``, and the
    sidecar ``out/manifest.json``. Every part is written and checked before any replaces a
    file in ``out``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"--out {out} is a file; {RUN_KINDS[bundle.kind].a_what} exports "
            f"{len(bundle.parts)} programs into a directory: give a directory name"
        )
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        parts = {f"{name}.{fmt}": exp for name, exp in bundle.parts.items()}
        details, diffs = _write_all(parts, fmt, out, opset, check)
    except BaseException as e:
        if made:  # nothing was written: leave no empty directory behind
            shutil.rmtree(out, ignore_errors=True)
        if isinstance(e, OSError):
            raise storage_error(out, e) from e
        raise
    doc = {
        "programs": {
            name: _file_doc(exp, out / f"{name}.{fmt}", details[f"{name}.{fmt}"])
            for name, exp in bundle.parts.items()
        }
    }
    return _finish(bundle, run_dir, which, fmt, out, out / MANIFEST, doc, diffs)


def _finish(exp: Exportable | Bundle, run_dir, which, fmt, out, sidecar: Path, files: dict, diffs):
    """Write the sidecar: everything a consumer needs besides the model files (``files``, their
    ``_file_doc``), the run it came from, the kind's own fields (vocabulary, tokenizer, ...) and
    versions, in one JSON document; return the ``ExportReport``."""
    doc = {
        "format": fmt,
        **files,
        "kind": exp.kind,
        "run": {"path": str(Path(run_dir).resolve()), "weights": which},
        **exp.meta,
        "exported_by": {"rnnkit": rnnkit.__version__, "torch": torch.__version__.split("+")[0]},
    }
    atomic_write_text(sidecar, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return ExportReport(exp.kind, fmt, out, sidecar, max(diffs) if diffs else None, exp.notes)


def _file_doc(exp: Exportable, path: Path, details: dict) -> dict:
    """One written file: its name, checksum, format fields and the tensors in and out."""
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **details,
        "inputs": [s.to_dict() for s in exp.inputs],
        "outputs": [s.to_dict() for s in exp.outputs],
        "state": [{"input": i, "output": o} for i, o in exp.state],
    }
