"""The flags every training command shares, made from the configs so that each default is
written once (in the config class) and each name means the same thing everywhere."""

from __future__ import annotations

import signal
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import click
from click.core import ParameterSource

from rnnkit.bounds import flag
from rnnkit.commands.common import DEVICE, echo_above_progress, refuse_other_run
from rnnkit.config import BACKEND_NAMES, OPTIMIZERS, SCHEDULES, LoopConfig, load_yaml
from rnnkit.errors import ConfigError, RunDirError

# field -> (help, click type or None for the field's own type)
LOOP_HELP: dict[str, tuple[str, object]] = {
    "batch_size": ("Examples per batch (the global batch under torchrun).", int),
    "optimizer": ("Optimizer.", click.Choice(OPTIMIZERS)),
    "lr": ("Learning rate.", float),
    "momentum": ("SGD momentum.", float),
    "weight_decay": ("Weight decay.", float),
    "clip": ("Clip the global gradient norm to this value; 0 disables.", float),
    "lr_schedule": (
        "plateau: multiply by --lr-decay when validation stops improving; exponential: every "
        "epoch after --decay-start; constant.",
        click.Choice(SCHEDULES),
    ),
    "lr_decay": ("Learning-rate decay factor.", float),
    "decay_start": ("Epochs at the initial rate before exponential decay.", int),
    "plateau_patience": ("Evaluations without improvement before a plateau decay.", int),
    "epochs": ("Passes over the training data, counted over the whole run.", int),
    "max_steps": (
        "Stop at this step, counted over the whole run (also on --resume); 0 = no limit.",
        int,
    ),
    "max_minutes": (
        "Stop after this many minutes of training in this invocation (on --resume too; an "
        "earlier run's budget is not carried over); 0 = no limit.",
        float,
    ),
    "patience": ("Early stopping: evaluations without improvement; 0 = off.", int),
    "eval_every": ("Evaluate every N steps; 0 = at each epoch end only.", int),
    "log_every": ("Write a metrics row every N steps.", int),
    "seed": ("Random seed (same seed and config on CPU give identical runs).", int),
    "device": ("auto picks CUDA when present, else CPU.", DEVICE),
    "precision": (
        "Autocast precision: fp32; bf16 (CPU or CUDA); fp16 (CUDA, with a gradient scaler). "
        "Weights and checkpoints stay float32.",
        click.Choice(["fp32", "bf16", "fp16"]),
    ),
    "compile": ("torch.compile the model for training (the first steps compile it).", None),
}


def default_of(config_cls: type[LoopConfig], name: str):
    f = next(f for f in fields(config_cls) if f.name == name)
    return f.default if f.default is not MISSING else f.default_factory()


def field_option(config_cls: type[LoopConfig], name: str, text: str, kind=None, off=None):
    """A click option for the field ``name`` of ``config_cls``, its default read from there
    (a boolean field becomes a ``--name/--no-name`` pair, or ``--name/OFF`` given ``off``)."""
    default = default_of(config_cls, name)
    opt = flag(name)
    if isinstance(default, bool):
        opt, kind = f"{opt}/{off or '--no-' + opt[2:]}", None
    return click.option(opt, name, type=kind, default=default, show_default=True, help=text)


def loop_options(config_cls: type[LoopConfig]):
    """Click options for the ``LoopConfig`` fields, defaults read from ``config_cls``."""
    return apply_options(
        [field_option(config_cls, name, text, kind) for name, (text, kind) in LOOP_HELP.items()]
    )


# field -> (help, the flag's older name, now refused)
SIZES = {
    "embed_size": ("Embedding size.", "--embed"),
    "hidden_size": ("Hidden units per layer (and direction).", "--hidden"),
    "num_layers": ("Stacked recurrent layers.", "--layers"),
}


def backend_option(config_cls: type[LoopConfig]):
    """``--backend torch|scratch``, its default read from ``config_cls``."""
    text = "Recurrent layer implementation: torch (fused kernels) or scratch (the equations)."
    return field_option(config_cls, "backend", text, click.Choice(BACKEND_NAMES))


def size_options(config_cls: type[LoopConfig]):
    """``--embed-size``, ``--hidden-size`` and ``--num-layers`` (those ``config_cls`` has), as
    torch.nn names them, defaults from ``config_cls``; the older short names are refused."""
    names = {f.name for f in fields(config_cls)}
    sizes = [name for name in SIZES if name in names]
    options = [field_option(config_cls, n, SIZES[n][0], int) for n in sizes]
    return apply_options(options + [_refused(SIZES[n][1], flag(n)) for n in sizes])


