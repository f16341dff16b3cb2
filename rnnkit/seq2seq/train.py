"""Training an encoder-decoder: masked cross-entropy with teacher forcing, clipping, label
smoothing, validation BLEU every epoch, the best model kept, early stopping.

A run directory holds ``seq2seq.json`` (the config and the training history),
``src_vocab.json``, ``tgt_vocab.json``, ``model.safetensors`` (best validation BLEU) and
``metrics.jsonl``.
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

from rnnkit.errors import ConfigError, RnnkitError, RunDirError
from rnnkit.io import atomic_write_text
from rnnkit.seq2seq.bleu import corpus_bleu, corpus_chrf
from rnnkit.seq2seq.data import BucketBatches, Pairs, build_vocabs, encode_pairs, load_pairs
from rnnkit.seq2seq.models import Seq2Seq, build_seq2seq
from rnnkit.text import vocab as special
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import load_weights, save_weights, task_run

CONFIG, SRC_VOCAB, TGT_VOCAB, WEIGHTS, METRICS = (
    "seq2seq.json",
    "src_vocab.json",
    "tgt_vocab.json",
    "model.safetensors",
    "metrics.jsonl",
)
PAD, UNK, BOS, EOS = 0, 1, 2, 3


@dataclass
class Seq2SeqRunConfig:
    """Data, model and training settings of a translation run (JSON-able)."""

    data: str | None = "multi30k"
    src_lang: str = "de"
    tgt_lang: str = "en"
    src_file: str | None = None
    tgt_file: str | None = None
    valid_src_file: str | None = None
    valid_tgt_file: str | None = None
    tsv: str | None = None
    lowercase: bool = False
    max_len: int = 50
    min_freq: int = 2
    max_vocab: int | None = None
    embed: int = 256
    hidden: int = 512
    layers: int = 1
    cell: str = "gru"
    bidirectional: bool = True
    attention: str = "additive"
    dropout: float = 0.3
    backend: str = "torch"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    patience: int | None = None
    max_minutes: float | None = None
    max_steps: int | None = None
    eval_beam: int = 1
    seed: int = 0
    device: str = "auto"
    log_every: int = 100

    def __post_init__(self):
        sources = [self.data is not None, self.src_file is not None, self.tsv is not None]
        if sum(sources) != 1:
            raise ConfigError("give exactly one of --data NAME, --src FILE --tgt FILE, --tsv FILE")
        if (self.src_file is None) != (self.tgt_file is None):
            raise ConfigError("--src and --tgt go together: give both aligned files")
        for name in ("max_len", "min_freq", "epochs", "batch_size", "eval_beam", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ConfigError(f"--teacher-forcing must be in [0, 1], got {self.teacher_forcing}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be positive, got {self.lr}")

    @classmethod
    def from_dict(cls, d: dict) -> Seq2SeqRunConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown seq2seq config keys: {', '.join(unknown)}")
        return cls(**d)

    def model_config(self, src_vocab: int, tgt_vocab: int) -> dict:
        return {
            "src_vocab": src_vocab,
            "tgt_vocab": tgt_vocab,
            "embed": self.embed,
            "hidden": self.hidden,
            "layers": self.layers,
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "attention": self.attention,
            "dropout": self.dropout,
            "backend": self.backend,
        }


def load_split(config: Seq2SeqRunConfig, split: str) -> Pairs:
    """The pairs of one split; files without a split of their own give train only (and
    valid from --valid-src/--valid-tgt when given)."""
    # Only training pairs are cut: a reference cut short would distort BLEU.
    kw = dict(lowercase=config.lowercase, max_len=config.max_len if split == "train" else None)
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


# ---- decoding --------------------------------------------------------------------------------
def translate_ids(
    model: Seq2Seq,
    src_ids: list[np.ndarray],
    tgt_vocab: Vocab,
    *,
    beam: int = 1,
    alpha: float = 0.6,
    batch_size: int = 64,
    device="cpu",
) -> list[list[int]]:
    """Target ids for every source sentence (in order), greedy for beam 1."""
    from rnnkit.seq2seq.data import pad_batch
    from rnnkit.seq2seq.translate import search_batch

    order = np.argsort([len(s) for s in src_ids], kind="stable")  # similar lengths together
    results: dict[int, list[int]] = {}
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        src, src_len = pad_batch([src_ids[j] for j in idx], PAD)
        hyps = search_batch(
            model, src.to(device), src_len.to(device), tgt_vocab, beam=beam, alpha=alpha
        )
        for j, h in zip(idx, hyps, strict=True):
            results[int(j)] = h[0].tokens
    return [results[i] for i in range(len(src_ids))]


def detok(ids: list[int], vocab: Vocab) -> str:
    """Target ids as text, without padding and sentence marks."""
    marks = {vocab.id_of(t) for t in (special.PAD, special.BOS, special.EOS)}
    return " ".join(vocab.decode([i for i in ids if i not in marks]))


def evaluate(model, pairs: Pairs, src_vocab, tgt_vocab, *, beam=1, device="cpu") -> dict:
    """Corpus BLEU and chrF (sacrebleu) of the translations of ``pairs`` against their targets,
    and the teacher-forced loss and perplexity."""
    src_ids, tgt_ids = encode_pairs(pairs, src_vocab, tgt_vocab)
    t0 = time.perf_counter()
    ids = translate_ids(model, src_ids, tgt_vocab, beam=beam, device=device)
    hyps = [detok(h, tgt_vocab) for h in ids]
    seconds = time.perf_counter() - t0
    refs = [" ".join(t) for t in pairs.tgt]
    loss = teacher_forced_loss(model, src_ids, tgt_ids, device=device)
    return {
        "bleu": corpus_bleu(hyps, refs),
        "chrf": corpus_chrf(hyps, refs),
        "loss": loss,
        "perplexity": math.exp(loss),
        "sentences": len(hyps),
        "sentences_per_s": len(hyps) / max(seconds, 1e-9),
        "hypotheses": hyps,
    }


def teacher_forced_loss(model, src_ids, tgt_ids, *, batch_size=128, device="cpu") -> float:
    """Mean cross-entropy per target token (padding excluded), with teacher forcing."""
    model.eval()
    total, count = 0.0, 0
    batches = BucketBatches(src_ids, tgt_ids, batch_size, shuffle=False)
    with torch.no_grad():
        for b in batches.epoch(0):
            src, src_len, tgt = b.src.to(device), b.src_len.to(device), b.tgt.to(device)
            logits, _ = model(src, src_len, tgt[:, :-1])
            gold = tgt[:, 1:]
            total += F.cross_entropy(
                logits.reshape(-1, logits.size(-1)),
                gold.reshape(-1),
                ignore_index=PAD,
                reduction="sum",
            ).item()
            count += int((gold != PAD).sum())
    return total / max(count, 1)


# ---- training --------------------------------------------------------------------------------
def train_run(
    config: Seq2SeqRunConfig, out: str | Path, log: Callable[[str], None] | None = None
) -> dict:
    """Train, keeping the best model on validation BLEU in ``out``; return the history."""
    from rnnkit.runtime import pick_device
    from rnnkit.train.trainer import optimizer_step

    log = log or (lambda _: None)
    out = Path(out)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    train = load_split(config, "train")
    try:
        valid = load_split(config, "valid")
    except ConfigError:
        valid = None
    for name, pairs in (("train", train), ("valid", valid)):
        if pairs is not None and pairs.skipped_empty:
            log(f"warning: {pairs.skipped_empty} {name} pairs with an empty side were skipped")
        if pairs is not None and pairs.truncated:
            log(f"warning: {pairs.truncated} {name} pairs were cut to --max-len {config.max_len}")
    src_vocab, tgt_vocab = build_vocabs(train, config.min_freq, config.max_vocab)
    src_ids, tgt_ids = encode_pairs(train, src_vocab, tgt_vocab)
    model = build_seq2seq(config.model_config(len(src_vocab), len(tgt_vocab))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = BucketBatches(src_ids, tgt_ids, config.batch_size, shuffle=True, seed=config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    src_vocab.save(out / SRC_VOCAB)
    tgt_vocab.save(out / TGT_VOCAB)
    (out / METRICS).unlink(missing_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"{len(src_ids):,} training pairs, vocab {len(src_vocab):,} -> {len(tgt_vocab):,}, "
        f"{n_params / 1e6:.1f}M parameters, {len(batches)} batches per epoch, device {device}"
    )
    history = {"epochs": [], "best_epoch": None, "best_bleu": None, "steps": 0}
    start = time.perf_counter()
    step, stale, stop = 0, 0, None
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0, tokens, loss_sum, loss_n = time.perf_counter(), 0, 0.0, 0
        for b in batches.epoch(epoch - 1):
            src, src_len, tgt = b.src.to(device), b.src_len.to(device), b.tgt.to(device)
            logits, _ = model(src, src_len, tgt[:, :-1], config.teacher_forcing, gen)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)),
                tgt[:, 1:].reshape(-1),
                ignore_index=PAD,  # padding never counts
                label_smoothing=config.label_smoothing,
            )
            value = optimizer_step(loss, model, opt, config.clip, step + 1)
            step += 1
            n_tok = int((tgt[:, 1:] != PAD).sum())
            tokens += n_tok
            loss_sum += value * n_tok
            loss_n += n_tok
            if step % config.log_every == 0:
                rate = tokens / (time.perf_counter() - t0)
                log(
                    f"epoch {epoch} step {step}: loss {loss_sum / loss_n:.3f}, {rate:,.0f} tokens/s"
                )
            if config.max_steps and step >= config.max_steps:
                stop = "max_steps"
                break
            if config.max_minutes and time.perf_counter() - start > 60 * config.max_minutes:
                stop = "max_minutes"
                break
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "step": step,
            "train_loss": loss_sum / max(loss_n, 1),
            "tokens_per_s": tokens / max(seconds, 1e-9),
            "seconds": seconds,
        }
        if valid is not None:
            ev = evaluate(model, valid, src_vocab, tgt_vocab, beam=config.eval_beam, device=device)
            row.update({k: ev[k] for k in ("bleu", "chrf", "loss", "perplexity")})
            row["valid_loss"] = row.pop("loss")
        history["epochs"].append(row)
        with open(out / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        bleu = row.get("bleu")
        msg = f"epoch {epoch}: train loss {row['train_loss']:.3f}"
        if bleu is not None:
            msg += f", valid ppl {row['perplexity']:.2f}, valid BLEU {bleu:.2f}"
        log(msg + f" ({seconds:.0f} s)")
        if bleu is None or history["best_bleu"] is None or bleu > history["best_bleu"]:
            history["best_epoch"], history["best_bleu"] = epoch, bleu
            stale = 0
            save_weights(model, out / WEIGHTS)
        else:
            stale += 1
        history["steps"] = step
        save_config(out, config, history)
        if stop:
            break
        if config.patience is not None and stale >= config.patience:
            stop = "patience"
            break
    history["stop"] = stop or "epochs"
    history["seconds"] = time.perf_counter() - start
    save_config(out, config, history)
    return history


def save_config(out: Path, config: Seq2SeqRunConfig, history: dict) -> None:
    doc = {"kind": "seq2seq", "config": asdict(config), "history": history}
    atomic_write_text(out / CONFIG, json.dumps(doc, indent=2) + "\n")


def load_run(run_dir, device="cpu"):
    """``(config, src_vocab, tgt_vocab, model)`` of a trained run, the model in eval mode."""
    files = (SRC_VOCAB, TGT_VOCAB, WEIGHTS)
    run = task_run(run_dir, CONFIG, files, "seq2seq", "`rnnkit seq2seq train`")
    try:
        doc = json.loads((run / CONFIG).read_text(encoding="utf-8"))
        config = Seq2SeqRunConfig.from_dict(doc["config"])
    except (ValueError, KeyError, TypeError, RnnkitError) as e:
        raise RunDirError(f"{run / CONFIG} is damaged ({e}); train the run again") from e
    src_vocab, tgt_vocab = Vocab.load(run / SRC_VOCAB), Vocab.load(run / TGT_VOCAB)
    model = build_seq2seq(config.model_config(len(src_vocab), len(tgt_vocab)))
    load_weights(model, run / WEIGHTS, CONFIG)
    return config, src_vocab, tgt_vocab, model.to(device).eval()
