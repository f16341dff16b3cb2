"""The classification and tagging adapter: runs of ``rnnkit classify train`` and
``rnnkit tag train``.

``/classify`` calls the function ``rnnkit classify predict`` and ``rnnkit tag predict`` call,
so each sentence's label, probabilities, tags and entities are the command line's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.classify.predict import LinePrediction, predict_lines
from rnnkit.classify.train import load_run
from rnnkit.serve.registry import ServedModel, register_kind


@register_kind
class Classifier(ServedModel):
    """A sequence classifier, tagger, or both (a joint run), with its vocabularies.

    ``task`` is the run's ``--task``: ``intent`` (a label per sentence), ``slots`` (a tag per
    token) or ``joint`` (both).
    """

    kind = "classify"
    runs = (
        "classification and tagging runs (written by `rnnkit classify train` or `rnnkit tag train`)"
    )
    endpoints = ("/classify",)
    read = staticmethod(load_run)  # config, vocabs, model

    def __init__(self, name: str, path: Path, config, vocabs: dict, model, device):
        super().__init__(name, path)
        self.config, self.vocabs, self.model, self.device = config, vocabs, model, device
        self.task = config.task

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "vocab_size": len(self.vocabs["words"])}

    def predict(self, lines: list[str], top: int) -> list[LinePrediction]:
        """The ``top`` best labels and the tags of each line. Blocks: call it from a thread."""
        with self.lock:
            return predict_lines(
                self.model,
                self.vocabs,
                lines,
                lowercase=self.config.lowercase,
                top=top,
                device=self.device,
            )
