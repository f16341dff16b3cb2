"""What a run directory holds, read without loading its model: kind, config, vocabulary sizes,
parameter count (from the safetensors header), file sizes and a summary of its training.

One summariser per kind of run (``rnnkit.registry.runs``); ``run_info`` picks it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safetensors import SafetensorError, safe_open

from rnnkit.errors import RnnkitError, RunDirError
from rnnkit.poetry.run import POEM_META, is_poem_run
from rnnkit.registry.runs import identify
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir

WEIGHTS = "model.safetensors"  # the best weights, in every kind of run that has a network


@dataclass
class Best:
    """The best validation result of a run and when it came."""

    metric: str  # valid_ppl, valid_bleu, valid_mse, ...
    value: float | None
    epoch: int | None = None
    step: int | None = None


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
    kind = identify(run_dir)
    path = Path(run_dir)
    try:
        fields = SUMMARISERS[kind.name](path)
    except RunDirError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RnnkitError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise RunDirError(f"{path} cannot be read ({first}); the run is damaged") from e
    return RunInfo(
        path=str(path),
        kind=kind.name,
        what=kind.what,
        trained_by=kind.trained_by,
        files=_files(path),
        **fields,
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


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---- one summariser per kind ---------------------------------------------------------------------
def _lm(path: Path) -> dict:
    run = RunDir(path)
    config = run.load_config()
    vocab = run.load_vocab()
    rows = run.read_metrics()
    evals = [r for r in rows if r.get("kind") == "eval" and r.get("valid_loss") is not None]
    best = None
    if evals:
        top = min(evals, key=lambda r: r["valid_loss"])
        best = Best("valid_ppl", top.get("valid_ppl"), top.get("epoch"), top.get("step"))
    history = History(best=best)
    if run.state_path.exists():  # the trainer's own position: exact even without evaluations
        state = run.load_state()
        history.steps, history.epochs = state["step"], state["epoch"]
        history.seconds = state["elapsed"]
    elif rows:
        history.steps = max(r.get("step", 0) for r in rows)
        history.seconds = max((r["elapsed_s"] for r in evals if "elapsed_s" in r), default=None)
    extra = {}
    task = "text"
    if is_poem_run(path):
        task = "poem"
        meta = _read_json(path / POEM_META)
        keep = ("data", "form", "simplified", "preset", "train_poems", "held_out_poems")
        extra["poem"] = {k: meta.get(k) for k in keep}
    return {
        "task": task,
        "config": config.to_dict(),
        "vocab_size": len(vocab),
        "vocabularies": {"tokens": len(vocab)},
        "parameters": count_parameters(run.best_path),
        "history": history,
        "extra": extra,
    }


def _ngram(path: Path) -> dict:
    from rnnkit.ngram.store import META, VOCAB

    meta = _read_json(path / META)
    vocab = Vocab.load(path / VOCAB)
    sizes = meta.get("sizes") or []
    config = {k: v for k, v in meta.items() if k not in ("sizes", "discounts", "kind")}
    extra = {
        "ngrams": {f"{k}-grams": n for k, n in enumerate(sizes, start=1)},
        "train_tokens": meta.get("train_tokens"),
    }
    return {
        "task": "text",
        "config": config,
        "vocab_size": len(vocab),
        "vocabularies": {"tokens": len(vocab)},
        "parameters": None,
        "history": None,
        "extra": extra,
    }


def _task_history(h: dict, metric: str, value_key: str) -> History:
    """The history a seq2seq, classify or forecast run keeps in its JSON file."""
    epochs = h.get("epochs") or []
    best_epoch = h.get("best_epoch")
    row = next((r for r in epochs if r.get("epoch") == best_epoch), {})
    best = Best(metric, h.get(value_key), best_epoch, row.get("step"))
    return History(
        steps=h.get("steps"),
        epochs=len(epochs),
        seconds=h.get("seconds"),
        stop=h.get("stop"),
        best=best if best_epoch is not None else None,
    )


def _seq2seq(path: Path) -> dict:
    from rnnkit.seq2seq.train import CONFIG, SRC_VOCAB, TGT_VOCAB

    doc = _read_json(path / CONFIG)
    sizes = {
        "source": len(Vocab.load(path / SRC_VOCAB)),
        "target": len(Vocab.load(path / TGT_VOCAB)),
    }
    return {
        "task": "translation",
        "config": doc["config"],
        "vocab_size": sizes["source"],
        "vocabularies": sizes,
        "parameters": count_parameters(path / WEIGHTS),
        "history": _task_history(doc.get("history") or {}, "valid_bleu", "best_bleu"),
    }


CLASSIFY_METRICS = {
    "intent": "valid_intent_accuracy",
    "slots": "valid_slot_f1",
    "joint": "valid_score (mean of intent accuracy and slot F1)",
}


def _classify(path: Path) -> dict:
    from rnnkit.classify.train import CONFIG, VOCABS

    doc = _read_json(path / CONFIG)
    vocabs = _read_json(path / VOCABS)
    sizes = {name: len(v["tokens"]) for name, v in vocabs.items()}
    task = doc["config"]["task"]
    return {
        "task": task,
        "config": {**doc["config"], "model": doc.get("model")},
        "vocab_size": sizes.get("words"),
        "vocabularies": sizes,
        "parameters": count_parameters(path / WEIGHTS),
        "history": _task_history(doc.get("history") or {}, CLASSIFY_METRICS[task], "best_score"),
    }


def _forecast(path: Path) -> dict:
    from rnnkit.forecast.pipeline import CONFIG

    doc = _read_json(path / CONFIG)
    history = doc.get("history") or {}
    return {
        "task": "forecast",
        "config": doc["config"],
        "vocab_size": None,
        "vocabularies": {},
        "parameters": count_parameters(path / WEIGHTS),
        # A baseline (linear, naive) is fitted in closed form: no training history.
        "history": _task_history(history, "valid_mse", "best_valid_mse") if history else None,
        "extra": {"columns": doc.get("columns"), "period": doc.get("period")},
    }


SUMMARISERS = {
    "lm": _lm,
    "ngram": _ngram,
    "seq2seq": _seq2seq,
    "classify": _classify,
    "forecast": _forecast,
}
