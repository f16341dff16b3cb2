"""Training and evaluating classifiers and taggers; the run directory.

A run directory holds ``classify.json`` (the config, the model's shape and the training
history), ``vocabs.json`` (words, characters, labels, tags), ``model.safetensors`` (the best
model on the validation score) and ``metrics.jsonl`` (one line per epoch).

The validation score is the intent accuracy for ``task="intent"``, the slot F1 for
``"slots"``, and their mean for ``"joint"``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.classify.data import (
    Encoded,
    Sentences,
    build_vocabs,
    check_known,
    hold_out,
    load_sentences,
    read_file,
)
from rnnkit.classify.metrics import accuracy, confusion_matrix, entity_prf, precision_recall_f1
from rnnkit.classify.models import SequenceModel, SequenceModelConfig
from rnnkit.errors import ConfigError, DataError, RnnkitError, RunDirError
from rnnkit.io import atomic_write_text
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import load_weights, save_weights, task_run

CONFIG, VOCABS, WEIGHTS, METRICS = (
    "classify.json",
    "vocabs.json",
    "model.safetensors",
    "metrics.jsonl",
)
TASKS = ("intent", "slots", "joint")


@dataclass
class ClassifyRunConfig:
    """Data, model and training settings of a classification / tagging run (JSON-able)."""

    data: str = "snips"
    valid: str | None = None
    test: str | None = None
    task: str = "intent"
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    holdout: float = 0.1
    embed: int = 128
    hidden: int = 128
    layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "attention"
    char_embed: int = 32
    char_filters: int = 64
    crf: bool = True
    dropout: float = 0.3
    backend: str = "torch"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    clip: float = 5.0
    class_weights: str = "none"
    word_dropout: float = 0.5
    patience: int | None = 5
    max_minutes: float | None = None
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    log_every: int = 100

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}: choose one of {', '.join(TASKS)}")
        for name in ("min_freq", "epochs", "batch_size", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer")
        if self.class_weights not in ("none", "balanced"):
            raise ConfigError(
                f"--class-weights must be none or balanced, got {self.class_weights!r}"
            )
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"--holdout must be in (0, 1), got {self.holdout}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError(f"--word-dropout must be in [0, 1), got {self.word_dropout}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.patience is not None and self.patience <= 0:
            raise ConfigError(f"--patience must be positive, got {self.patience}")

    @property
    def wants_labels(self) -> bool:
        return self.task in ("intent", "joint")

    @property
    def wants_tags(self) -> bool:
        return self.task in ("slots", "joint")

    @classmethod
    def from_dict(cls, d: dict) -> ClassifyRunConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown classify config keys: {', '.join(unknown)}")
        return cls(**d)


# ---- data ------------------------------------------------------------------------------------
def load_split(config: ClassifyRunConfig, split: str) -> Sentences | None:
    """The sentences of a split; ``None`` for a valid/test split the data does not have."""
    extra = {"valid": config.valid, "test": config.test}.get(split)
    if extra:
        data = read_file(extra, config.lowercase)
    elif Path(config.data).is_file() and split != "train":
        return None
    else:
        data = load_sentences(config.data, split, config.lowercase)
    _check_task(data, config, split)
    return data


def _check_task(data: Sentences, config: ClassifyRunConfig, split: str) -> None:
    if not len(data):
        raise DataError(f"the {split} data of {config.data} has no sentence; check the file")
    if config.wants_labels and data.labels is None:
        raise DataError(
            f"task {config.task} needs a label per sentence but {split} data has none; "
            "use --task slots or labelled data"
        )
    if config.wants_tags and data.tags is None:
        raise DataError(
            f"task {config.task} needs tags per token but {split} data has none; "
            "use --task intent or tagged data (CoNLL or seq.out)"
        )


def _train_valid(config: ClassifyRunConfig, log) -> tuple[Sentences, Sentences]:
    train = load_split(config, "train")
    valid = None
    try:
        valid = load_split(config, "valid")
    except DataError as e:
        if "no valid" not in str(e):
            raise
    if valid is None:
        train, valid = hold_out(train, config.holdout, config.seed)
        log(f"no validation split: {len(valid):,} training sentences held out (--holdout)")
    for name, s in (("train", train), ("valid", valid)):
        if s.skipped_empty:
            log(f"warning: {s.skipped_empty} empty {name} lines were skipped")
    return train, valid


# ---- prediction and evaluation ---------------------------------------------------------------
def predict_batches(model: SequenceModel, encoded: Encoded, batch_size=256, device="cpu"):
    """``(label ids (n,) or None, label probabilities (n, C) or None, tag ids per sentence or
    None)`` for every sentence of ``encoded``, in order."""
    model.eval()
    n = len(encoded)
    probs = np.zeros((n, model.config.num_labels), dtype=np.float32) if model.classifier else None
    tags: list = [None] * n if model.tagger is not None else None
    with torch.no_grad():
        for b in encoded.batches(batch_size):
            b = b.to(device)
            logits, emissions = model(b.words, b.lengths, b.chars)
            if logits is not None:
                p = logits.float().softmax(-1)
                p[:, 0] = 0.0  # the reserved <unk> label is never an answer
                probs[b.index] = p.cpu().numpy()
            if emissions is not None:
                mask = torch.arange(b.words.size(1), device=device)[None] < b.lengths[:, None]
                for i, row in zip(b.index, model.decode_tags(emissions, mask), strict=True):
                    tags[i] = row
    labels = None if probs is None else probs.argmax(1)
    return labels, probs, tags


def evaluate(model, sentences: Sentences, vocabs: dict, *, device="cpu", encoded=None) -> dict:
    """Intent accuracy / macro-F1 / confusion matrix and slot entity F1 (conlleval), whichever
    the model and the data both have; with both, the sentence accuracy (intent and every
    tag right). ``encoded``: ``sentences`` already checked and encoded (training evaluates
    the same validation set every epoch)."""
    if encoded is None:
        check_known(sentences, vocabs, "the evaluation data")
        encoded = Encoded(sentences, vocabs, model.config.char_embed > 0)
    t0 = time.perf_counter()
    labels, _, tags = predict_batches(model, encoded, device=device)
    seconds = time.perf_counter() - t0
    out: dict = {"sentences": len(sentences), "sentences_per_s": len(sentences) / seconds}
    right = np.ones(len(sentences), dtype=bool)
    if labels is not None and sentences.labels is not None:
        names = vocabs["labels"].itos[1:]
        pred = vocabs["labels"].decode(labels)
        prf = precision_recall_f1(sentences.labels, pred, names)
        out["intent"] = {
            "accuracy": accuracy(sentences.labels, pred),
            "macro_f1": prf["macro"]["f1"],
            "per_label": {k: prf[k] for k in names},
            "labels": names,
            "confusion": confusion_matrix(sentences.labels, pred, names).tolist(),
        }
        right &= np.array([a == b for a, b in zip(sentences.labels, pred, strict=True)])
    if tags is not None and sentences.tags is not None:
        tv = vocabs["tags"]
        pred_tags = [tv.decode(t) for t in tags]
        ent = entity_prf(sentences.tags, pred_tags)
        n_tok = sum(len(t) for t in sentences.tags)
        tok_right = sum(
            a == b
            for gold, p in zip(sentences.tags, pred_tags, strict=True)
            for a, b in zip(gold, p, strict=True)
        )
        out["slots"] = {
            "f1": ent["f1"],
            "precision": ent["precision"],
            "recall": ent["recall"],
            "token_accuracy": tok_right / n_tok,
            "per_type": ent["types"],
        }
        right &= np.array([g == p for g, p in zip(sentences.tags, pred_tags, strict=True)])
    if "intent" in out and "slots" in out:
        out["sentence_accuracy"] = float(right.mean())
    return out


def score_of(result: dict, task: str) -> float:
    """The one number validation early-stops on (higher is better)."""
    if task == "intent":
        return result["intent"]["accuracy"]
    if task == "slots":
        return result["slots"]["f1"]
    return (result["intent"]["accuracy"] + result["slots"]["f1"]) / 2


# ---- training --------------------------------------------------------------------------------
def _class_weights(train: Encoded, num_labels: int, how: str) -> torch.Tensor | None:
    if how == "none":
        return None
    counts = np.bincount(train.labels, minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def model_config(config: ClassifyRunConfig, vocabs: dict) -> SequenceModelConfig:
    return SequenceModelConfig(
        vocab=len(vocabs["words"]),
        num_labels=len(vocabs["labels"]) if config.wants_labels else 0,
        tags=tuple(vocabs["tags"].itos) if config.wants_tags else (),
        chars=len(vocabs["chars"]),
        embed=config.embed,
        hidden=config.hidden,
        layers=config.layers,
        cell=config.cell,
        bidirectional=config.bidirectional,
        pooling=config.pooling,
        char_embed=config.char_embed,
        char_filters=config.char_filters,
        crf=config.crf and config.wants_tags,
        dropout=config.dropout,
        backend=config.backend,
    )


def train_run(config: ClassifyRunConfig, out, log: Callable[[str], None] | None = None) -> dict:
    """Train, keeping the best model on the validation score in ``out``; return the history."""
    from rnnkit.runtime import pick_device
    from rnnkit.train.trainer import optimizer_step

    log = log or (lambda _: None)
    out = Path(out)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    train, valid = _train_valid(config, log)
    vocabs = build_vocabs(train, config.min_freq, config.max_vocab)
    if config.wants_labels and len(vocabs["labels"]) < 3:
        raise DataError("the training data has a single label; a classifier needs two or more")
    check_known(valid, vocabs, "the validation data")
    mcfg = model_config(config, vocabs)
    model = SequenceModel(mcfg).to(device)
    enc = Encoded(train, vocabs, mcfg.char_embed > 0)
    valid_enc = Encoded(valid, vocabs, mcfg.char_embed > 0)  # checked by check_known above
    weights = (
        _class_weights(enc, mcfg.num_labels, config.class_weights)
        if enc.labels is not None
        else None
    )
    weights = None if weights is None else weights.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / VOCABS, json.dumps({k: v.to_dict() for k, v in vocabs.items()}))
    (out / METRICS).unlink(missing_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"{len(train):,} training sentences, {len(vocabs['words']):,} words, "
        f"{mcfg.num_labels and mcfg.num_labels - 1} labels, {max(len(mcfg.tags) - 2, 0)} tags, "
        f"{n_params / 1e6:.2f}M parameters, device {device}"
    )
    # Words seen once are replaced by <unk> now and then, so <unk> learns what a new word is.
    singletons = None
    if config.word_dropout > 0:
        counts = vocabs["words"].counts
        singletons = torch.tensor([c == 1 for c in counts], device=device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    history: dict = {"epochs": [], "best_epoch": None, "best_score": None, "steps": 0}
    start, step, stale, stop = time.perf_counter(), 0, 0, None
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0, loss_sum, n_batches, n_sent = time.perf_counter(), 0.0, 0, 0
        for b in enc.batches(config.batch_size, shuffle=True, seed=config.seed + epoch):
            b = b.to(device)
            words = b.words
            if singletons is not None:
                drop = singletons[words] & (
                    torch.rand(words.shape, generator=gen, device=device) < config.word_dropout
                )
                words = words.masked_fill(drop, vocabs["words"].unk_id)
            logits, emissions = model(words, b.lengths, b.chars)
            loss = 0.0
            if logits is not None:
                loss = F.cross_entropy(logits, b.labels, weight=weights)
            if emissions is not None:
                loss = loss + model.tag_loss(emissions, b.tags, b.tags != 0)
            loss_sum += optimizer_step(loss, model, opt, config.clip, step + 1)
            step += 1
            n_batches += 1
            n_sent += len(b.index)
            if step % config.log_every == 0:
                log(f"epoch {epoch} step {step}: loss {loss_sum / n_batches:.4f}")
            if config.max_steps and step >= config.max_steps:
                stop = "max_steps"
                break
            if config.max_minutes and time.perf_counter() - start > 60 * config.max_minutes:
                stop = "max_minutes"
                break
        seconds = time.perf_counter() - t0
        result = evaluate(model, valid, vocabs, device=device, encoded=valid_enc)
        score = score_of(result, config.task)
        row = {
            "epoch": epoch,
            "step": step,
            "train_loss": loss_sum / max(n_batches, 1),
            "sentences_per_s": n_sent / max(seconds, 1e-9),
            "seconds": seconds,
            "valid_score": score,
            **_summary(result),
        }
        history["epochs"].append(row)
        with open(out / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        log(
            f"epoch {epoch}: train loss {row['train_loss']:.4f}, "
            f"valid {_describe(result)} ({seconds:.0f} s)"
        )
        if history["best_score"] is None or score > history["best_score"]:
            history["best_epoch"], history["best_score"], stale = epoch, score, 0
            save_weights(model, out / WEIGHTS)
        else:
            stale += 1
        history["steps"] = step
        save_config(out, config, mcfg, history)
        if stop:
            break
        if config.patience is not None and stale >= config.patience:
            stop = "patience"
            break
    history["stop"] = stop or "epochs"
    history["seconds"] = time.perf_counter() - start
    save_config(out, config, mcfg, history)
    return history


def _summary(result: dict) -> dict:
    row = {}
    if "intent" in result:
        row["intent_accuracy"] = result["intent"]["accuracy"]
        row["intent_macro_f1"] = result["intent"]["macro_f1"]
    if "slots" in result:
        row["slot_f1"] = result["slots"]["f1"]
    if "sentence_accuracy" in result:
        row["sentence_accuracy"] = result["sentence_accuracy"]
    return row


def _describe(result: dict) -> str:
    parts = []
    if "intent" in result:
        parts.append(f"intent accuracy {100 * result['intent']['accuracy']:.2f}%")
    if "slots" in result:
        parts.append(f"slot F1 {100 * result['slots']['f1']:.2f}")
    if "sentence_accuracy" in result:
        parts.append(f"sentence accuracy {100 * result['sentence_accuracy']:.2f}%")
    return ", ".join(parts)


# ---- the run directory -----------------------------------------------------------------------
def save_config(out: Path, config, mcfg: SequenceModelConfig, history: dict) -> None:
    doc = {
        "kind": "classify",
        "config": asdict(config),
        "model": mcfg.to_dict(),
        "history": history,
    }
    atomic_write_text(out / CONFIG, json.dumps(doc, indent=2) + "\n")


def load_run(run_dir, device="cpu"):
    """``(config, vocabs, model)`` of a trained run, the model in eval mode."""
    how = "`rnnkit classify train` or `rnnkit tag train`"
    run = task_run(run_dir, CONFIG, (VOCABS, WEIGHTS), "classification or tagging", how)
    try:
        doc = json.loads((run / CONFIG).read_text(encoding="utf-8"))
        config = ClassifyRunConfig.from_dict(doc["config"])
        mcfg = SequenceModelConfig.from_dict(doc["model"])
        raw = json.loads((run / VOCABS).read_text(encoding="utf-8"))
        vocabs = {k: Vocab(v["tokens"], v["reserved"], v.get("counts")) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, RnnkitError) as e:
        raise RunDirError(f"{run} is damaged ({e}); train the run again") from e
    model = SequenceModel(mcfg)
    load_weights(model, run / WEIGHTS, CONFIG)
    return config, vocabs, model.to(device).eval()
