"""Classification and tagging runs: the splits of a run's data, batched prediction, intent
accuracy and slot F1, the task of the one ``Trainer`` (``ClassifyTask``), ``train_run`` and the
run directory (``rnnkit.registry.runs``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.classify.config import ClassifyRunConfig
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
from rnnkit.errors import DataError, RnnkitError, RunDirError
from rnnkit.io import atomic_write_text
from rnnkit.registry.runs import RUN_KINDS, WEIGHTS, read_run
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir, build_for_loading, load_weights
from rnnkit.train.task import Task, rank_rows, resumed_config

VOCABS = RUN_KINDS["classify"].files[0]


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
    return data


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
        out["slots"] = {k: ent[k] for k in ("f1", "precision", "recall")}
        out["slots"].update(token_accuracy=tok_right / n_tok, per_type=ent["types"])
        right &= np.array([g == p for g, p in zip(sentences.tags, pred_tags, strict=True)])
    if "intent" in out and "slots" in out:
        out["sentence_accuracy"] = float(right.mean())
    return out


# ---- training --------------------------------------------------------------------------------
def train_run(config: ClassifyRunConfig, out, log: Callable[[str], None] | None = None) -> dict:
    """Train with the one ``Trainer``, keeping the best model on the validation score in
    ``out``; return the history saved in ``run.json``."""
    from rnnkit.train.trainer import Trainer, fit_or_stop

    fit_or_stop(Trainer(ClassifyTask(config), out, echo=log, progress=False))
    return read_run(out, "classify").history


# The figures of an evaluation row, as one line shows them.
_SHOWN = (
    ("intent_accuracy", "intent accuracy {:.2f}%"),
    ("slot_f1", "slot F1 {:.2f}"),
    ("sentence_accuracy", "sentence accuracy {:.2f}%"),
)


class ClassifyTask(Task):
    """Train a ``SequenceModel`` (see ``rnnkit.train.task.Task``) on length-bucketed sentences:
    cross-entropy on the intent and CRF (or softmax) loss on the tags, word dropout on words
    seen once; the validation score (accuracy, slot F1, or their mean) picks the best model.

    Args:
        config: the run's configuration.
        vocabs: the vocabularies of a resumed run (words, chars, labels, tags); built from the
            training sentences when ``None``.
    """

    kind = "classify"
    what = "classification or tagging run"
    config_cls = ClassifyRunConfig
    metric = "valid_score"
    higher_is_better = True
    unit = "sentences"

    def __init__(self, config: ClassifyRunConfig, vocabs: dict | None = None):
        self.config, self.vocabs = config, vocabs
        self.generator, self._saved_rng = None, None

    def load(self, echo) -> None:
        c = self.config
        train, valid = load_split(c, "train"), None
        try:
            valid = load_split(c, "valid")
        except DataError as e:
            if "no valid" not in str(e):
                raise
        if valid is None:
            train, valid = hold_out(train, c.holdout, c.seed)
            echo(f"no validation split: {len(valid):,} training sentences held out (--holdout)")
        for name, s in (("train", train), ("valid", valid)):
            if s.skipped_empty:
                echo(f"warning: {s.skipped_empty} empty {name} lines were skipped")
        self.valid = valid
        if self.vocabs is None:
            self.vocabs = build_vocabs(train, c.min_freq, c.max_vocab)
        if c.wants_labels and len(self.vocabs["labels"]) < 3:
            raise DataError("the training data has a single label; a classifier needs two or more")
        check_known(self.valid, self.vocabs, "the validation data")
        self.mcfg = SequenceModelConfig(
            vocab=len(self.vocabs["words"]),
            num_labels=len(self.vocabs["labels"]) if c.wants_labels else 0,
            tags=tuple(self.vocabs["tags"].itos) if c.wants_tags else (),
            chars=len(self.vocabs["chars"]),
            crf=c.crf and c.wants_tags,
            **c.pick("embed", "hidden", "layers", "cell", "bidirectional", "pooling"),
            **c.pick("char_embed", "char_filters", "dropout", "backend"),
        )
        chars = self.mcfg.char_embed > 0
        self.train = Encoded(train, self.vocabs, chars)
        self.valid_enc = Encoded(self.valid, self.vocabs, chars)  # checked above
        self.weights = None  # balanced: each label seen weighs n / (its count * labels seen)
        if self.train.labels is not None and c.class_weights == "balanced":
            counts = np.bincount(self.train.labels, minlength=self.mcfg.num_labels).astype(float)
            w = counts.sum() / np.maximum(counts, 1) / (counts > 0).sum()
            self.weights = torch.tensor(np.where(counts > 0, w, 0.0), dtype=torch.float32)
        # Words seen once are replaced by <unk> now and then, so <unk> learns what a new word is.
        self.singletons = None
        if c.word_dropout > 0:
            self.singletons = torch.tensor([n == 1 for n in self.vocabs["words"].counts])
        mc = self.mcfg
        echo(
            f"{len(train):,} training sentences, {len(self.vocabs['words']):,} words, "
            f"{mc.num_labels and mc.num_labels - 1} labels, {max(len(mc.tags) - 2, 0)} tags"
        )

    def _generator(self, device: torch.device) -> torch.Generator:
        """The generator of the word dropout: its own stream, seeded with the seed, kept in
        checkpoints (a run resumed on another kind of device starts the stream anew)."""
        if self.generator is None or self.generator.device.type != device.type:
            self.generator = torch.Generator(device=device).manual_seed(self.config.seed)
            saved = self._saved_rng
            if saved is not None and saved["device"] == device.type:
                self.generator.set_state(saved["state"])
            self._saved_rng = None
        return self.generator

    def state_dict(self) -> dict:
        g = self.generator
        if g is None:
            return {}
        return {"word_dropout_rng": {"state": g.get_state(), "device": g.device.type}}

    def load_state_dict(self, state: dict) -> None:
        self.generator, self._saved_rng = None, state.get("word_dropout_rng")

    def build_model(self) -> SequenceModel:
        return SequenceModel(self.mcfg)

    def num_batches(self, epoch: int) -> int:
        return -(-len(self.train) // self.config.batch_size)

    def batches(self, epoch: int, start: int, rank: int, world: int):
        c = self.config  # the shuffles are seeded as if the epochs were counted from 1
        groups = self.train.groups(c.batch_size, shuffle=True, seed=c.seed + epoch + 1)
        for idx in groups[start:]:
            yield self.train.batch(rank_rows(idx, rank, world))

    def loss(self, model, batch, state):
        words = batch.words  # (N, S)
        # The class weights and the singleton mask follow the batches' device (a no-op after
        # the first batch).
        if self.weights is not None:
            self.weights = self.weights.to(words.device)
        if self.singletons is not None:
            self.singletons = self.singletons.to(words.device)
            gen = self._generator(words.device)
            drop = self.singletons[words] & (
                torch.rand(words.shape, generator=gen, device=words.device)
                < self.config.word_dropout
            )
            words = words.masked_fill(drop, self.vocabs["words"].unk_id)
        logits, emissions = model(words, batch.lengths, batch.chars)
        loss = 0.0
        if logits is not None:
            loss = F.cross_entropy(logits, batch.labels, weight=self.weights)
        if emissions is not None:  # tag_loss is read on the model inside a compiled or DDP one
            inner = getattr(model, "_orig_mod", model)
            inner = getattr(inner, "module", inner)
            loss = loss + inner.tag_loss(emissions, batch.tags, batch.tags != 0)
        return loss, len(batch.index), None

    def evaluate(self, model, dist, autocast) -> dict[str, float]:
        device = next(model.parameters()).device
        result = evaluate(model, self.valid, self.vocabs, device=device, encoded=self.valid_enc)
        row = {}
        if "intent" in result:
            row["intent_accuracy"] = result["intent"]["accuracy"]
            row["intent_macro_f1"] = result["intent"]["macro_f1"]
        if "slots" in result:
            row["slot_f1"] = result["slots"]["f1"]
        if "sentence_accuracy" in result:
            row["sentence_accuracy"] = result["sentence_accuracy"]
        # The one number validation early-stops on (higher is better): the intent accuracy,
        # the slot F1, or for a joint run their mean.
        scores = [row[k] for k in ("intent_accuracy", "slot_f1") if k in row]
        return {"valid_score": sum(scores) / len(scores), **row}

    def describe(self, result: dict[str, float]) -> str:
        if "intent_accuracy" not in result and "slot_f1" not in result:
            return f"valid score {100 * result['valid_score']:.2f}"
        return "valid " + ", ".join(f.format(100 * result[k]) for k, f in _SHOWN if k in result)

    def write_files(self, run: Path) -> None:
        atomic_write_text(
            run / VOCABS, json.dumps({k: v.to_dict() for k, v in self.vocabs.items()})
        )

    def signature(self) -> dict:
        return {f"{name}_vocab_size": len(v) for name, v in sorted(self.vocabs.items())}

    def title(self) -> str:
        return f"{self.config.task} ({self.config.cell}) on {Path(self.config.data).name}"

    def model_config(self) -> dict:
        return self.mcfg.to_dict()


# ---- the run directory -----------------------------------------------------------------------
def read_saved(run_dir) -> tuple[ClassifyRunConfig, SequenceModelConfig, dict]:
    """``(config, model config, vocabularies)`` of the run in ``run_dir``."""
    doc = read_run(run_dir, "classify")
    config = doc.run_config(ClassifyRunConfig)
    try:
        mcfg = SequenceModelConfig.from_dict(doc.model)
        raw = json.loads((Path(run_dir) / VOCABS).read_text(encoding="utf-8"))
        vocabs = {k: Vocab(v["tokens"], v["reserved"], v.get("counts")) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, OSError, RnnkitError) as e:
        raise RunDirError(f"{run_dir} is damaged ({e}); train the run again") from e
    return config, mcfg, vocabs


def load_run(run_dir, device="cpu"):
    """``(config, vocabs, model)`` of a trained run, the model in eval mode."""
    config, mcfg, vocabs = read_saved(run_dir)
    model = build_for_loading(SequenceModel, mcfg)
    load_weights(model, Path(run_dir) / WEIGHTS)
    return config, vocabs, model.to(device).eval()


def resumed_task(run: RunDir, overrides: dict) -> ClassifyTask:
    """The task of the classification run in ``run`` with ``overrides`` applied."""
    saved, _, vocabs = read_saved(run.path)
    config, _ = resumed_config(saved, overrides)
    return ClassifyTask(config, vocabs)
