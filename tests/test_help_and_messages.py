"""What the user reads: every option has a help line, the defaults shown are the ones used,
HTTP errors name JSON fields, `grad-flow --json` says where the plot is, `info` shows scores as
training printed them."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import click
import pytest
from conftest import call_cli
from test_serve_api import client

from rnnkit.classify.train import ClassifyRunConfig
from rnnkit.cli import cli as rnnkit_cli
from rnnkit.commands.options import default_of
from rnnkit.config import TrainConfig
from rnnkit.forecast.pipeline import ForecastConfig
from rnnkit.seq2seq.train import Seq2SeqRunConfig
from rnnkit.serve import load_models


def commands(cmd: click.Command = rnnkit_cli, path: tuple[str, ...] = ("rnnkit",)):
    """``(path, command)`` of every command under the ``rnnkit`` group, groups included."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from commands(cmd.get_command(ctx, name), (*path, name))


def test_every_option_of_every_command_has_a_help_line():
    # Hidden options are the refused old flag names (--hidden etc.), never listed in --help.
    missing = [
        f"{' '.join(path)} {p.opts[0]}"
        for path, cmd in commands()
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert len(list(commands())) > 30
    assert missing == []


TRAINING = {
    ("rnnkit", "train"): TrainConfig,
    ("rnnkit", "seq2seq", "train"): Seq2SeqRunConfig,
    ("rnnkit", "classify", "train"): ClassifyRunConfig,
    ("rnnkit", "tag", "train"): ClassifyRunConfig,
    ("rnnkit", "forecast", "train"): ForecastConfig,
}
FILLED = {("rnnkit", "tag", "train"): {"task": "slots"}}  # the command fills in its own task


def test_training_defaults_shown_are_the_config_defaults():
    """A flag not given is not passed on, so the config's default is what runs: the default
    --help shows must be that one."""
    found = dict(commands())
    wrong = []
    for path, config_cls in TRAINING.items():
        defaults = {f.name: default_of(config_cls, f.name) for f in fields(config_cls)}
        defaults |= FILLED.get(path, {})
        for p in found[path].params:
            if not isinstance(p, click.Option) or p.name not in defaults or p.default is None:
                continue
            if p.show_default and p.default != defaults[p.name]:
                wrong.append(f"{' '.join(path)} {p.opts[0]}: {p.default!r} != {defaults[p.name]!r}")
    assert wrong == []


# ---- HTTP errors name the request's fields -------------------------------------------------------
@pytest.fixture(scope="module")
def served(trained_run, seq2seq_run):
    return client(*load_models([trained_run.dir, seq2seq_run[1]]))


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"beam": 3, "temperature": 0.8}, ["beam 3", "temperature", "beam 1"]),
        ({"beam": 2, "top_k": 5, "top_p": 0.9}, ["beam 2", "top_k and top_p"]),
    ],
)
def test_generate_refusals_name_json_fields(served, body, names):
    r = served.post("/generate", json={"model": "run", "length": 5, **body})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "--" not in detail
    assert all(name in detail for name in names), detail


def test_translate_errors_name_json_fields(served, seq2seq_run):
    from rnnkit.errors import GenerationError
    from rnnkit.seq2seq.train import load_run
    from rnnkit.seq2seq.translate import translate_lines

    (translator,) = load_models([seq2seq_run[1]])
    with pytest.raises(GenerationError, match=r"^n_best must be between 1 and beam \(1\), got 3"):
        translator.translate(["a b"], beam=1, alpha=0.6, n_best=3)
    # The command line keeps its flags.
    config, src, tgt, model = load_run(seq2seq_run[1])
    with pytest.raises(GenerationError, match=r"^--beam 3 .* drop --temperature"):
        list(translate_lines(model, ["a"], config, src, tgt, beam=3, temperature=0.5))


# ---- grad-flow and info --------------------------------------------------------------------------
def test_grad_flow_json_says_where_the_plot_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["grad-flow", "--model", "rnn", "--seq-len", "5", "--hidden-size", "4", "--json"]
    code, out, err = call_cli([*args, "--out", "flow.png"])
    assert code == 0, err
    plot = Path(json.loads(out)["plot"])
    assert plot.is_absolute() and plot == tmp_path / "flow.png" and plot.exists()


def test_info_shows_bleu_as_training_printed_it(seq2seq_run):
    _, run, stdout, _ = seq2seq_run
    printed = next(ln for ln in stdout.splitlines() if ln.startswith("best valid BLEU"))
    bleu = printed.split()[3]  # "best valid BLEU 100.00 at epoch N"
    code, out, err = call_cli(["info", run])
    assert code == 0, err
    best = next(ln for ln in out.splitlines() if ln.startswith("best"))
    assert f"valid_bleu BLEU {bleu}" in best, best
    code, out, _ = call_cli(["info", run, "--json"])
    assert json.loads(out)["history"]["best"]["shown"] == f"BLEU {bleu}"


def test_info_shows_accuracy_in_percent_as_training_printed_it(joint_run):
    stdout = joint_run[2]
    printed = next(ln for ln in stdout.splitlines() if ln.startswith("best valid score"))
    score = printed.split()[3]  # "best valid score 93.33 at epoch N": a percentage
    code, out, err = call_cli(["info", joint_run[1]])
    assert code == 0, err
    best = next(ln for ln in out.splitlines() if ln.startswith("best"))
    assert f"{score}%" in best, best
