"""Shared fixtures: a small made-up corpus, CLI runners, one trained run, the realdata marker."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
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


def one_line_error(exc_type, fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting ``exc_type``; return its message after checking it is one line."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message
