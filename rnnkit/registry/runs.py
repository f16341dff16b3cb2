"""Run directories of every kind: one run file names the kind and holds the whole config.

Every training command writes ``run.json`` into its run directory::

    {"format": 1, "kind": "seq2seq",
     "config": {...},     the run's config (what ``--config FILE`` takes, every field)
     "model": {...},      the config the model is built from (None for n-gram runs)
     "history": {...},    how training went (``rnnkit.train.task.summary_history``)
     "fitted": {...}}     what the task fitted besides weights (a scaler, n-gram sizes)

The other files depend on the kind::

    lm        vocab.json, model.safetensors                   rnnkit train, rnnkit poem train
    ngram     vocab.json, counts.safetensors                  rnnkit ngram train
    seq2seq   src_vocab.json, tgt_vocab.json, model.safetensors   rnnkit seq2seq train
    classify  vocabs.json, model.safetensors                  rnnkit classify / tag train
    forecast  model.safetensors (neural models only)          rnnkit forecast train

``read_run`` is the one loader: ``rnnkit info``, ``serve``, ``export``, resuming and every
task's own loader read a run through it. Runs written before the run file (whose kind was
told by ``config.yaml``, ``ngram.json``, ``seq2seq.json``, ``classify.json`` or
``forecast.json``) are read by the same loader, converted as they are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.errors import RnnkitError, RunDirError, first_line
from rnnkit.io import atomic_write_text

RUN_FILE = "run.json"
FORMAT = 1
WEIGHTS = "model.safetensors"  # the best weights on validation
LAST_WEIGHTS = "last.safetensors"  # the weights of the last checkpoint


@dataclass(frozen=True)
class RunKind:
    """One kind of run directory.

    Args:
        name: the key (``lm``, ``ngram``, ``seq2seq``, ``classify``, ``forecast``); the serve
            adapters and task modules use the same names.
        what: the kind in words, for messages ("language-model run").
        trained_by: the command(s) that write it, for messages.
        files: what a finished run holds besides ``run.json``.
        legacy: the file that marked the kind before ``run.json``.
    """

    name: str
    what: str
    trained_by: str
    files: tuple[str, ...]
    legacy: str

    @property
    def a_what(self) -> str:
        """``what`` with its article: "an n-gram run", "a translation run"."""
        return f"{'an' if self.what.startswith(('a', 'e', 'i', 'o', 'n-')) else 'a'} {self.what}"


RUN_KINDS: dict[str, RunKind] = {
    k.name: k
    for k in (
        RunKind(
            "lm",
            "language-model run",
            "`rnnkit train` or `rnnkit poem train`",
            ("vocab.json", WEIGHTS),
            "config.yaml",
        ),
        RunKind(
            "ngram",
            "n-gram run",
            "`rnnkit ngram train`",
            ("vocab.json", "counts.safetensors"),
            "ngram.json",
        ),
        RunKind(
            "seq2seq",
            "translation run",
            "`rnnkit seq2seq train`",
            ("src_vocab.json", "tgt_vocab.json", WEIGHTS),
            "seq2seq.json",
        ),
        RunKind(
            "classify",
            "classification or tagging run",
            "`rnnkit classify train` or `rnnkit tag train`",
            ("vocabs.json", WEIGHTS),
            "classify.json",
        ),
        RunKind("forecast", "forecasting run", "`rnnkit forecast train`", (), "forecast.json"),
    )
}


@dataclass
class RunDoc:
    """What ``run.json`` holds (see the module docstring)."""

    kind: str
    config: dict
    model: dict | None = None
    history: dict = field(default_factory=dict)
    fitted: dict = field(default_factory=dict)
    source: str = field(default="run.json", compare=False)  # the file read, for messages

    def run_config(self, cls):
        """The config as a ``cls`` (a ``rnnkit.config.LoopConfig``); one that does not parse
        is a damaged run (``RunDirError``). A class with ``upgrade_saved(dict) -> dict`` gives
        the fields older runs did not write the values those runs had."""
        upgrade = getattr(cls, "upgrade_saved", None)
        try:
            config = upgrade(self.config) if upgrade and isinstance(self.config, dict) else None
            return cls.from_dict(config or self.config, source=self.source)
        except RnnkitError as e:
            shown = str(e) if self.source in str(e) else f"{self.source}: {e}"
            raise RunDirError(f"{shown}; restore the file or train the run again") from e

    def to_json(self) -> str:
        doc = {"format": FORMAT, "kind": self.kind, "config": self.config, "model": self.model}
        doc |= {"history": self.history, "fitted": self.fitted}
        return json.dumps(doc, indent=2, default=_jsonable) + "\n"


def write_run(run_dir: str | Path, doc: RunDoc) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(Path(run_dir) / RUN_FILE, doc.to_json())


def has_run(path: str | Path) -> bool:
    """Whether ``path`` holds a run file (of today's format or an earlier one)."""
    return run_file(Path(path)) is not None


def read_run(run_dir: str | Path, kind: str | None = None) -> RunDoc:
    """The run file of ``run_dir``, converted from an earlier layout if need be.

    Args:
        kind: when given, a run of another kind (or no run) is refused with a message naming
            the command that trains one; the files a finished run of the kind holds are
            checked too.

    Raises:
        RunDirError: no such folder, no run in it, another kind, missing files, or a run file
            that cannot be read; one line, saying what to do.
    """
    run = Path(run_dir)
    want = RUN_KINDS[kind] if kind else None
    if not run.is_dir():
        given = want.a_what if want else "a trained run"
        raise RunDirError(f"run directory not found: {run}; give the --out of {given}")
    path = run_file(run)
    if path is None:
        if want:
            raise RunDirError(
                f"{run} is not {want.a_what} (no {RUN_FILE}); train one with {want.trained_by}"
            )
        raise RunDirError(
            f"{run} is not an rnnkit run directory (no {RUN_FILE}); give the --out of a "
            "training command (rnnkit train, poem train, ngram train, seq2seq train, "
            "classify train, tag train, forecast train)"
        )
    try:
        doc = _read(path)
        doc.source = str(path)
    except RecursionError as e:  # json gives up on arrays nested thousands deep
        raise RunDirError(f"{path} is damaged (nested too deeply); train the run again") from e
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RnnkitError) as e:
        why = first_line(e)
        raise RunDirError(f"{path} is damaged ({why}); restore it or train the run again") from e
    if want is not None:
        if doc.kind != kind:
            other = RUN_KINDS[doc.kind]
            raise RunDirError(
                f"{run} is {other.a_what} ({other.trained_by}), not {want.a_what}; "
                f"train one with {want.trained_by}"
            )
        need = want.files
        if kind == "forecast" and doc.config.get("model") in ("mlp", "rnn", "lstm", "gru"):
            need = (WEIGHTS,)
        missing = [n for n in need if not (run / n).exists()]
        if missing:
            raise RunDirError(f"{run} is incomplete (missing {', '.join(missing)}); train it again")
    return doc


