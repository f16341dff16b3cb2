"""What a command imports before it does anything: `--help` needs no torch, numpy or YAML,
generation from an LSTM run no torch (the numpy engine), and generation on torch no plotting,
data-frame, metric or web library. (How long start-up takes is
measured by bench/startup.py, not here.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env

HEAVY = ("torch", "numpy", "yaml", "pandas", "matplotlib", "scipy", "sacrebleu", "fastapi")

_PROBE = """
import json, sys
from rnnkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def imported(args: list[str]) -> list[str]:
    """The heavy modules a fresh ``rnnkit *args`` process has imported when it ends."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["train", "--help"],
        ["seq2seq", "train", "--help"],
        ["classify", "train", "--help"],
        ["forecast", "train", "--help"],
        ["ngram", "train", "--help"],
        ["data", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_no_torch_numpy_or_yaml(args):
    assert imported(args) == []


def test_generation_imports_only_what_it_uses(trained_run):
    args = ["generate", trained_run.dir, "--length", "5", "--seed", "0"]
    assert imported(args) == ["numpy"]  # an LSTM run: the numpy engine, no torch
    heavy = imported([*args, "--engine", "torch"])
    assert "torch" in heavy  # it ran the model
    assert not set(heavy) & {"pandas", "matplotlib", "scipy", "sacrebleu", "fastapi", "yaml"}


def test_the_package_names_its_api_without_importing_it():
    import rnnkit

    assert {"Vocab", "RNNLanguageModel", "LMConfig", "build_tokenizer"} <= set(dir(rnnkit))
    assert rnnkit.Vocab.__module__ == "rnnkit.text.vocab"
    with pytest.raises(AttributeError):
        rnnkit.no_such_name  # noqa: B018


def test_the_command_line_offers_every_backend():
    from rnnkit.config import BACKEND_NAMES
    from rnnkit.nn.recurrent import BACKENDS

    assert sorted(BACKEND_NAMES) == sorted(BACKENDS)
