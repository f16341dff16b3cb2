"""Exporting trained models to ONNX and TorchScript, with a sidecar JSON for consumers.

``export_run(run_dir, "onnx", "model.onnx")`` writes the model of a language-model run as a step
function with its recurrent state in and out (``lm.py``), or a forecaster's window-to-forecast
function (``forecast.py``), in a format of ``formats.py``, checked against rnnkit before it is
written; ``model.onnx.json`` beside it says how to feed it: names, shapes, vocabulary,
tokenizer, scaler.
"""

from rnnkit.export.formats import FORMATS
from rnnkit.export.run import EXPORTERS, ExportReport, export_run, sidecar_path

__all__ = ["EXPORTERS", "FORMATS", "ExportReport", "export_run", "sidecar_path"]
