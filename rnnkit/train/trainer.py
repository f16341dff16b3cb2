"""The one trainer: every task trains here, and the loop does not know which task it runs
(``rnnkit.train.task`` says what a task brings and what the trainer owns)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from rnnkit.config import LoopConfig
from rnnkit.errors import RnnkitWarning, RunDirError, TrainingError, first_line
from rnnkit.integrity import stored_digest
from rnnkit.io import storage_error
from rnnkit.nn.recurrent import detach_state, map_state
from rnnkit.progress import progress_bar
from rnnkit.registry.runs import RUN_KINDS, write_run
from rnnkit.train import distributed
from rnnkit.train.budgets import bar_total, describe_limits, resumed_budgets, stop_message
from rnnkit.train.checkpoint import RunDir, load_weights, save_state, save_weights
from rnnkit.train.metrics import MetricsLog, plot_curves
from rnnkit.train.precision import Precision
from rnnkit.train.task import Task, resumed_task, summary_history

# Where the trainer is in its run, kept under these names in trainer_state.pt (with best_valid).
_POSITION = ("step", "epoch", "batch_in_epoch", "bad_evals", "last_eval_step", "elapsed")


def build_optimizer(config: LoopConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params, lr, wd = model.parameters(), config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


class Trainer:
    """Trains the model of a ``Task`` and keeps its run directory up to date.

    Under ``torchrun`` (several processes) the model is wrapped in ``DistributedDataParallel``:
    every rank trains on its rows of each global batch, losses and evaluations are averaged
    over ranks, and only rank 0 writes files, progress and messages.

    Args:
        task: what to train (its config is already resolved).
        out: run directory to write.
        echo: where progress lines go (evaluations, early stop); ``None`` silences them.
        progress: show a tqdm bar.
        command: the training command, for the line that says how to continue the run
            (default: the one that trains the task's kind of run).
    """

    def __init__(
        self,
        task: Task,
        out: str | Path,
        echo: Callable[[str], None] | None = print,
        progress: bool = True,
        command: str | None = None,
    ):
        config = task.config
        self.task, self.config, self.run = task, config, RunDir(out)
        self.command = command or RUN_KINDS[task.kind].trained_by.split(" or ")[0].strip("`")
        self.dist = dist = distributed.setup(config.device)
        self.echo = (echo or (lambda s: None)) if dist.is_main else (lambda s: None)
        self.progress = progress and dist.is_main
        torch.manual_seed(config.seed)
        self.device = distributed.device_for(config.device, dist)
        self.precision = Precision(config.precision, self.device)
        with dist.main_first():  # a download or cache fill happens once
            task.load(self.echo)
        self.model = task.build_model().to(self.device)
        if dist.rank > 0:
            # Same initial weights on every rank (same seed), then dropout masks of their own.
            torch.manual_seed(config.seed + 7919 * dist.rank)
        self._forward = self.model  # the model as trained: fit() wraps it in DDP, compiles it
        self.optimizer = build_optimizer(config, self.model)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="max" if task.higher_is_better else "min",
            factor=config.lr_decay,
            patience=config.plateau_patience,
        )
        # Position and history; all of it goes into trainer_state.pt.
        self.step = self.epoch = self.batch_in_epoch = 0
        self.best = -math.inf if task.higher_is_better else math.inf
        self.bad_evals = 0
        self.last_eval_step = -1
        self.elapsed = 0.0  # training seconds of the whole run (all invocations)
        self.state = None  # this rank's rows of the hidden state carried between batches
        self.metrics = MetricsLog(self.run.metrics_path)
        self._last_plot = -math.inf
        self._signal = 0  # SIGINT or SIGTERM received: checkpoint and stop after this step
        self._items = 0  # items trained on since the last evaluation (all ranks)
        self._loss_sum, self._loss_n = 0.0, 0  # training loss since the last evaluation
        self._eval_done = time.perf_counter()  # when the last evaluation ended

    # ---- one optimisation step -------------------------------------------------------------
    def train_step(self, batch, state=None):
        """Forward, backward, clip, update. Returns ``(loss, grad_norm, items, state)``: the
        loss as a float, ``items`` summed over all ranks.

        The returned state is detached and float32 whatever the precision, so it can be
        carried, saved and resumed in any mode.
        """
        self.optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss, items, state = self.task.loss(self._forward, batch, state)
        value = loss.item()  # the step's one host sync: checked here, logged by the loop
        total = items
        if not self.dist.enabled and not math.isfinite(value):
            # Before backward, so the weights in memory stay those of the last good step (under
            # torchrun every rank learns of it from the averaged loss after the step).
            self._nonfinite(value)
        if self.dist.enabled:
            # Each rank's loss is a mean over its own items; weigh it so that DDP's average of
            # the gradients is the gradient of the mean over the whole batch.
            total = round(self.dist.sum([float(items)])[0])
            if total != items * self.dist.world_size:
                weight = items * self.dist.world_size / max(total, 1)
                loss, value = loss * weight, value * weight
        norm = self.precision.backward_and_step(loss, self.model, self.optimizer, self.config.clip)
        return value, norm, total, map_state(torch.Tensor.float, detach_state(state))

    def _wrap_model(self) -> None:
        """DDP across ranks (gradients averaged in backward), then torch.compile if asked."""
        forward = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if self.config.compile:
            if getattr(self.config, "backend", "torch") == "scratch":
                warnings.warn(
                    "--compile unrolls the scratch backend's time loop: compiling takes minutes "
                    "and steps may get slower (see BENCHMARKS.md); the torch backend compiles "
                    "in seconds",
                    RnnkitWarning,
                    stacklevel=2,
                )
            forward = torch.compile(forward)
        self._forward = forward

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train until ``epochs``, ``max_steps``, the time budget or early stopping ends it.

        SIGINT (Ctrl-C) or SIGTERM while training finishes the current step, saves a checkpoint
        and returns with ``stop == "interrupted"`` and ``signal`` set; a second signal stops at
        once (``KeyboardInterrupt``), the checkpoint on disk intact.

        Returns: the history (``history()``), with ``signal`` when a signal stopped it.
        """
        c = self.config
        if self.dist.is_main:
            try:
                self.run.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise storage_error(self.run.path, e) from e
            self.task.write_files(self.run.path)
            self._write_run({"metric": self.task.metric})
        self._wrap_model()
        if self.step == 0 and self.task.eval_at_start and self.task.has_valid():
            self._evaluate(scheduled=False)  # the start is a candidate for the best weights
        total = min(c.epochs * self.task.num_batches(self.epoch), c.max_steps or math.inf)
        bar = progress_bar(total, initial=min(self.step, total), enabled=self.progress, unit="step")
        try:
            with self._catch_signals():
                stop = self._loop(bar, total)
        except Exception as e:
            # an error of torch.compile's tracing or code generation
            compiling = (type(e).__module__ or "").startswith(("torch._dynamo", "torch._inductor"))
            if self.config.compile and compiling:
                raise TrainingError(
                    f"torch.compile failed here ({first_line(e)}); train without --compile"
                ) from e
            raise
        finally:
            bar.close()  # so an error message starts on a line of its own
        reason = stop or "epochs"
        # No final evaluation nor plot when the user asked to stop.
        if reason != "interrupted" and self.last_eval_step != self.step:
            self._evaluate(scheduled=False)
        self._save_checkpoint()
        history = self.history(reason)
        self._write_run(summary_history(history))
        if reason == "interrupted":
            history["signal"] = self._signal or signal.SIGTERM
            return history
        self._plot()
        best = history["best"]
        best = "" if best is None else f"; best {self.task.describe({self.task.metric: best})}"
        self.echo(stop_message(reason, self.step, self.config, self.run.path, self.command, best))
        return history

    def history(self, stop: str) -> dict:
        """What the run did: every evaluation (from metrics.jsonl, so a resumed run's too), the
        best value of the task's metric and where it was reached, steps, time, why it stopped."""
        return {
            "metric": self.task.metric,
            **self.run.best_evaluation(self.task.metric, self.best),
            "steps": self.step,
            "epochs": self.epoch,
            "seconds": self.elapsed,
            "stop": stop,
        }

    def _loop(self, bar, step_limit: int) -> str | None:
        """The epochs and steps up to ``step_limit`` (set by the epochs and --max-steps);
        returns why training stopped early, or None."""
        c, task, dist = self.config, self.task, self.dist
        start_time = time.perf_counter() - self.elapsed
        # --max-minutes counts the training time of this invocation, from here.
        elapsed_before, first_step = self.elapsed, self.step
        self._eval_done = time.perf_counter()
        window_loss, window_n, window_items, window_t0 = 0.0, 0, 0, time.perf_counter()
        stop = None
        for epoch in range(self.epoch, c.epochs):
            batches = task.batches(epoch, self.batch_in_epoch, dist.rank, dist.world_size)
            for batch in batches:
                batch = task.to_device(batch, self.device)
                state = self.state if task.carries_state else None
                loss, norm, items, self.state = self.train_step(batch, state)
                self.step += 1
                self.batch_in_epoch += 1
                self.elapsed = time.perf_counter() - start_time
                # The mean over ranks: every rank logs, stops and schedules on the same values.
                loss_value, self.elapsed, signalled = dist.mean(
                    [loss, self.elapsed, float(self._signal)]
                )
                window_loss += loss_value
                window_n += 1
                self._loss_sum += loss_value
                self._loss_n += 1
                window_items += items
                self._items += items
                bar.update(1)
                seconds = self.elapsed - elapsed_before  # training time of this invocation
                if c.max_minutes:  # count to the step the time budget will end at
                    done = self.step - first_step
                    bar.total = bar_total(step_limit, c, self.step, done, seconds)
                if not math.isfinite(window_loss):
                    self._nonfinite(loss_value)
                if self.step % c.log_every == 0:
                    dt = max(time.perf_counter() - window_t0, 1e-9)
                    mean = window_loss / window_n
                    row = {
                        "kind": "train",
                        "step": self.step,
                        "epoch": self.epoch,
                        "train_loss": mean,
                        **task.train_row(mean),
                        "grad_norm": float(norm),
                        "lr": self._lr(),
                        f"{task.unit}_per_s": window_items / dt,
                    }
                    self._write_metrics(row)
                    bar.set_postfix(loss=f"{mean:.3f}", **{task.unit: f"{window_items / dt:.0f}/s"})
                    window_loss, window_n, window_items = 0.0, 0, 0
                    window_t0 = time.perf_counter()
                if c.eval_every and self.step % c.eval_every == 0:
                    stop = self._evaluate(scheduled=True)
                    window_t0 = time.perf_counter()  # items/s counts training time only
                if c.max_steps and self.step >= c.max_steps:
                    stop = stop or "max_steps"
                if c.max_minutes and seconds >= 60 * c.max_minutes:
                    stop = stop or "time budget"
                if signalled:
                    stop = "interrupted"
                if stop:
                    return stop
            # The epoch ran to its end.
            self.epoch = epoch + 1
            self.batch_in_epoch = 0
            self.state = None
            if self.last_eval_step != self.step:
                stop = self._evaluate(scheduled=True)
                window_t0 = time.perf_counter()
            if c.lr_schedule == "exponential":
                # Epoch e (0-based) runs at lr * decay ** max(0, e + 1 - decay_start).
                for g in self.optimizer.param_groups:
                    g["lr"] = c.lr * c.lr_decay ** max(0, self.epoch + 1 - c.decay_start)
            if stop:
                break
        return stop

    # ---- evaluation and checkpoints ----------------------------------------------------------
    def _evaluate(self, scheduled: bool) -> str | None:
        """Evaluate on valid; save best/last. Only scheduled evaluations drive the plateau
        schedule and early stopping, so a run stopped and resumed matches one run straight."""
        seconds = time.perf_counter() - self._eval_done  # training since the last evaluation
        self.last_eval_step = self.step
        result, improved = {}, False
        if self.task.has_valid():
            result = self.task.evaluate(self.model, self.dist, self.precision.autocast)
            self.model.train()  # evaluation may leave the model in eval mode
            value = result[self.task.metric]
            if not math.isfinite(value):
                self._nonfinite(value)
            improved = value > self.best if self.task.higher_is_better else value < self.best
        if improved:
            self.best = value
            if self.dist.is_main:
                save_weights(self.model, self.run.best_path)
        stop = None
        if scheduled and result:
            if self.config.lr_schedule == "plateau":
                self.scheduler.step(value)
            self.bad_evals = 0 if improved else self.bad_evals + 1
            if self.config.patience and self.bad_evals >= self.config.patience:
                stop = "early stopping"
        items, self._items = self._items, 0
        train_loss = self._loss_sum / self._loss_n if self._loss_n else None
        self._loss_sum, self._loss_n = 0.0, 0
        self._write_metrics(
            {
                "kind": "eval",
                "step": self.step,
                "epoch": self.epoch,
                "train_loss": train_loss,
                **result,
                "lr": self._lr(),
                "elapsed_s": self.elapsed,
                f"train_{self.task.unit}_per_s": items / seconds if seconds > 0 else None,
            }
        )
        mark = " (best)" if improved else ""
        if result:
            self.echo(f"step {self.step} epoch {self.epoch}: {self.task.describe(result)}{mark}")
        elif train_loss is not None:
            self.echo(f"step {self.step} epoch {self.epoch}: train loss {train_loss:.5g}")
        self._save_checkpoint()
        if time.perf_counter() - self._last_plot > 60:  # a plot costs about a second
            self._plot()
        self._eval_done = time.perf_counter()
        return stop

    @contextlib.contextmanager
    def _catch_signals(self):
        """SIGINT and SIGTERM set a flag the loop reads after each step (main thread only:
        Python delivers signals there)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._signal:
                raise KeyboardInterrupt  # asked twice: stop now
            self._signal = signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _write_run(self, history: dict) -> None:
        doc = self.task.run_doc(history)
        if doc is not None and self.dist.is_main:
            write_run(self.run.path, doc)

    def _write_metrics(self, row: dict) -> None:
        if self.dist.is_main:
            self.metrics.write(row)

    def _save_checkpoint(self) -> None:
        """Commit weights and trainer state as one checkpoint (see ``checkpoint``'s docstring:
        next weights, then the state naming them, then the rename). The state is that of all
        ranks: the global hidden state (layers, batch, hidden) in rank order, and every rank's
        torch RNG, which every rank takes part in gathering."""
        hidden = self.dist.gather_rows(self.state)
        rngs = self.dist.stack(torch.get_rng_state())  # (ranks, bytes)
        if not self.dist.is_main:
            return
        state = {
            **{name: getattr(self, name) for name in _POSITION},
            "best_valid": self.best,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng_torch_ranks": [r.clone() for r in rngs],
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "hidden": list(hidden) if isinstance(hidden, tuple) else hidden,
            "world_size": self.dist.world_size,
            "grad_scaler": self.precision.state_dict(),
            "task": self.task.state_dict(),
            **self.task.signature(),
        }
        state["weights_sha256"] = save_weights(self.model, self.run.next_path)
        if not self.task.has_valid() or not self.run.best_path.exists():
            # Without a validation split the latest weights are the best we know.
            save_weights(self.model, self.run.best_path)
        save_state(state, self.run.state_path)
        os.replace(self.run.next_path, self.run.last_path)

    def load_state_dict(self, s: dict) -> None:
        for key, value in self.task.signature().items():
            if s.get(key) != value:
                raise RunDirError(
                    f"trainer_state.pt does not match the run's files ({key} {s.get(key)!r}, "
                    f"expected {value!r}); the run is damaged"
                )
        for name in _POSITION:
            setattr(self, name, s[name])
        self.best = s["best_valid"]
        self.optimizer.load_state_dict(s["optimizer"])
        self.scheduler.load_state_dict(s["scheduler"])
        self.precision.load_state_dict(s.get("grad_scaler") or {})
        self.task.load_state_dict(s.get("task") or {})
        # Each rank's RNG back when the rank count is unchanged; otherwise rank 0 takes the
        # saved one and the others draw fresh seeds (dropout masks then differ from the run
        # that was stopped, as they must with another split of the batch).
        ranks = s.get("rng_torch_ranks") or [s["rng_torch"]]  # older runs keep one state
        if len(ranks) == self.dist.world_size:
            torch.set_rng_state(ranks[self.dist.rank])
        elif self.dist.is_main:
            torch.set_rng_state(ranks[0])
        else:
            torch.manual_seed(self.config.seed + 7919 * self.dist.rank + 104729 * self.step)
        if s["rng_cuda"] and torch.cuda.is_available() and self.dist.is_main:
            torch.cuda.set_rng_state_all(s["rng_cuda"])
        hidden = tuple(s["hidden"]) if isinstance(s["hidden"], list) else s["hidden"]
        hidden = map_state(lambda h: h.to(self.device), hidden)
        # Saved whole (all ranks' rows), so any number of ranks takes its own rows back.
        self.state = self.dist.own_rows(hidden, self.config.batch_size)
        if self.dist.is_main:
            self.metrics.truncate_after(self.step)

    def _plot(self) -> None:
        self._last_plot = time.perf_counter()
        if self.dist.is_main:
            run, task = self.run, self.task
            plot_curves(run.read_metrics(), run.curves_path, task.title(), task.metric)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _nonfinite(self, value: float) -> None:
        kept = (
            f"the last good checkpoint is kept in {self.run.path}"
            if self.run.last_path.exists()
            else "no checkpoint had been written yet"
        )
        raise TrainingError(
            f"loss became {value} at step {self.step}; training stopped and {kept}; "
            f"lower --lr (now {self._lr():g}) or set --clip (now {self.config.clip:g})"
        )


def fit_or_stop(trainer: Trainer) -> dict:
    """``trainer.fit()`` for programs that train as one step among others (``train_run``, the
    benchmarks): a SIGINT or SIGTERM that stopped training (after its checkpoint) goes on as
    ``KeyboardInterrupt``, so the program stops as it would have without the trainer."""
    history = trainer.fit()
    if history.get("signal"):
        raise KeyboardInterrupt(f"training stopped by signal {history['signal']}")
    return history


def resume_trainer(
    run_dir: str | Path,
    overrides: dict,
    out: str | Path | None = None,
    echo=print,
    progress=True,
    command: str | None = None,
) -> Trainer:
    """A trainer that continues ``run_dir`` exactly where its last checkpoint left it.

    The run's kind picks its task (``rnnkit.train.task.resumed_task``), which reads the saved
    config and vocabularies back. The budgets are those of
    ``rnnkit.train.budgets.resumed_budgets``; the first line echoed says them.

    Args:
        overrides: config fields given on the command line; only ``RESUMABLE`` ones may differ.
        out: where to keep writing (default: ``run_dir`` itself).
        command: the training command (see ``Trainer``).
    """
    run = RunDir(run_dir)
    if not run.path.is_dir():
        run.check(resumable=True)  # says the folder is missing
    task = resumed_task(run, overrides)
    dist = distributed.setup(task.config.device)
    if dist.is_main:
        run.recover()  # a checkpoint cut short by a crash is finished or undone
    dist.barrier()
    missing = [p.name for p in (run.last_path, run.state_path) if not p.exists()]
    if missing:
        raise RunDirError(
            f"{run.path} has no checkpoint to resume (missing {', '.join(missing)}); "
            "start a new run with --out"
        )
    target = Path(out) if out else run.path
    if target != run.path and dist.is_main:
        target.mkdir(parents=True, exist_ok=True)
        for p in (run.metrics_path, run.best_path):
            if p.exists():
                shutil.copy2(p, target / p.name)
    trainer = Trainer(task, target, echo=echo, progress=progress, command=command)
    state = run.load_state()
    want = state.get("weights_sha256")
    if want is not None and stored_digest(run.last_path) != want:
        raise RunDirError(
            f"{run.last_path} and {run.state_path.name} come from different checkpoints; the run "
            "was changed by hand or copied in parts: restore both from one copy"
        )
    load_weights(trainer.model, run.last_path, trainer.device)
    trainer.load_state_dict(state)
    budgets = resumed_budgets(task.config, overrides, trainer.step, trainer.epoch)
    task.config = trainer.config = task.config.replace(**budgets.changes)
    notes = "".join(f"; {n}" for n in budgets.notes)
    trainer.echo(
        f"resuming {run.path} at step {trainer.step} (epoch {trainer.epoch}): training "
        f"{describe_limits(trainer.config)}{notes}"
    )
    return trainer