def _refused(old: str, new: str):
    """A hidden option that stops with a one-line usage error naming the flag to use."""

    def refuse(ctx, param, value):
        if value is not None:
            raise click.UsageError(f"{old} is now {new}: write {new} {value}", ctx)
        return value

    return click.option(
        old, "_" + old[2:], hidden=True, expose_value=False, callback=refuse, is_eager=True
    )


def run_options(what: str):
    """--out, --resume, --config, --overwrite and --quiet of a training command, which is
    passed its context (``train_task`` reads them from there)."""
    return apply_options(
        [
            click.option(
                "--out",
                type=click.Path(file_okay=False),
                default=None,
                help="Run directory to write [required unless --resume].",
            ),
            click.option(
                "--resume",
                type=click.Path(),
                default=None,
                help=f"Continue the {what} in this directory exactly where it stopped.",
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(),
                default=None,
                help="YAML file of config fields; flags given on the command line win.",
            ),
            click.option("--overwrite", is_flag=True, help="Replace a run already in --out."),
            click.option("--quiet", is_flag=True, help="No progress bar or evaluation lines."),
            click.pass_context,
        ]
    )


def apply_options(options):
    def decorate(f):
        for opt in reversed(options):
            f = opt(f)
        return f

    return decorate


def given_options(ctx: click.Context, names) -> dict:
    """Options the user typed (or set through the environment), not defaults."""
    explicit = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {n: ctx.params[n] for n in names if ctx.get_parameter_source(n) in explicit}


def train_task(ctx, task_cls, fields: dict, fill=None, prepare=None):
    """Run the one ``Trainer`` on a task from a training command's options (``run_options``
    are read from ``ctx``).

    Args:
        task_cls: the task class; ``task_cls.config_cls`` builds the config, ``kind``,
            ``config_name`` and ``what`` name the run in messages.
        fields: the command's config options; only those given on the command line override
            the ``--config`` file and the config's defaults.
        fill: a function of the given fields returning them completed (e.g. a default data
            source when none was named).
        prepare: a function of ``(config, dist)`` run on a new run once --out is checked,
            before training (e.g. to write the corpus it trains on).

    Returns: the trainer's history.
    """
    from rnnkit.train import distributed
    from rnnkit.train.trainer import Trainer, resume_trainer

    p = ctx.params
    out, resume, config_file, quiet = p["out"], p["resume"], p["config_file"], p["quiet"]
    given = given_options(ctx, fields)
    echo = None if quiet else echo_above_progress
    try:
        if resume:
            trainer = resume_trainer(
                resume, given, out=out, echo=echo, progress=not quiet, command=ctx.command_path
            )
        else:
            if out is None:
                raise ConfigError("--out is required: the run directory to write")
            config = build_config(task_cls.config_cls, config_file, given, fill)
            dist = distributed.setup(config.device)
            check_out(Path(out), task_cls, p["overwrite"], clear=dist.is_main)
            if prepare is not None:
                prepare(config, dist)
            trainer = Trainer(
                task_cls(config), out, echo=echo, progress=not quiet, command=ctx.command_path
            )
        history = trainer.fit()
        signum = history.get("signal")
        if signum:  # SIGINT/SIGTERM stopped it after a checkpoint: exit as a shell reports it
            if trainer.dist.is_main:
                run = trainer.run.path
                click.echo(
                    f"{signal.Signals(signum).name} at step {history['steps']}: checkpoint saved "
                    f"in {run}; continue with `{ctx.command_path} --resume {run}`",
                    err=True,
                )
            sys.exit(128 + signum)
        return history
    finally:
        distributed.teardown()


def build_config(config_cls, config_file, given: dict, fill=None):
    """The config from its defaults < the ``--config`` YAML file < the flags given."""
    base = load_yaml(config_file) if config_file else {}
    if not isinstance(base, dict):
        raise ConfigError(f"{config_file} must be a mapping of field: value")
    values = {**base, **given}
    if fill is not None:
        values = fill(values)
    return config_cls.from_dict(values, source=config_file or "flags")


def check_out(out: Path, task_cls, overwrite: bool, clear: bool = True) -> None:
    """Refuse to write over a run unless ``overwrite``; then ``clear`` its old checkpoints
    (rank 0 alone does, under torchrun)."""
    from rnnkit.registry.runs import has_run

    refuse_other_run(out, task_cls.kind, task_cls.what)
    if has_run(out) and not overwrite:
        raise RunDirError(
            f"{out} already holds a run; continue it with --resume {out}, pick another --out, "
            "or pass --overwrite"
        )
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file; give a directory")
    if overwrite and clear:
        from rnnkit.train.checkpoint import RunDir

        run = RunDir(out)
        for path in (run.metrics_path, run.best_path, run.last_path, run.next_path):
            path.unlink(missing_ok=True)
        run.state_path.unlink(missing_ok=True)
