"""The translation task for the one ``Trainer``: bucketed pairs, masked cross-entropy with
teacher forcing and label smoothing, validation BLEU picks the best model."""

from __future__ import annotations

import math
from pathlib import Path

from rnnkit.errors import ConfigError
from rnnkit.seq2seq.data import BucketBatches, build_vocabs, encode_pairs
from rnnkit.seq2seq.models import build_seq2seq
from rnnkit.seq2seq.train import (
    SRC_VOCAB,
    TGT_VOCAB,
    Seq2SeqRunConfig,
    evaluate,
    load_split,
    next_token_loss,
    read_saved,
)
from rnnkit.text import vocab as special
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir
from rnnkit.train.task import Task, rank_rows, resumed_config


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
        return {
            "bleu": ev["bleu"],
            "chrf": ev["chrf"],
            "valid_loss": ev["loss"],
            "valid_ppl": ev["perplexity"],
        }

    def describe(self, result: dict[str, float]) -> str:
        text = f"valid BLEU {result['bleu']:.2f}"
        if "valid_ppl" in result:
            text += f", chrF {result['chrf']:.2f}, ppl {result['valid_ppl']:.2f}"
        return text

    def train_row(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": math.exp(min(mean_loss, 50))}

    def write_files(self, run: Path) -> None:
        src_vocab, tgt_vocab = self.vocabs
        src_vocab.save(run / SRC_VOCAB)
        tgt_vocab.save(run / TGT_VOCAB)

    def signature(self) -> dict:
        return {"src_vocab_size": len(self.vocabs[0]), "tgt_vocab_size": len(self.vocabs[1])}

    def title(self) -> str:
        c = self.config
        source = c.data or Path(c.tsv or c.src_file).name
        return f"{c.cell} encoder-decoder ({c.attention} attention) on {source}"


def resumed_task(run: RunDir, overrides: dict) -> Seq2SeqTask:
    """The task of the translation run in ``run`` with ``overrides`` applied."""
    saved, src_vocab, tgt_vocab, _ = read_saved(run.path)
    config, _ = resumed_config(saved, overrides)
    return Seq2SeqTask(config, (src_vocab, tgt_vocab))
