"""The ``rnnkit`` command line: the top-level group, and how every command ends (one-line
errors with exit code 2, SIGTERM as Ctrl-C). The commands live in ``rnnkit.commands``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

import click

from rnnkit.bounds import bound_all
from rnnkit.commands.classify import classify as classify_group
from rnnkit.commands.classify import tag as tag_group
from rnnkit.commands.common import CONTEXT
from rnnkit.commands.data import data as data_group
from rnnkit.commands.diagnostics import grad_flow
from rnnkit.commands.export import export as export_command
from rnnkit.commands.forecast import forecast as forecast_group
from rnnkit.commands.info import info as info_command
from rnnkit.commands.lm import demo, eval_command, generate, score, train
from rnnkit.commands.ngram import ngram as ngram_group
from rnnkit.commands.poem import poem as poem_group
from rnnkit.commands.seq2seq import seq2seq as seq2seq_group
from rnnkit.commands.seq2seq import translate as translate_command
from rnnkit.commands.serve import serve as serve_command
from rnnkit.errors import ConfigError, RnnkitError, RnnkitWarning
from rnnkit.runtime import tune_allocator


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


LANGUAGE_MODELS = (train, generate, eval_command, score, demo, ngram_group, poem_group)
TASKS = (seq2seq_group, translate_command, classify_group, tag_group, forecast_group)
TOOLS = (data_group, grad_flow, serve_command, export_command, info_command)
for command in (*LANGUAGE_MODELS, *TASKS, *TOOLS):
    cli.add_command(command)
bound_all(cli)  # every numeric option checked against one table as it is parsed


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
    if "WORLD_SIZE" not in os.environ or any(a in ("-h", "--help") for a in args):
        return  # not under torchrun (it sets WORLD_SIZE): nothing to check, no torch to import
    from rnnkit.train.distributed import launched

    if not launched():
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2 instead of tracebacks."""
    tune_allocator()
    warnings.formatwarning = _format_warning
    previous = None  # SIGTERM stops a command as Ctrl-C does (training checkpoints first)
    if threading.current_thread() is threading.main_thread():  # signals go to the main thread
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    args = sys.argv[1:] if argv is None else argv
    try:
        _check_launch(args)
        cli.main(args=argv, prog_name="rnnkit", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:  # click makes Ctrl-C an Abort
        stop = e if isinstance(e, KeyboardInterrupt) else e.__cause__ or e.__context__
        if isinstance(stop, _Terminated):
            click.echo("terminated", err=True)
            sys.exit(128 + signal.SIGTERM)
        click.echo("aborted" if isinstance(e, click.exceptions.Abort) else "interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"error: {_usage_line(e, args)}", err=True)
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
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