def run_kind(path: str | Path) -> str | None:
    """The name of the kind of run in ``path``, or ``None`` when it holds none (or is no
    folder, or its run file cannot be read)."""
    try:
        return read_run(path).kind
    except RunDirError:
        return None


# ---- reading today's and earlier layouts -----------------------------------------------------
def run_file(run: Path) -> Path | None:
    """The run file in ``run``: ``run.json``, or the file an earlier layout kept the config
    in; ``None`` when there is none."""
    if (run / RUN_FILE).is_file():
        return run / RUN_FILE
    return next((run / k.legacy for k in RUN_KINDS.values() if (run / k.legacy).is_file()), None)


def _read(path: Path) -> RunDoc:
    if path.name == "config.yaml":
        from rnnkit.config import load_yaml

        config = load_yaml(path)
        if not isinstance(config, dict):
            raise ValueError("not a mapping of field: value")
        return RunDoc("lm", config, history={"metric": "valid_loss"})
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if path.name == RUN_FILE:
        if doc.get("format", FORMAT) > FORMAT:
            raise ValueError(
                f"format {doc['format']} is newer than this rnnkit reads ({FORMAT}); upgrade rnnkit"
            )
        if doc["kind"] not in RUN_KINDS:
            raise ValueError(f"unknown kind {doc['kind']!r}")
        if not isinstance(doc["config"], dict):
            raise ValueError("its config is not a mapping of field: value")
        history, fitted = doc.get("history") or {}, doc.get("fitted") or {}
        return RunDoc(doc["kind"], doc["config"], doc.get("model"), history, fitted)
    if path.name == "ngram.json":
        fitted = {k: doc.pop(k) for k in ("sizes", "discounts", "train_tokens") if k in doc}
        doc.pop("kind", None)
        return RunDoc("ngram", doc, fitted=fitted)
    kind = path.name.removesuffix(".json")
    history = _legacy_history(doc.get("history") or {})
    if kind == "forecast":
        keep = ("scaler", "bounds", "columns", "period", "linear")
        return RunDoc(kind, doc["config"], history=history, fitted={k: doc.get(k) for k in keep})
    return RunDoc(kind, doc["config"], doc.get("model"), history)


_LEGACY_BEST = {"best_bleu": "bleu", "best_score": "valid_score", "best_valid_mse": "valid_mse"}


def _legacy_history(h: dict) -> dict:
    """An earlier run's history under today's keys: its best value was kept as
    ``best_bleu``, ``best_score`` or ``best_valid_mse``, which named the metric."""
    old = next((k for k in _LEGACY_BEST if k in h), None)
    if old is None:
        return h
    h = dict(h)
    h["metric"], h["best"] = _LEGACY_BEST[old], h.pop(old)
    return h


def _jsonable(x):
    import numpy as np

    if isinstance(x, np.floating | np.integer):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")
