"""Kinds of run directory: which training command wrote a folder, told by the file it leaves.

Every training command marks its run directory with one file of its own::

    lm        config.yaml (+ vocab.json, model.safetensors)   rnnkit train, rnnkit poem train
    ngram     ngram.json                                      rnnkit ngram train
    seq2seq   seq2seq.json                                    rnnkit seq2seq train
    classify  classify.json                                   rnnkit classify / tag train
    forecast  forecast.json                                   rnnkit forecast train

``run_kind`` tells them apart for ``rnnkit serve``, ``rnnkit info`` and ``rnnkit export``, so a
new kind of run is one more entry in ``RUN_KINDS`` (and one more summariser in
``rnnkit.runinfo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import RunDirError


@dataclass(frozen=True)
class RunKind:
    """One kind of run directory.

    Args:
        name: the key (``lm``, ``ngram``, ``seq2seq``, ``classify``, ``forecast``); the serve
            adapters use the same names.
        marker: the file whose presence marks the kind.
        what: the kind in words, for messages ("language-model run").
        trained_by: the command(s) that write it, for messages.
    """

    name: str
    marker: str
    what: str
    trained_by: str

    def recognises(self, path: Path) -> bool:
        if self.name == "lm":
            from rnnkit.train.checkpoint import RunDir

            # A language-model run counts once it is complete: every reader needs the config,
            # the vocabulary and the best weights, and the last two come after config.yaml.
            try:
                RunDir(path).check()
            except RunDirError:
                return False
            return True
        return (path / self.marker).exists()


RUN_KINDS: dict[str, RunKind] = {
    k.name: k
    for k in (
        RunKind("lm", "config.yaml", "language-model run", "`rnnkit train` or `rnnkit poem train`"),
        RunKind("ngram", "ngram.json", "n-gram run", "`rnnkit ngram train`"),
        RunKind("seq2seq", "seq2seq.json", "translation run", "`rnnkit seq2seq train`"),
        RunKind(
            "classify",
            "classify.json",
            "classification or tagging run",
            "`rnnkit classify train` or `rnnkit tag train`",
        ),
        RunKind("forecast", "forecast.json", "forecasting run", "`rnnkit forecast train`"),
    )
}


def run_kind(path: str | Path) -> str | None:
    """The name of the kind of run in ``path``, or ``None`` when it holds none (or is no
    folder). Kinds are tried in ``RUN_KINDS`` order."""
    path = Path(path)
    if not path.is_dir():
        return None
    return next((k.name for k in RUN_KINDS.values() if k.recognises(path)), None)


def identify(path: str | Path) -> RunKind:
    """The kind of run in ``path``.

    Raises:
        RunDirError: ``path`` is missing, an incomplete language-model run, or no run at all;
            the message lists what each kind of run holds.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory not found: {path}; give the --out of a trained run")
    name = run_kind(path)
    if name is not None:
        return RUN_KINDS[name]
    if (path / "config.yaml").exists():
        from rnnkit.train.checkpoint import RunDir

        RunDir(path).check()  # raises, naming the missing files
    markers = ", ".join(f"{k.marker} ({k.trained_by})" for k in RUN_KINDS.values())
    raise RunDirError(f"{path} is not an rnnkit run directory: it holds none of {markers}")
