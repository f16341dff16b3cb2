"""The ``rnnkit`` command line. Every command has ``--help``; bad input exits with code 2."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

import click

from rnnkit.commands.classify import classify as classify_group
from rnnkit.commands.classify import tag as tag_group
from rnnkit.commands.common import (
    DEVICE,
    echo_above_progress,
    finish_training,
    refuse_other_kind,
)
from rnnkit.commands.data import data as data_group
from rnnkit.commands.diagnostics import grad_flow
from rnnkit.commands.export import export as export_command
from rnnkit.commands.forecast import forecast as forecast_group
from rnnkit.commands.info import info as info_command
from rnnkit.commands.ngram import ngram as ngram_group
from rnnkit.commands.ngram import print_eval as ngram_eval
from rnnkit.commands.ngram import score_ngram_lines
from rnnkit.commands.options import (
    apply_options,
    check_out,
    given_options,
    loop_options,
    run_options,
    train_task,
)
from rnnkit.commands.poem import CORPUS_FORMS, PRESETS, prepare_corpus
from rnnkit.commands.poem import poem as poem_group
from rnnkit.commands.seq2seq import seq2seq as seq2seq_group
from rnnkit.commands.seq2seq import translate as translate_command
from rnnkit.commands.serve import serve as serve_command
from rnnkit.config import TrainConfig, load_yaml
from rnnkit.errors import ConfigError, RnnkitError, RnnkitWarning, RunDirError
from rnnkit.nn.recurrent import BACKENDS
from rnnkit.poetry.run import POEM_META
from rnnkit.runtime import tune_allocator

DEFAULTS = TrainConfig()
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _opt(field: str, help: str, type=None, flag: str | None = None):
    """A click option for a TrainConfig field, its default taken from the dataclass."""
    flag = flag or "--" + field.replace("_", "-")
    return click.option(
        flag, field, type=type, default=getattr(DEFAULTS, field), show_default=True, help=help
    )


TRAIN_OPTIONS = [
    _opt(
        "data",
        "Registered dataset name (see `rnnkit data list`) or path to a UTF-8 text file "
        "(90/10 train/valid split) or a folder with train.txt/valid.txt/test.txt, or a "
        "folder made by `rnnkit data prepare` (ids memory-mapped; its tokenizer and vocab).",
    ),
    _opt(
        "tokenizer",
        "Tokenizer [default: the dataset's own; char for files].",
        click.Choice(["char", "word", "chinese-char"]),
    ),
    click.option(
        "--lowercase/--no-lowercase",
        "lowercase",
        default=DEFAULTS.lowercase,
        show_default=True,
        help="Lower-case text before the word tokenizer.",
    ),
    _opt("min_freq", "Tokens seen fewer times map to <unk>.", int),
    _opt("max_vocab", "Largest vocabulary, reserved tokens included [default: no limit].", int),
    _opt(
        "model",
        "Recurrent cell; lnlstm is the layer-normalised LSTM (scratch backend).",
        click.Choice(["rnn", "lstm", "gru", "lnlstm"]),
    ),
    _opt("embed_size", "Embedding size [default: = hidden size]; 0 feeds one-hot vectors.", int),
    _opt("hidden_size", "Hidden units per layer.", int),
    _opt("num_layers", "Stacked recurrent layers.", int),
    _opt("dropout", "Dropout on embeddings, between layers and before the decoder.", float),
    click.option(
        "--tie-weights/--no-tie-weights",
        "tie_weights",
        default=DEFAULTS.tie_weights,
        show_default=True,
        help="Share decoder and embedding weights.",
    ),
    _opt("init_range", "If > 0, initialise every weight from U(-r, r).", float),
    _opt("forget_bias", "LSTM: initial forget-gate bias (1.0 helps long memory).", float),
    click.option(
        "--locked-dropout/--no-locked-dropout",
        "locked_dropout",
        default=DEFAULTS.locked_dropout,
        show_default=True,
        help="One dropout mask per sequence, shared by all time steps (variational).",
    ),
    _opt("weight_drop", "DropConnect on the recurrent weights (AWD-LSTM style).", float),
    _opt(
        "backend",
        "Recurrent layer implementation: torch (fused kernels) or scratch (written from the "
        "equations, same weights).",
        click.Choice(sorted(BACKENDS)),
    ),
    _opt("seq_len", "Time steps per batch (the BPTT truncation length).", int),
    _opt(
        "sampling",
        "random: independent subsequences, state reset per batch; sequential: "
        "contiguous streams, state carried and detached.",
        click.Choice(["random", "sequential"]),
    ),
    _opt("eval_batch_size", "Streams used for evaluation.", int),
    loop_options(TrainConfig),
]


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="rnnkit")
def cli() -> None:
    """rnnkit: recurrent sequence models, from the equations to trained tools.

    Train a character or word language model on a registered dataset or your own text, watch
    its validation perplexity, then generate, score and evaluate.

    \b
    Quick start:
      rnnkit train --data tinyshakespeare --max-minutes 3 --out runs/shakespeare
      rnnkit generate runs/shakespeare --prompt "ROMEO:" --length 300
      rnnkit eval runs/shakespeare --split valid
    """


cli.add_command(data_group)
cli.add_command(grad_flow)
cli.add_command(ngram_group)
cli.add_command(forecast_group)
cli.add_command(seq2seq_group)
cli.add_command(translate_command)
cli.add_command(poem_group)
cli.add_command(classify_group)
cli.add_command(tag_group)
cli.add_command(serve_command)
cli.add_command(export_command)
cli.add_command(info_command)


@cli.command(context_settings=CONTEXT)
@apply_options(TRAIN_OPTIONS)
@run_options("run")
@click.pass_context
def train(ctx, out, resume, config_file, overwrite, quiet, **fields):
    """Train a recurrent language model (truncated BPTT, clipping, checkpoints).

    Writes config.yaml, vocab.json, model.safetensors (best on validation), last.safetensors,
    trainer_state.pt, metrics.jsonl and curves.png into --out.

    On several processes: `torchrun --nproc_per_node=N -m rnnkit train ...` (gloo on CPU,
    nccl on GPUs); --batch-size is the global batch and must divide by N.
    """
    from rnnkit.train.lm_task import LMTask

    options = dict(resume=resume, config_file=config_file, overwrite=overwrite, quiet=quiet)
    train_task(ctx, LMTask, out=out, fields=fields, **options)


@poem_group.command("train", context_settings=CONTEXT)
@click.option("--data", default="tang-poetry", show_default=True, help="The poem corpus.")
@click.option(
    "--form",
    type=click.Choice(CORPUS_FORMS),
    default="all",
    show_default=True,
    help="Train on poems of this form only (regular = the four forms, jueju, lvshi, ...).",
)
@click.option("--simplified", is_flag=True, help="Convert to simplified characters (OpenCC).")
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default="small",
    show_default=True,
    help="small: embedding 128, 2x256 LSTM (the classic recipe); medium 256/2x512; "
    "large 512/2x1024.",
)
@apply_options(TRAIN_OPTIONS[3:])  # all but --data, --tokenizer and --lowercase
@run_options("poem run")
@click.pass_context
def poem_train(
    ctx, data, form, simplified, preset, out, resume, config_file, overwrite, quiet, **fields
):
    """Train a character LSTM on Tang poems (a fixed 5% held out for perplexity).

    Poems are cleaned (missing characters, broken markup), optionally filtered by form and
    converted to simplified characters, and written one per line to RUN_DIR/corpus; the
    language-model trainer then runs on it with the chinese-char tokenizer, so `rnnkit eval`
    and checkpoints work as for any run.

    Defaults here differ from the table below (which is `rnnkit train`'s): --min-freq 2,
    --seq-len 64, --batch-size 64, --dropout 0.1, sizes from --preset; flags you give win.
    """
    from rnnkit.io import atomic_write_text
    from rnnkit.train import distributed
    from rnnkit.train.lm_task import LMTask
    from rnnkit.train.trainer import Trainer, resume_trainer

    given = given_options(ctx, fields)
    echo = None if quiet else echo_above_progress
    if resume:
        try:
            trainer = resume_trainer(resume, given, out=out, echo=echo, progress=not quiet)
            finish_training(trainer.fit(), trainer, "rnnkit poem train")
        finally:
            distributed.teardown()
        return
    if out is None:
        raise ConfigError("--out is required: the run directory to write")
    out = Path(out)
    base = load_yaml(config_file) if config_file else {}
    if not isinstance(base, dict):
        raise ConfigError(f"{config_file} must be a mapping of field: value")
    dist = distributed.setup(given.get("device", base.get("device", DEFAULTS.device)))
    check_out(out, LMTask, overwrite, clear=dist.is_main)
    with dist.main_first():  # rank 0 writes the corpus; the others read it
        meta = prepare_corpus(data, out, form, simplified, write=dist.is_main)
    meta["preset"] = preset
    fields = {
        "tokenizer": "chinese-char",
        "min_freq": 2,
        **PRESETS[preset],
        "seq_len": 64,
        "batch_size": 64,
        "dropout": 0.1,
        **base,
        **given,
        "data": str((out / "corpus").resolve()),
    }
    config = TrainConfig.from_dict(fields, source=config_file or "flags")
    kept = meta["poems"]
    if dist.is_main:
        click.echo(
            f"{kept['kept']:,} of {kept['total']:,} poems kept ({meta['train_poems']:,} train, "
            f"{meta['held_out_poems']:,} held out); dropped: "
            + ", ".join(f"{n:,} {why}" for why, n in kept["dropped"].items() if n),
            err=True,
        )
        atomic_write_text(out / POEM_META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    try:
        trainer = Trainer(LMTask(config), out, echo=echo, progress=not quiet)
        finish_training(trainer.fit(), trainer, "rnnkit poem train")
    finally:
        distributed.teardown()


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option(
    "--prompt",
    default="",
    show_default=True,
    help="Text fed through the model first to set its state; empty: a fresh line.",
)
@click.option("--length", default=200, show_default=True, help="Tokens to generate.")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Softmax temperature: 0 (greedy) or 0.001 to 10.  [default: 1.0]",
)
@click.option("--top-k", type=int, default=None, help="Sample among the k best; 0 = off.")
@click.option(
    "--top-p",
    type=float,
    default=None,
    help="Sample within the smallest set of mass p (nucleus), 1e-06 to 1; 1 = off.",
)
@click.option(
    "--beam",
    default=1,
    show_default=True,
    help="Beam search for the most likely continuation of --length tokens; takes no sampling "
    "flag. 1 = sample.",
)
@click.option("--seed", default=None, type=int, help="Seed for repeatable output.")
@click.option("--stop", "stop_token", default=None, help="Stop when this token is produced.")
@click.option("--device", type=DEVICE, default="auto", show_default=True)
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
def generate(
    run_dir, prompt, length, temperature, top_k, top_p, beam, seed, stop_token, device, checkpoint
):
    """Generate text from a trained run, streaming it to stdout (with --beam, once searched)."""
    from rnnkit.decode import search_settings
    from rnnkit.infer.generate import generate_text
    from rnnkit.runtime import pick_device

    search_settings(beam, temperature, top_k, top_p)  # bad flags fail before the run loads
    dev = pick_device(device)
    _, tokenizer, vocab, model = _load_lm(run_dir, dev, checkpoint)

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    generate_text(
        model,
        tokenizer,
        vocab,
        prompt,
        length,
        temperature,
        top_k,
        top_p,
        seed,
        stop_token,
        stream=stream,
        device=dev,
        beam=beam,
    )
    click.echo()


def _load_lm(run_dir, device, which: str = "best"):
    """``load_for_inference``; a run of another kind is named as such, with its commands."""
    from rnnkit.train.checkpoint import load_for_inference

    try:
        return load_for_inference(run_dir, device, which)
    except RunDirError as e:
        refuse_other_kind(run_dir, e)
        raise


@cli.command("eval", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("--data", default=None, help="Dataset name or path [default: the run's data].")
@click.option(
    "--split", type=click.Choice(["train", "valid", "test"]), default="valid", show_default=True
)
@click.option("--batch-size", default=10, show_default=True, help="Evaluation streams.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--device", type=DEVICE, default="auto", show_default=True)
def eval_command(run_dir, data, split, batch_size, as_json, device):
    """Perplexity of a trained run on a dataset split (exp of mean cross-entropy).

    RUN_DIR may also be an n-gram run (`rnnkit ngram train`).
    """
    from rnnkit.ngram.store import is_ngram_run

    if is_ngram_run(run_dir):
        return ngram_eval(run_dir, data, split, as_json)
    from rnnkit.infer.scoring import evaluate_loss
    from rnnkit.runtime import pick_device
    from rnnkit.train.data import encode_split

    if batch_size <= 0:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    dev = pick_device(device)
    config, tokenizer, vocab, model = _load_lm(run_dir, dev)
    data = data or config.data
    ids = encode_split(data, split, tokenizer, vocab)
    loss = evaluate_loss(model, ids, batch_size, config.seq_len, dev)
    ppl = math.exp(loss)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "data": data,
                    "split": split,
                    "tokens": int(len(ids) - 1),
                    "loss": loss,
                    "perplexity": ppl,
                    "unk_rate": float((ids == vocab.unk_id).mean()),
                }
            )
        )
    else:
        click.echo(f"perplexity: {ppl:.4f}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option(
    "--file",
    "file",
    required=True,
    type=click.Path(),
    help="Text file, one sentence per line; each line is scored on its own.",
)
@click.option("--rank", is_flag=True, help="List lines from most to least likely (per token).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--device", type=DEVICE, default="auto", show_default=True)
def score(run_dir, file, rank, as_json, device):
    """Log-probability (natural log) and perplexity of each line and of the whole file.

    RUN_DIR may also be an n-gram run (`rnnkit ngram train`).
    """
    from rnnkit.infer.scoring import score_lines
    from rnnkit.io import read_text
    from rnnkit.runtime import pick_device

    lines = [ln for ln in read_text(file).splitlines() if ln.strip()]
    from rnnkit.ngram.store import is_ngram_run

    if is_ngram_run(run_dir):
        scores = score_ngram_lines(run_dir, lines)
    else:
        dev = pick_device(device)
        _, tokenizer, vocab, model = _load_lm(run_dir, dev)
        scores = score_lines(model, tokenizer, vocab, lines, dev)
    order = sorted(scores, key=lambda s: -s.logprob / s.num_tokens) if rank else scores
    n = sum(s.num_tokens for s in scores)
    lp = sum(s.logprob for s in scores)
    total = {"lines": len(scores), "tokens": n, "logprob": lp, "perplexity": math.exp(-lp / n)}
    if as_json:
        rows = [
            {
                "text": s.text,
                "tokens": s.num_tokens,
                "logprob": s.logprob,
                "perplexity": s.perplexity,
            }
            for s in order
        ]
        click.echo(json.dumps({"lines": rows, "total": total}, ensure_ascii=False))
        return
    click.echo("logprob\tperplexity\ttokens\tline")
    for s in order:
        click.echo(f"{s.logprob:.4f}\t{s.perplexity:.4f}\t{s.num_tokens}\t{s.text}")
    click.echo(f"total: {n} tokens, logprob {lp:.4f}, perplexity {total['perplexity']:.4f}")


@cli.command(context_settings=CONTEXT)
@click.option(
    "--out",
    default="runs/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Run directory (replaced if it holds an earlier demo).",
)
@click.option("--minutes", default=3.0, show_default=True, help="Training time budget.")
@click.option("--prompt", default="ROMEO:\n", show_default=True)
@click.option("--length", default=500, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a run in --out that is not a demo.")
def demo(out, minutes, prompt, length, overwrite):
    """Train a character LSTM on tinyshakespeare for a few minutes, then write from a prompt."""
    from rnnkit.infer.generate import generate_text
    from rnnkit.train.checkpoint import load_for_inference
    from rnnkit.train.lm_task import LMTask
    from rnnkit.train.trainer import Trainer

    if not minutes > 0:
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    if length < 0:
        raise ConfigError(f"--length must be >= 0, got {length}")
    config = TrainConfig(
        data="tinyshakespeare",
        tokenizer="char",
        model="lstm",
        hidden_size=256,
        num_layers=2,
        seq_len=100,
        batch_size=32,
        lr=3e-3,
        dropout=0.1,
        eval_every=200,
        max_minutes=minutes,
        epochs=50,
        seed=0,
    )
    if not overwrite and not _earlier_demo(Path(out), config):
        raise RunDirError(
            f"{out} holds a run that is not a demo; pick another --out or pass --overwrite"
        )
    check_out(Path(out), LMTask, overwrite=True)
    echo = echo_above_progress
    echo(
        f"Training a 2x256 character LSTM on tinyshakespeare for {minutes:g} minutes "
        f"(validation perplexity every {config.eval_every} steps) ..."
    )
    Trainer(LMTask(config), out, echo=echo).fit()
    _, tokenizer, vocab, model = load_for_inference(out)
    echo(f"\nSample ({length} characters, temperature 0.8, seed 0):\n")
    click.echo(generate_text(model, tokenizer, vocab, prompt, length, temperature=0.8, seed=0))
    echo(f"\nTraining curves: {Path(out) / 'curves.png'}")


def _earlier_demo(out: Path, config: TrainConfig) -> bool:
    """Whether ``out`` holds no run, or a demo's (``config`` with any time budget)."""
    if not (out / "config.yaml").exists():
        return True
    try:
        earlier = TrainConfig.load(out / "config.yaml")
    except RnnkitError:
        return False
    return earlier.replace(max_minutes=config.max_minutes) == config


_plain_format = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """rnnkit's own warnings as one ``warning: ...`` line; others as Python shows them."""
    if issubclass(category, RnnkitWarning):
        return f"warning: {message}\n"
    return _plain_format(message, category, filename, lineno, line)


TRAINING_COMMANDS = {
    (group, "train") for group in ("poem", "seq2seq", "classify", "tag", "forecast")
}


def _check_launch(args: list[str]) -> None:
    """Refuse to run a command N times over when torchrun started N processes for it."""
    from rnnkit.train.distributed import launched

    if not launched() or any(a in ("-h", "--help") for a in args):
        return
    if args[:1] != ["train"] and tuple(args[:2]) not in TRAINING_COMMANDS:
        shown = " ".join(args[:2]) or "(no command)"
        raise ConfigError(
            f"`rnnkit {shown}` runs in one process; only the training commands (`rnnkit train`, "
            "`rnnkit poem|seq2seq|classify|tag|forecast train`) run under torchrun with several "
            "processes"
        )


def _usage_line(e: click.UsageError, args: list[str]) -> str:
    """Click's usage error as one line that names the problem and where the options are."""
    message = " ".join(ln.strip() for ln in e.format_message().splitlines() if ln.strip())
    if e.ctx is not None:
        command = e.ctx.command_path
    else:  # an option without its value: click does not say whose, so follow the arguments
        path, group = ["rnnkit"], cli
        for arg in args:
            group = group.commands.get(arg) if isinstance(group, click.Group) else None
            if group is None:
                break
            path.append(arg)
        command = " ".join(path)
    return f"{message.rstrip('.')}; see `{command} --help`"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it unwinds as Ctrl-C does: temporary files
    are removed and every file already saved stays whole."""


def _raise_terminated(signum, frame):
    raise _Terminated


def _stop_on_sigterm():
    """Make SIGTERM stop a command as Ctrl-C does (training checkpoints first: see
    ``Trainer.fit``); the previous handler, or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2 instead of tracebacks."""
    tune_allocator()
    warnings.formatwarning = _format_warning
    previous = _stop_on_sigterm()
    try:
        _check_launch(sys.argv[1:] if argv is None else argv)
        cli.main(args=argv, prog_name="rnnkit", standalone_mode=False)
    except click.exceptions.Abort as e:  # click turns Ctrl-C (and so SIGTERM) into Abort
        if isinstance(e.__cause__ or e.__context__, _Terminated):
            click.echo("terminated", err=True)
            sys.exit(128 + signal.SIGTERM)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"error: {_usage_line(e, sys.argv[1:] if argv is None else argv)}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RnnkitError as e:
        rank = os.environ.get("RANK", "0")
        where = f"[rank {rank}] " if rank not in ("", "0") else ""  # one of several processes
        click.echo(f"{where}error: {e}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except _Terminated:
        click.echo("terminated", err=True)
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
