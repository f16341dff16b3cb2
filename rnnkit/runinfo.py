"""What a run directory holds, read without loading its model: kind, config, vocabulary sizes,
parameter count (from the safetensors header), file sizes and a summary of its training.

Everything but vocabulary sizes and weights comes from the run file (``rnnkit.registry.runs``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safetensors import SafetensorError, safe_open

from rnnkit.errors import RnnkitError, RunDirError, first_line
from rnnkit.poetry.run import POEM_META, is_poem_run
from rnnkit.registry.runs import RUN_KINDS, WEIGHTS, read_run
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir


@dataclass
class Best:
    """The best validation result of a run and when it came."""

    metric: str  # valid_ppl, valid_bleu, valid_mse, ...
    value: float | None
    epoch: int | None = None
    step: int | None = None
    shown: str | None = None  # the value in the units training printed it in


@dataclass
class History:
    """How a run was trained. Epoch numbers are the run's own: language-model runs count from
    0 (the epoch in progress), the task runs from 1."""

    steps: int | None = None
    epochs: int | None = None  # completed passes over the training data
    seconds: float | None = None
    stop: str | None = None  # why training ended, when the run records it
    best: Best | None = None


@dataclass
class RunInfo:
    """Everything ``rnnkit info`` prints."""

    path: str
    kind: str
    what: str
    trained_by: str
    task: str
    config: dict
    model: dict | None  # the config the model is built from
    vocab_size: int | None  # of the input vocabulary; None for runs without one
    vocabularies: dict[str, int]
    parameters: int | None  # trainable numbers in the best weights; None without a network
    files: dict[str, int]  # weights and trainer-state files -> bytes
    history: History | None  # None for runs counted in one pass (n-gram)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def run_info(run_dir: str | Path) -> RunInfo:
    """Summarise the run in ``run_dir``.

    Raises:
        RunDirError: not a run directory, or one whose files cannot be read.
    """
    doc = read_run(run_dir)
    kind = RUN_KINDS[doc.kind]
    path = Path(run_dir)
    try:
        sizes = _vocab_sizes(path, doc.kind)
        history = _history(RunDir(path), doc)
        task, extra = _task(path, doc)
    except RunDirError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RnnkitError) as e:
        raise RunDirError(f"{path} cannot be read ({first_line(e)}); the run is damaged") from e
    return RunInfo(
        path=str(path),
        kind=kind.name,
        what=kind.what,
        trained_by=kind.trained_by,
        task=task,
        config=doc.config,
        model=doc.model,
        vocab_size=next(iter(sizes.values()), None),
        vocabularies=sizes,
        parameters=count_parameters(path / WEIGHTS),
        files=_files(path),
        history=history,
        extra=extra,
    )


def count_parameters(path: Path) -> int | None:
    """Numbers stored in a safetensors file, read from its header (tied weights are stored
    once); ``None`` when there is no file."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    except SafetensorError as e:
        raise RunDirError(f"{path} is not a safetensors file ({e}); the run is damaged") from e


def _files(path: Path) -> dict[str, int]:
    names = sorted(p.name for p in path.glob("*.safetensors"))
    names += [n for n in ("trainer_state.pt",) if (path / n).exists()]
    return {n: (path / n).stat().st_size for n in names}


# vocabulary names -> files, by kind; the first is the input vocabulary
VOCABS = {
    "lm": {"tokens": "vocab.json"},
    "ngram": {"tokens": "vocab.json"},
    "seq2seq": {"source": "src_vocab.json", "target": "tgt_vocab.json"},
}


def _vocab_sizes(path: Path, kind: str) -> dict[str, int]:
    if kind == "classify":  # one file of several vocabularies, words first
        raw = json.loads((path / RUN_KINDS[kind].files[0]).read_text(encoding="utf-8"))
        return {name: len(v["tokens"]) for name, v in raw.items()}
    return {name: len(Vocab.load(path / f)) for name, f in VOCABS.get(kind, {}).items()}


def _task(path: Path, doc) -> tuple[str, dict]:
    """The task of a run in words, and what ``rnnkit info`` shows of its fitted values."""
    if doc.kind == "ngram":
        f = doc.fitted
        grams = {f"{k}-grams": n for k, n in enumerate(f.get("sizes") or [], start=1)}
        return "text", {"ngrams": grams, "train_tokens": f.get("train_tokens")}
    if doc.kind == "forecast":
        return "forecast", {k: doc.fitted.get(k) for k in ("columns", "period")}
    if doc.kind == "seq2seq":
        return "translation", {}
    if doc.kind == "classify":
        return doc.config["task"], {}
    if is_poem_run(path):
        meta = json.loads((path / POEM_META).read_text(encoding="utf-8"))
        keep = ("data", "form", "simplified", "preset", "train_poems", "held_out_poems")
        return "poem", {"poem": {k: meta.get(k) for k in keep}}
    return "text", {}


CLASSIFY_METRICS = {
    "intent": "valid_intent_accuracy",
    "slots": "valid_slot_f1",
    "joint": "valid_score (mean of intent accuracy and slot F1)",
}


# A task's figure as its training printed it (the tasks' ``describe``): name, scale, format.
SHOWN = {
    "valid_ppl": ("perplexity ", 1, ".3f", ""),
    "bleu": ("BLEU ", 1, ".2f", ""),
    "valid_score": ("", 100, ".2f", "%"),
    "valid_mse": ("MSE ", 1, ".5g", ""),
}


def _shown(metric: str | None, value: float | None) -> str | None:
    if value is None or metric not in SHOWN:
        return None
    name, scale, fmt, unit = SHOWN[metric]
    return f"{name}{scale * value:{fmt}}{unit}"


def _history(run: RunDir, doc) -> History | None:
    """How the run was trained: its run file's history, or while training has not finished
    (or was killed), the trainer's position and the evaluations so far."""
    h = doc.history
    evals = h.get("epochs")
    if "steps" not in h:
        if not run.state_path.exists():
            return None  # counted or fitted in one pass, or no checkpoint yet
        state = run.load_state()
        found = run.best_evaluation(h.get("metric"), state["best_valid"])
        evals = found.pop("evaluations")
        h = {**h, **found, "steps": state["step"], "seconds": state["elapsed"], "epochs": evals}
    metric, value = h.get("metric"), h.get("best")
    if metric == "valid_loss":  # a language model: shown as perplexity
        metric, value = "valid_ppl", math.exp(min(value, 700)) if value is not None else None
    shown = _shown(metric, value)
    if metric == "valid_score":
        metric = CLASSIFY_METRICS[doc.config["task"]]
    elif metric is not None and not metric.startswith("valid"):
        metric = f"valid_{metric}"
    best = None
    if value is not None or h.get("best_step") is not None:
        best = Best(metric, value, h.get("best_epoch"), h.get("best_step"), shown)
    return History(
        steps=h.get("steps"),
        epochs=max((r.get("epoch") or 0 for r in evals or []), default=None),
        seconds=h.get("seconds"),
        stop=h.get("stop"),
        best=best,
    )
