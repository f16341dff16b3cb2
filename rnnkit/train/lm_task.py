"""The language-model task: contiguous token streams, truncated BPTT with the state carried
between batches (sequential sampling), validation perplexity."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from rnnkit.config import RESUMABLE, TrainConfig
from rnnkit.data.lm_batches import LMBatches
from rnnkit.errors import RunDirError, VocabError
from rnnkit.infer.scoring import evaluate_loss
from rnnkit.models.lm import RNNLanguageModel
from rnnkit.registry.runs import run_file
from rnnkit.text.vocab import Vocab
from rnnkit.train.checkpoint import RunDir, lm_config
from rnnkit.train.data import LMData, load_lm_data, resolve_data_config
from rnnkit.train.task import Task, resumed_config


class LMTask(Task):
    """Train an ``RNNLanguageModel`` on a corpus (see ``rnnkit.train.task.Task``).

    Args:
        config: the run's configuration.
        data: encoded splits; read from ``config.data`` when ``None``.
        vocab: the vocabulary of a resumed run; the data must give it again.
        same_vocab: with ``vocab``, the training text is new (``--data`` changed on resume) and
            must build that very vocabulary.
    """

    kind = "lm"
    what = "language model"
    config_cls = TrainConfig
    metric = "valid_loss"
    higher_is_better = False
    unit = "tokens"

    def __init__(
        self,
        config: TrainConfig,
        data: LMData | None = None,
        vocab: Vocab | None = None,
        same_vocab: bool = False,
    ):
        self.config = resolve_data_config(config)
        self.data, self._vocab, self._same_vocab = data, vocab, same_vocab
        self._batches: dict[tuple[int, int], LMBatches] = {}

    @property
    def carries_state(self) -> bool:
        return self.config.sampling == "sequential"

    def load(self, echo) -> None:
        if self.data is not None:
            return
        try:
            self.data = load_lm_data(self.config, vocab=self._vocab, same_vocab=self._same_vocab)
        except VocabError as e:
            if self._vocab is None:
                raise
            raise RunDirError(
                f"{self.config.data} gives another vocabulary than the one the run was trained "
                "with; resume with the original --data or start a new run"
            ) from e

    def build_model(self) -> RNNLanguageModel:
        return RNNLanguageModel(lm_config(self.config, len(self.data.vocab)))

    def _stream(self, rank: int, world: int) -> LMBatches:
        key = (rank, world)
        if key not in self._batches:
            c = self.config
            self._batches[key] = LMBatches(
                self.data.train, c.batch_size, c.seq_len, c.sampling, c.seed, rank, world
            )
        return self._batches[key]

    def num_batches(self, epoch: int) -> int:
        return self._stream(0, 1).num_batches(epoch)

    def batches(self, epoch: int, start: int, rank: int, world: int):
        return self._stream(rank, world).epoch(epoch, start)

    def loss(self, model, batch, state):
        x, y = batch  # (N, T) each
        _, loss, state = model(x, y, state)
        return loss, y.numel(), state

    def has_valid(self) -> bool:
        return self.data.valid is not None

    def evaluate(self, model, dist, autocast) -> dict[str, float]:
        device = next(model.parameters()).device
        c = self.config
        loss = evaluate_loss(
            model, self.data.valid, c.eval_batch_size, c.seq_len, device, dist, autocast
        )
        return {"valid_loss": loss, "valid_ppl": math.exp(min(loss, 50))}

    def describe(self, result: dict[str, float]) -> str:
        loss = result["valid_loss"]
        return f"valid loss {loss:.4f}, ppl {math.exp(min(loss, 700)):.3f}"

    def train_row(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": math.exp(min(mean_loss, 50))}

    def write_files(self, run: Path) -> None:
        self.data.vocab.save(RunDir(run).vocab_path)

    def model_config(self) -> dict:
        return asdict(lm_config(self.config, len(self.data.vocab)))

    def signature(self) -> dict:
        return {"vocab_size": len(self.data.vocab)}

    def title(self) -> str:
        from rnnkit.poetry.run import poem_corpus_name

        # A poem run trains on the folder it wrote its corpus to: name the poems instead.
        data = poem_corpus_name(self.config.data) or Path(self.config.data).name
        return f"{self.config.model} on {data}"


def resumed_task(run: RunDir, overrides: dict) -> LMTask:
    """The task of the language-model run in ``run`` with ``overrides`` applied."""
    if run_file(run.path) is None:
        run.check(resumable=True)  # says what is missing
    config, changed = resumed_config(run.load_config(), overrides, RESUMABLE)
    if not run.vocab_path.exists():
        run.check(resumable=True)
    return LMTask(config, vocab=run.load_vocab(), same_vocab="data" in changed)
