"""Reading, scoring and reloading classification / tagging runs: the splits of a run's data,
batched prediction, intent accuracy and slot F1, ``train_run`` (the one ``Trainer`` on
``rnnkit.classify.task.ClassifyTask``) and the run directory (``rnnkit.registry.runs``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rnnkit.classify.config import ClassifyRunConfig
from rnnkit.classify.data import Encoded, Sentences, check_known, load_sentences, read_file
from rnnkit.classify.metrics import accuracy, confusion_matrix, entity_prf, precision_recall_f1
from rnnkit.classify.models import SequenceModel, SequenceModelConfig
from rnnkit.errors import DataError, RnnkitError, RunDirError
from rnnkit.registry.runs import RUN_KINDS, WEIGHTS, read_run
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import build_for_loading, load_weights

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
    from rnnkit.classify.task import ClassifyTask
    from rnnkit.train.trainer import Trainer, fit_or_stop

    fit_or_stop(Trainer(ClassifyTask(config), out, echo=log, progress=False))
    return read_run(out, "classify").history


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
