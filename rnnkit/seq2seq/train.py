"""Reading, scoring and reloading translation runs: the splits of a run's data, greedy or beam
translation of id arrays, corpus BLEU / chrF and the teacher-forced loss, ``train_run`` (the
one ``Trainer`` on ``rnnkit.seq2seq.task.Seq2SeqTask``) and the run directory
(``rnnkit.registry.runs``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError, RnnkitError, RunDirError
from rnnkit.registry.runs import RUN_KINDS, WEIGHTS, read_run
from rnnkit.seq2seq.bleu import corpus_chrf, signed_corpus_bleu
from rnnkit.seq2seq.config import Seq2SeqRunConfig
from rnnkit.seq2seq.data import Batch, BucketBatches, Pairs, encode_pairs, load_pairs
from rnnkit.seq2seq.models import build_seq2seq
from rnnkit.text import vocab as special
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import build_for_loading, load_weights

SRC_VOCAB, TGT_VOCAB = RUN_KINDS["seq2seq"].files[:2]


def load_split(config: Seq2SeqRunConfig, split: str) -> Pairs:
    """The pairs of one split; files without a split of their own give train only (and
    valid from --valid-src/--valid-tgt when given)."""
    # Only training pairs are cut: a reference cut short would distort BLEU.
    kw = dict(
        lowercase=config.lowercase,
        tokenize=config.tokenize,
        max_len=config.max_len if split == "train" else None,
    )
    if config.data is not None:
        return load_pairs(
            config.data, split, src_lang=config.src_lang, tgt_lang=config.tgt_lang, **kw
        )
    if config.tsv is not None:
        if split != "train":
            raise ConfigError(f"a --tsv run has no {split} split; give --data or valid files")
        return load_pairs(tsv=config.tsv, **kw)
    if split == "train":
        return load_pairs(src_file=config.src_file, tgt_file=config.tgt_file, **kw)
    if split == "valid" and config.valid_src_file:
        return load_pairs(src_file=config.valid_src_file, tgt_file=config.valid_tgt_file, **kw)
    raise ConfigError(f"this run has no {split} split; pass --valid-src and --valid-tgt files")


def detok(ids: list[int], vocab: Vocab) -> str:
    """Target ids as text, without padding and sentence marks."""
    marks = {vocab.id_of(t) for t in (special.PAD, special.BOS, special.EOS)}
    return " ".join(vocab.decode([i for i in ids if i not in marks]))


def evaluate(
    model, pairs: Pairs, src_vocab, tgt_vocab, *, beam=1, alpha=0.6, device="cpu", progress=False
) -> dict:
    """Corpus BLEU (sacrebleu on the tokens as they are, ``tokenize="none"``, with its
    signature) and chrF of the translations of ``pairs`` against their targets, and the
    teacher-forced loss and perplexity; ``alpha`` is the beam's length penalty; ``progress``
    shows a bar of the sentences translated (a beam search over a test set takes minutes on a
    CPU)."""
    from rnnkit.progress import progress_bar
    from rnnkit.seq2seq.translate import search_ids

    src_ids, tgt_ids = encode_pairs(pairs, src_vocab, tgt_vocab)
    t0 = time.perf_counter()
    order = np.argsort([len(s) for s in src_ids], kind="stable")  # similar lengths together
    hyps: list = [None] * len(src_ids)
    what = "greedy" if beam == 1 else f"beam {beam}"
    with progress_bar(len(order), enabled=progress, unit="sent", desc=what) as bar:
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            batch = [src_ids[j] for j in idx]
            found = search_ids(model, batch, src_vocab, tgt_vocab, device, beam=beam, alpha=alpha)
            for j, h in zip(idx, found, strict=True):
                hyps[int(j)] = detok(h[0].tokens, tgt_vocab)
            bar.update(len(idx))
    seconds = time.perf_counter() - t0
    refs = [" ".join(t) for t in pairs.tgt]
    loss = teacher_forced_loss(model, src_ids, tgt_ids, tgt_vocab.id_of(special.PAD), device=device)
    # Both sides are rnnkit's tokens joined by spaces: scored as they are, so <unk> stays one
    # token (13a would split it into three).
    bleu, signature = signed_corpus_bleu(hyps, refs, tokenize="none")
    return {
        "bleu": bleu,
        "bleu_signature": signature,
        "chrf": corpus_chrf(hyps, refs),
        "loss": loss,
        "perplexity": math.exp(loss),
        "sentences": len(hyps),
        "sentences_per_s": len(hyps) / max(seconds, 1e-9),
        "hypotheses": hyps,
    }


def teacher_forced_loss(
    model, src_ids, tgt_ids, pad: int, *, batch_size=128, device="cpu"
) -> float:
    """Mean cross-entropy per target token (padding, id ``pad``, excluded), with teacher
    forcing."""
    model.eval()
    total, count = 0.0, 0
    batches = BucketBatches(src_ids, tgt_ids, batch_size, shuffle=False, pad_id=pad)
    with torch.no_grad():
        for b in batches.epoch(0):
            loss, tokens = next_token_loss(model, b.to(device), pad, reduction="sum")
            total += loss.item()
            count += tokens
    return total / max(count, 1)


def next_token_loss(
    model, batch: Batch, pad: int, teacher_forcing=1.0, label_smoothing=0.0, reduction="mean"
) -> tuple[torch.Tensor, int]:
    """``(cross-entropy, target tokens)`` of a batch: the decoder reads ``tgt[:, :-1]`` and
    predicts ``tgt[:, 1:]``; padding (id ``pad``) never counts."""
    gold = batch.tgt[:, 1:]  # (N, T-1)
    logits, _ = model(batch.src, batch.src_len, batch.tgt[:, :-1], teacher_forcing)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        gold.reshape(-1),
        ignore_index=pad,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    return loss, int((gold != pad).sum())


# ---- training --------------------------------------------------------------------------------
def train_run(
    config: Seq2SeqRunConfig, out: str | Path, log: Callable[[str], None] | None = None
) -> dict:
    """Train with the one ``Trainer``, keeping the best model on validation BLEU in ``out``;
    return the history saved in ``run.json``."""
    from rnnkit.seq2seq.task import Seq2SeqTask
    from rnnkit.train.trainer import Trainer, fit_or_stop

    fit_or_stop(Trainer(Seq2SeqTask(config), out, echo=log, progress=False))
    return read_run(out, "seq2seq").history


def read_saved(run_dir) -> tuple[Seq2SeqRunConfig, Vocab, Vocab, dict]:
    """``(config, src_vocab, tgt_vocab, model config)`` of the translation run in ``run_dir``
    (runs written before the run file derive their model config)."""
    doc = read_run(run_dir, "seq2seq")
    config = doc.run_config(Seq2SeqRunConfig)
    src_vocab, tgt_vocab = (Vocab.load(Path(run_dir) / n) for n in (SRC_VOCAB, TGT_VOCAB))
    mcfg = doc.model or config.model_config(len(src_vocab), len(tgt_vocab))
    return config, src_vocab, tgt_vocab, mcfg


def load_run(run_dir, device="cpu"):
    """``(config, src_vocab, tgt_vocab, model)`` of a trained run, the model in eval mode."""
    config, src_vocab, tgt_vocab, mcfg = read_saved(run_dir)
    try:
        model = build_for_loading(build_seq2seq, mcfg)
    except RnnkitError as e:
        raise RunDirError(f"{run_dir}: the saved model config does not build ({e})") from e
    load_weights(model, Path(run_dir) / WEIGHTS)
    return config, src_vocab, tgt_vocab, model.to(device).eval()
