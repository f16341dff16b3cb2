"""Exporting trained models to ``torch.export`` programs, ONNX and TorchScript, with a sidecar
JSON for consumers.

``export_run(run_dir, "onnx", "model.onnx")`` writes a run's model in a format of
``formats.py``, checked against rnnkit before it is written: a language model as a step function
with its recurrent state in and out (``lm.py``), a forecaster (``forecast.py``), a classifier or
tagger (``classify.py``), or a translation model's encoder and decoder step, into a directory
(``seq2seq.py``). ``model.onnx.json`` beside it says how to feed it: names, shapes, vocabulary,
tokenizer, scaler.
"""

from rnnkit.export.formats import FORMATS
from rnnkit.export.run import EXPORTERS, ExportReport, export_run, sidecar_path

__all__ = ["EXPORTERS", "FORMATS", "ExportReport", "export_run", "sidecar_path"]
