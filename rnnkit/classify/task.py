"""The classification / tagging task for the one ``Trainer``: length-bucketed sentences,
cross-entropy on the intent and CRF (or softmax) loss on the tags, word dropout on words seen
once; the validation score (accuracy, slot F1, or their mean) picks the best model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.classify.data import Encoded, Sentences, build_vocabs, check_known, hold_out
from rnnkit.classify.models import SequenceModel, SequenceModelConfig
from rnnkit.classify.train import VOCABS, ClassifyRunConfig, evaluate, load_split, read_saved
from rnnkit.errors import DataError
from rnnkit.io import atomic_write_text
from rnnkit.train.checkpoint import RunDir
from rnnkit.train.task import Task, rank_rows, resumed_config

# The figures of an evaluation row, as one line shows them.
_SHOWN = (
    ("intent_accuracy", "intent accuracy {:.2f}%"),
    ("slot_f1", "slot F1 {:.2f}"),
    ("sentence_accuracy", "sentence accuracy {:.2f}%"),
)


class ClassifyTask(Task):
    """Train a ``SequenceModel`` (see ``rnnkit.train.task.Task``).

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
        train, self.valid = _train_valid(c, echo)
        if self.vocabs is None:
            self.vocabs = build_vocabs(train, c.min_freq, c.max_vocab)
        if c.wants_labels and len(self.vocabs["labels"]) < 3:
            raise DataError("the training data has a single label; a classifier needs two or more")
        check_known(self.valid, self.vocabs, "the validation data")
        self.mcfg = model_config(c, self.vocabs)
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


def model_config(config: ClassifyRunConfig, vocabs: dict) -> SequenceModelConfig:
    return SequenceModelConfig(
        vocab=len(vocabs["words"]),
        num_labels=len(vocabs["labels"]) if config.wants_labels else 0,
        tags=tuple(vocabs["tags"].itos) if config.wants_tags else (),
        chars=len(vocabs["chars"]),
        crf=config.crf and config.wants_tags,
        **config.pick("embed", "hidden", "layers", "cell", "bidirectional", "pooling"),
        **config.pick("char_embed", "char_filters", "dropout", "backend"),
    )


def resumed_task(run: RunDir, overrides: dict) -> ClassifyTask:
    """The task of the classification run in ``run`` with ``overrides`` applied."""
    saved, _, vocabs = read_saved(run.path)
    config, _ = resumed_config(saved, overrides)
    return ClassifyTask(config, vocabs)
