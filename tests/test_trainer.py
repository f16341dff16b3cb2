import json
import math

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError, RunDirError, TrainingError
from rnnkit.train.checkpoint import RunDir
from rnnkit.train.lm_task import LMTask
from rnnkit.train.trainer import Trainer, resume_trainer
from tests.conftest import tiny_lm_config, train_losses

TEXT = "".join(f"the quick brown fox {i % 7} jumps over the lazy dog\n" for i in range(300))


def config(tmp_path, **kw):
    return tiny_lm_config(tmp_path, TEXT, **kw)


def test_same_seed_same_losses_different_seed_differs(tmp_path):
    a = Trainer(LMTask(config(tmp_path)), tmp_path / "a", echo=None, progress=False)
    a.fit()
    b = Trainer(LMTask(config(tmp_path)), tmp_path / "b", echo=None, progress=False)
    b.fit()
    c = Trainer(LMTask(config(tmp_path, seed=1)), tmp_path / "c", echo=None, progress=False)
    c.fit()
    assert train_losses(tmp_path / "a") == train_losses(tmp_path / "b")
    assert train_losses(tmp_path / "a") != train_losses(tmp_path / "c")


@pytest.mark.parametrize("sampling", ["sequential", "random"])
def test_resume_matches_uninterrupted_run(tmp_path, sampling):
    kw = dict(sampling=sampling, dropout=0.3, num_layers=2, eval_every=5)
    Trainer(
        LMTask(config(tmp_path, max_steps=20, **kw)), tmp_path / "full", echo=None, progress=False
    ).fit()
    Trainer(
        LMTask(config(tmp_path, max_steps=9, **kw)), tmp_path / "half", echo=None, progress=False
    ).fit()
    resume_trainer(tmp_path / "half", {"max_steps": 20}, echo=None, progress=False).fit()
    full, half = (
        load_file(tmp_path / "full/last.safetensors"),
        load_file(tmp_path / "half/last.safetensors"),
    )
    assert all(torch.equal(full[k], half[k]) for k in full)
    assert train_losses(tmp_path / "full") == train_losses(tmp_path / "half")


def test_resume_refuses_changed_model(tmp_path):
    Trainer(LMTask(config(tmp_path, max_steps=2)), tmp_path / "r", echo=None, progress=False).fit()
    with pytest.raises(RunDirError, match="--hidden-size"):
        resume_trainer(tmp_path / "r", {"hidden_size": 32, "max_steps": 4}, echo=None)
    with pytest.raises(RunDirError, match="not a complete run"):
        resume_trainer(tmp_path, {}, echo=None)


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path):
    cfg = config(tmp_path, max_steps=6, eval_every=2)
    trainer = Trainer(LMTask(cfg), tmp_path / "r", echo=None, progress=False)
    real_step = trainer.train_step

    def poisoned(batch, state=None):
        loss, norm, items, state = real_step(batch, state)
        return (loss * math.nan if trainer.step >= 3 else loss), norm, items, state

    trainer.train_step = poisoned
    with pytest.raises(TrainingError, match="lower --lr"):
        trainer.fit()
    run = RunDir(tmp_path / "r")
    assert run.load_state()["step"] == 2  # the good checkpoint from step 2 is intact
    assert all(torch.isfinite(t).all() for t in load_file(run.last_path).values())


def test_exponential_schedule_halves_after_decay_start(tmp_path):
    cfg = config(
        tmp_path,
        optimizer="sgd",
        lr=1.0,
        lr_schedule="exponential",
        lr_decay=0.5,
        decay_start=2,
        epochs=4,
        max_steps=0,
        seq_len=50,
        batch_size=8,
    )
    t = Trainer(LMTask(cfg), tmp_path / "r", echo=None, progress=False)
    t.fit()
    rows = [json.loads(x) for x in (tmp_path / "r/metrics.jsonl").read_text().splitlines()]
    lr_by_epoch = {r["epoch"]: r["lr"] for r in rows if r["kind"] == "train"}
    assert lr_by_epoch == {0: 1.0, 1: 1.0, 2: 0.5, 3: 0.25}


def test_early_stopping(tmp_path):
    """A model that stops improving stops after ``patience`` evaluations without a better
    validation loss: with a learning rate too small to move a float32 weight, every evaluation
    after the first ties it, and a tie is no improvement."""
    cfg = config(
        tmp_path, lr=1e-12, optimizer="sgd", clip=0, eval_every=1, patience=2, max_steps=100
    )
    result = Trainer(LMTask(cfg), tmp_path / "r", echo=None, progress=False).fit()
    assert result["stop"] == "early stopping"
    assert result["steps"] == 3  # the best at step 1, then two evaluations without a gain
    losses = [r["valid_loss"] for r in result["evaluations"]]
    assert len(losses) == 3 and losses[1:] == [losses[0]] * 2


def test_clipping_bounds_the_update(tmp_path):
    t = Trainer(LMTask(config(tmp_path, clip=1e-3)), tmp_path / "r", echo=None, progress=False)
    batch = next(t.task.batches(0, 0, 0, 1))
    _, norm, _, _ = t.train_step(batch)
    clipped = torch.nn.utils.get_total_norm([p.grad for p in t.model.parameters()])
    assert norm > 1e-3 and clipped <= 1e-3 * 1.01


def test_config_validation_messages():
    with pytest.raises(ConfigError, match="--seq-len must be > 0"):
        TrainConfig(seq_len=0)
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ConfigError, match="must be int"):
        TrainConfig.from_dict({"hidden_size": "big"})


def test_fit_or_stop_passes_a_signal_on(tmp_path):
    """A program that trains as one step (train_run, a benchmark) stops on SIGTERM too."""
    import os
    import signal

    from rnnkit.train.trainer import fit_or_stop

    trainer = Trainer(LMTask(config(tmp_path, max_steps=50)), tmp_path / "r", echo=None)
    real_step = trainer.train_step

    def step_then_signal(batch, state=None):
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # caught by the trainer: stop after this step
        return real_step(batch, state)

    trainer.train_step = step_then_signal
    with pytest.raises(KeyboardInterrupt, match="signal"):
        fit_or_stop(trainer)
    assert RunDir(tmp_path / "r").load_state()["step"] == 3  # the checkpoint came first
