"""Translation runs: the splits of a run's data, greedy or beam translation, corpus BLEU /
chrF and the teacher-forced loss, the task of the one ``Trainer`` (``Seq2SeqTask``),
``train_run`` and the run directory (``rnnkit.registry.runs``).
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
from rnnkit.seq2seq.data import Batch, BucketBatches, Pairs, build_vocabs, encode_pairs, load_pairs
from rnnkit.seq2seq.models import build_seq2seq
from rnnkit.text import vocab as special
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir, build_for_loading, load_weights
from rnnkit.train.task import Task, rank_rows, resumed_config

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


EVAL_BATCH = 64  # sentences translated at once, sorted by length


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
        for i in range(0, len(order), EVAL_BATCH):
            idx = order[i : i + EVAL_BATCH]
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
    from rnnkit.train.trainer import Trainer, fit_or_stop

    fit_or_stop(Trainer(Seq2SeqTask(config), out, echo=log, progress=False))
    return read_run(out, "seq2seq").history


class Seq2SeqTask(Task):
    """Train a ``Seq2Seq`` on aligned pairs (see ``rnnkit.train.task.Task``).

    Args:
        config: the run's configuration.
        vocabs: ``(source, target)`` vocabularies of a resumed run; built from the training
            pairs when ``None``.
    """

    kind = "seq2seq"
    what = "translation run"
    config_cls = Seq2SeqRunConfig
    metric = "bleu"
    higher_is_better = True
    unit = "tokens"

    def __init__(self, config: Seq2SeqRunConfig, vocabs: tuple[Vocab, Vocab] | None = None):
        self.config, self.vocabs, self.valid = config, vocabs, None

    def load(self, echo) -> None:
        c = self.config
        train = load_split(c, "train")
        try:
            self.valid = load_split(c, "valid")
        except ConfigError:
            self.valid = None
        for name, pairs in (("train", train), ("valid", self.valid)):
            if pairs is not None and pairs.skipped_empty:
                echo(f"warning: {pairs.skipped_empty} {name} pairs with an empty side were skipped")
            if pairs is not None and pairs.truncated:
                echo(f"warning: {pairs.truncated} {name} pairs were cut to --max-len {c.max_len}")
        if self.vocabs is None:
            self.vocabs = build_vocabs(train, c.min_freq, c.max_vocab)
        src_vocab, tgt_vocab = self.vocabs
        self.pad = tgt_vocab.id_of(special.PAD)
        src_ids, tgt_ids = encode_pairs(train, src_vocab, tgt_vocab)
        self.buckets = BucketBatches(
            src_ids, tgt_ids, c.batch_size, shuffle=True, seed=c.seed, pad_id=self.pad
        )
        echo(
            f"{len(src_ids):,} training pairs, vocab {len(src_vocab):,} -> {len(tgt_vocab):,}, "
            f"{len(self.buckets)} batches per epoch"
        )

    def model_config(self) -> dict:
        src_vocab, tgt_vocab = self.vocabs
        return self.config.model_config(len(src_vocab), len(tgt_vocab))

    def build_model(self):
        return build_seq2seq(self.model_config())

    def num_batches(self, epoch: int) -> int:
        return len(self.buckets)

    def batches(self, epoch: int, start: int, rank: int, world: int):
        for idx in self.buckets.order(epoch)[start:]:
            yield self.buckets.batch(rank_rows(idx, rank, world))

    def loss(self, model, batch, state):
        c = self.config
        loss, tokens = next_token_loss(model, batch, self.pad, c.teacher_forcing, c.label_smoothing)
        return loss, tokens, None

    def has_valid(self) -> bool:
        return self.valid is not None

    def evaluate(self, model, dist, autocast) -> dict[str, float]:
        device = next(model.parameters()).device
        ev = evaluate(model, self.valid, *self.vocabs, beam=self.config.eval_beam, device=device)
        names = {"bleu": "bleu", "chrf": "chrf", "valid_loss": "loss", "valid_ppl": "perplexity"}
        return {row: ev[name] for row, name in names.items()}

    def describe(self, result: dict[str, float]) -> str:
        text = f"valid BLEU {result['bleu']:.2f}"
        if "valid_ppl" in result:
            text += f", chrF {result['chrf']:.2f}, ppl {result['valid_ppl']:.2f}"
        return text

    def train_row(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": math.exp(min(mean_loss, 50))}

    def write_files(self, run: Path) -> None:
        for vocab, name in zip(self.vocabs, (SRC_VOCAB, TGT_VOCAB), strict=True):
            vocab.save(run / name)

    def signature(self) -> dict:
        return {"src_vocab_size": len(self.vocabs[0]), "tgt_vocab_size": len(self.vocabs[1])}

    def title(self) -> str:
        c = self.config
        source = c.data or Path(c.tsv or c.src_file).name
        return f"{c.cell} encoder-decoder ({c.attention} attention) on {source}"


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


def resumed_task(run: RunDir, overrides: dict) -> Seq2SeqTask:
    """The task of the translation run in ``run`` with ``overrides`` applied."""
    saved, src_vocab, tgt_vocab, _ = read_saved(run.path)
    config, _ = resumed_config(saved, overrides)
    return Seq2SeqTask(config, (src_vocab, tgt_vocab))
