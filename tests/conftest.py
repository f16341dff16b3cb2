"""Shared fixtures: a small made-up corpus, CLI runners, one trained run of each kind (language
model, translation, classification and tagging, forecasting), the realdata marker."""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import http.server
import io
import json
import math
import os
import random
import subprocess
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

# ---- realdata marker ---------------------------------------------------------------------------
requires_data = pytest.mark.skipif(
    not os.environ.get("RNNKIT_DATA"), reason="RNNKIT_DATA is not set (shared datasets)"
)


def realdata(fn):
    """Mark a test as needing the shared datasets; skip it when $RNNKIT_DATA is not set."""
    return pytest.mark.realdata(requires_data(fn))


# ---- a small made-up corpus --------------------------------------------------------------------
_SUBJECTS = "the cat|a dog|the old man|my sister|the farmer|a small bird|the teacher|our neighbour"
_VERBS = "sees|likes|finds|carries|watches|follows|feeds|paints"
_OBJECTS = "the red ball|a green apple|the long road|a quiet river|the big house|some fresh bread"
_TAILS = "in the morning|at night|every day|near the hill|after lunch|with care|before the rain"


def tiny_lines(n: int = 600, seed: int = 0) -> list[str]:
    """``n`` simple English sentences, the same ones for the same ``seed``."""
    rng = random.Random(seed)
    words = [part.split("|") for part in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS)]
    return [" ".join(rng.choice(w) for w in words).capitalize() + "." for _ in range(n)]


