"""What several commands share: the help settings, the options many take (RUN_DIR, --device,
--json, --split), reading stdin, and refusing a run directory of the wrong kind (to read from,
or to write into)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from rnnkit.errors import ConfigError, DataError, RunDirError

# Every command's: -h, a 100-column help, and each option's default shown (unless None). The
# commands `rnnkit` adds take it; their subcommands inherit it from their group's context.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "show_default": True}


class DeviceType(click.ParamType):
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against this machine when the
    command line is read, so a wrong one is a usage error and not a failure deep in torch."""

    name = "device"

    def get_metavar(self, param, ctx=None) -> str:
        return "auto|cpu|cuda[:N]|mps"

    def convert(self, value, param, ctx):
        from rnnkit.runtime import pick_device

        if value in ("auto", "cpu"):  # always there: no need to import torch to know
            return value
        try:
            pick_device(value)
        except ConfigError as e:
            self.fail(str(e), param, ctx)
        return value


DEVICE = DeviceType()

# Arguments and options that many commands take with the same meaning and help.
RUN_DIR = click.argument("run_dir", type=click.Path())
DEVICE_OPTION = click.option(
    "--device",
    type=DEVICE,
    default="auto",
    help="Where the model runs: auto (CUDA when present, else CPU), cpu, cuda, cuda:N, mps.",
)


def json_option(help: str = "Print one JSON object.", **attrs):
    """``--json`` (the parameter ``as_json``): print a machine-readable result."""
    return click.option("--json", "as_json", is_flag=True, help=help, **attrs)


def choice_option(flag: str, choices, default: str | None, help: str):
    """``flag`` taking one of ``choices``, its default shown in the help."""
    return click.option(
        flag, type=click.Choice(choices), default=default, show_default=True, help=help
    )


def split_option(choices=("valid", "test"), default="test", help="Split to evaluate."):
    """``--split``: the split of the data a command reads."""
    return choice_option("--split", list(choices), default, help)


def load_on_device(device: str, load, run_dir, *args):
    """``(dev, *load(run_dir, dev, *args))``: the device ``--device`` names (picked first, so a
    wrong one fails before the run is read) and what ``load`` reads from ``run_dir`` onto it."""
    from rnnkit.runtime import pick_device

    dev = pick_device(device)
    return dev, *load(run_dir, dev, *args)


def read_stdin_lines() -> list[str]:
    """The lines of stdin, read as UTF-8 whatever the locale says (as every text file is)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (tests, embedding)
        return sys.stdin.read().splitlines()
    data = stream.read()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(
            f"standard input is not UTF-8 (bad byte at offset {e.start}); convert it, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None


# What to use on a run that is not a language model, by kind (``rnnkit.registry.runs``).
_COMMANDS = {
    "ngram": "`rnnkit ngram generate`, `rnnkit eval` or `rnnkit score`",
    "seq2seq": "`rnnkit translate` or `rnnkit seq2seq eval`",
    "classify": "`rnnkit classify predict|eval` or `rnnkit tag predict|eval`",
    "forecast": "`rnnkit forecast predict|eval|plot`",
}


@contextmanager
def language_model_run(run_dir: str | Path):
    """Load a language-model run inside: a ``RunDirError`` from a run of another kind is
    raised again as one that names the kind of run ``run_dir`` holds, and the commands for it."""
    try:
        yield
    except RunDirError as e:
        from rnnkit.registry.runs import RUN_KINDS, run_kind

        kind = run_kind(run_dir)
        if kind in _COMMANDS:
            k, use = RUN_KINDS[kind], _COMMANDS[kind]
            raise RunDirError(
                f"{run_dir} is {k.a_what} ({k.trained_by}), not a language model; use {use}"
            ) from e
        raise


def refuse_other_run(out: str | Path, kind: str | None, new: str) -> None:
    """Refuse to write ``new`` (a run of ``kind``, or a prepared corpus for ``None``) into a
    folder that holds a run of another kind: their files (model.safetensors, metrics.jsonl,
    vocabularies) would overwrite each other, with or without --overwrite."""
    out = Path(out)
    if not out.is_dir():
        return
    from rnnkit.registry.runs import RUN_KINDS, run_kind

    there = run_kind(out)
    if there is not None and there != kind:
        other = RUN_KINDS[there]
        raise RunDirError(
            f"{out} holds {other.a_what} ({other.trained_by}); give the {new} its own --out"
        )
    if kind is not None and (out / "prepared.json").exists():
        raise RunDirError(
            f"{out} holds a prepared corpus (rnnkit data prepare); give the {new} its own --out "
            f"and train on the corpus with --data {out}"
        )


def echo_above_progress(line: str) -> None:
    """Print above a running progress bar without breaking it."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def scored_lines(command):
    """``--file`` and ``--rank``: the options of every command that scores a file's lines."""
    command = click.option(
        "--rank", is_flag=True, help="List lines from most to least likely (per token)."
    )(command)
    return click.option(
        "--file",
        "file",
        required=True,
        type=click.Path(),
        help="Text file, one sentence per line; each line is scored on its own.",
    )(command)