def write_tiny_text(path: Path) -> Path:
    """Write the tiny corpus (about 26 KB of UTF-8) to ``path`` and return it."""
    path.write_text("\n".join(tiny_lines()) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_text(tmp_path) -> Path:
    """Path of a small made-up UTF-8 text: 600 short repetitive English sentences."""
    return write_tiny_text(tmp_path / "tiny.txt")


def unigram_perplexity(train, held) -> float:
    """Perplexity of the tokens of ``held`` under add-one unigram counts of ``train`` (two
    sequences of tokens): a language model that beats it has learned more than frequencies."""
    counts = collections.Counter(train)
    total, size = len(train), len(set(train) | set(held))
    nll = -sum(math.log((counts[t] + 1) / (total + size)) for t in held)
    return math.exp(nll / len(held))


# ---- running the CLI ---------------------------------------------------------------------------
def cli_env(keep_data: bool = False, extra: dict | None = None) -> dict:
    """The environment for a CLI subprocess.

    $RNNKIT_DATA is removed unless ``keep_data``. The models here are tiny, so torch runs on one
    thread: more threads only fight over the CPU (several times slower on a busy machine).
    """
    env = dict(os.environ)
    if not keep_data:
        env.pop("RNNKIT_DATA", None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def run_cli(
    args: list[str],
    *,
    keep_data: bool = False,
    env: dict | None = None,
    cwd: str | Path | None = None,
    timeout: float = 180,
) -> tuple[int, str, str]:
    """Run ``python -m rnnkit *args`` in a subprocess; return ``(returncode, stdout, stderr)``.

    Args:
        keep_data: pass $RNNKIT_DATA through (it is removed otherwise).
        env: extra environment variables.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "rnnkit", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=cli_env(keep_data, env),
        cwd=cwd,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def call_cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``rnnkit.cli.main(args)`` in this process; return ``(returncode, stdout, stderr)``.

    The same entry point the ``rnnkit`` script and ``python -m rnnkit`` call, without the ~2 s of
    interpreter and torch start-up, for checks that do little work (option and input errors,
    --help). An exception that escapes ``main`` is returned as exit code 1 with its traceback
    on stderr, as the interpreter would print it; warnings go to stderr as in a fresh process.
    """
    import torch

    from rnnkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in run_cli; restored below
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.filterwarnings("ignore", category=category)
        warnings.showwarning = _show_warning
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - reported like an uncaught exception
            traceback.print_exc(file=err)
            code = 1
        finally:
            torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(monkeypatch):
    """``call_cli`` with $RNNKIT_DATA unset."""
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    return call_cli


# ---- one trained run, shared -------------------------------------------------------------------
TINY_TRAIN_ARGS = [
    "--hidden-size",
    "32",
    "--num-layers",
    "1",
    "--seq-len",
    "16",
    "--batch-size",
    "8",
    "--max-steps",
    "30",
    "--eval-every",
    "10",
    "--quiet",
]


@dataclass(frozen=True)
class TrainedRun:
    dir: Path  # the run directory
    text: Path  # the text it was trained on
    returncode: int
    stdout: str
    stderr: str

    def __fspath__(self) -> str:
        return str(self.dir)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> TrainedRun:
    """A tiny character LSTM trained for 30 steps through the CLI on the tiny text.

    Shared by every test that only reads it (generate, eval, score); copy it before changing it.
    """
    root = tmp_path_factory.mktemp("trained")
    text = write_tiny_text(root / "tiny.txt")
    out = root / "run"
    code, stdout, stderr = run_cli(["train", "--data", text, "--out", out, *TINY_TRAIN_ARGS])
    if code != 0:
        pytest.fail(f"training the shared run failed (exit {code}):\n{stderr}")
    return TrainedRun(out, text, code, stdout, stderr)


# ---- tiny task runs, shared: trained once per session on toy data ------------------------------
_S2S_WORDS = ["a", "b", "c", "d", "e", "f", "g", "h"]


def toy_pairs(n=200, seed=0):
    """Target = the source reversed, in upper case: a task a small model learns fast."""
    rng = random.Random(seed)
    src = [" ".join(rng.choice(_S2S_WORDS) for _ in range(rng.randint(2, 5))) for _ in range(n)]
    tgt = [" ".join(reversed(s.upper().split())) for s in src]
    return src, tgt


@pytest.fixture(scope="session")
def seq2seq_run(tmp_path_factory):
    """``(root, run_dir, stdout, stderr)`` of a GRU + additive attention seq2seq run trained on
    ``toy_pairs`` (train and valid files in ``root``); it reverses 2-5 tokens almost always."""
    root = tmp_path_factory.mktemp("s2s")
    src, tgt = toy_pairs()
    (root / "train.src").write_text("\n".join(src) + "\n")
    (root / "train.tgt").write_text("\n".join(tgt) + "\n")
    vsrc, vtgt = toy_pairs(30, seed=1)
    (root / "valid.src").write_text("\n".join(vsrc) + "\n")
    (root / "valid.tgt").write_text("\n".join(vtgt) + "\n")
    out = root / "run"
    args = ["seq2seq", "train", "--src", root / "train.src", "--tgt", root / "train.tgt"]
    args += ["--valid-src", root / "valid.src", "--valid-tgt", root / "valid.tgt"]
    args += ["--embed-size", "32", "--hidden-size", "64", "--epochs", "25", "--lr", "0.005"]
    args += ["--min-freq", "1", "--dropout", "0", "--out", out]
    code, stdout, stderr = call_cli(args)
    assert code == 0, stderr
    return root, out, stdout, stderr


_CITIES = ["paris", "london", "rome", "tokyo", "oslo", "lima"]
_SONGS = ["yellow", "hello", "thriller", "imagine", "halo"]
_ARTISTS = ["adele", "coldplay", "queen", "madonna"]


def toy_sentence(rng):
    """A weather or music request with its intent and BIO slots."""
    if rng.random() < 0.5:
        city = rng.choice(_CITIES)
        words = ["what", "is", "the", "weather", "in", city, rng.choice(["today", "now"])]
        return words, "Weather", ["O", "O", "O", "O", "O", "B-city", "O"]
    song, artist = rng.choice(_SONGS), rng.choice(_ARTISTS)
    words = ["play", song, "by", artist]
    return words, "Music", ["O", "B-song", "O", "B-artist"]


def write_conll(path, n, seed):
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        words, label, tags = toy_sentence(rng)
        lines = [f"# label: {label}"] + [f"{w} {t}" for w, t in zip(words, tags, strict=True)]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_tsv(path, n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words, label, _ = toy_sentence(rng)
        rows.append(" ".join(words).capitalize() + "?\t" + label)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


_CLASSIFY_SMALL = [
    "--embed-size",
    "16",
    "--hidden-size",
    "16",
    "--char-embed",
    "8",
    "--char-filters",
    "8",
]
_CLASSIFY_SMALL += ["--epochs", "6", "--lr", "0.01", "--dropout", "0", "--batch-size", "16"]


@pytest.fixture(scope="session")
def joint_run(tmp_path_factory):
    """``(root, run_dir, stdout)`` of a joint intent + slot run on toy CoNLL (root/v.conll is
    its validation file)."""
    root = tmp_path_factory.mktemp("joint")
    train, valid = write_conll(root / "train.conll", 300, 0), write_conll(root / "v.conll", 40, 1)
    out = root / "run"
    args = ["tag", "train", "--data", train, "--valid", valid, "--task", "joint"]
    code, stdout, stderr = call_cli([*args, *_CLASSIFY_SMALL, "--out", out])
    assert code == 0, stderr
    return root, out, stdout


@pytest.fixture(scope="session")
def intent_run(tmp_path_factory):
    """``(root, run_dir)`` of an intent classifier (mean pooling) on a toy TSV."""
    root = tmp_path_factory.mktemp("intent")
    train = write_tsv(root / "train.tsv", 200, 2)
    out = root / "run"
    args = ["classify", "train", "--data", train, "--pooling", "mean", *_CLASSIFY_SMALL]
    code, stdout, stderr = call_cli([*args, "--out", out])
    assert code == 0, stderr
    assert "held out" in stderr  # no valid file: 10% of train
    return root, out


def write_csv(path, n=300, seed=0, gaps=(), unsorted_at=None):
    """A daily series with weekly seasonality, a trend and one exogenous column."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 0.02 * t + np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.1, n)
    temp = np.cos(2 * np.pi * t / 30) + rng.normal(0, 0.1, n)
    days = np.datetime64("2020-01-01") + t
    if unsorted_at is not None:
        days[unsorted_at] = days[unsorted_at - 2]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["day", "sales", "temp"])
        for i in range(n):
            w.writerow([str(days[i]), "" if i in gaps else f"{y[i]:.4f}", f"{temp[i]:.4f}"])
    return path


@pytest.fixture(scope="session")
def forecast_run(tmp_path_factory):
    """``(csv_path, run_dir, stdout)`` of a direct MLP forecaster (tau 14, horizon 7) of the
    ``sales`` column of ``write_csv``."""
    root = tmp_path_factory.mktemp("fc")
    data = write_csv(root / "sales.csv")
    out = root / "run"
    args = ["forecast", "train", "--csv", data, "--target", "sales", "--model", "mlp"]
    args += [
        "--tau",
        "14",
        "--horizon",
        "7",
        "--hidden-size",
        "16",
        "--epochs",
        "30",
        "--lr",
        "0.01",
    ]
    code, stdout, stderr = call_cli([*args, "--period", "7", "--out", out])
    assert code == 0, stderr
    return data, out, stdout


@pytest.fixture(autouse=True, scope="session")
def _own_settings(tmp_path_factory):
    """A settings folder of the tests' own, so a data folder saved with `rnnkit data use` on
    this machine does not change what the tests read (subprocesses inherit it)."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if old is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = old


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Unit tests use tiny models: one thread is faster than two fighting over the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- a local download server -------------------------------------------------------------------
class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    hits: list[str]

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A static file server on 127.0.0.1 (ephemeral port) serving tmp_path/www.

    Yields ``(base_url, www_dir, hits)``; ``hits`` lists every requested path.
    """
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"hits": hits})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(www))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No $RNNKIT_DATA, and a fresh cache under tmp_path; returns the cache folder."""
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server started by a test; kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_line_error(exc_type, fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting ``exc_type``; return its message after checking it is one line."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


# ---- tiny language-model configs for trainer tests ---------------------------------------------
def tiny_lm_config(tmp_path: Path, text: str, **kw):
    """A ``TrainConfig`` for a character LSTM of 16 units on ``text`` (written to
    ``tmp_path/corpus.txt``): 12 steps of batch 4 x 12, a metrics row every step, seed 0."""
    from rnnkit.config import TrainConfig

    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    base = dict(data=str(path), tokenizer="char", hidden_size=16, num_layers=1, seq_len=12)
    base.update(batch_size=4, max_steps=12, log_every=1, seed=0)
    return TrainConfig(**{**base, **kw})


def train_losses(run: Path) -> list[float]:
    """The train_loss column of ``run``'s metrics.jsonl."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in rows if r["kind"] == "train"]
