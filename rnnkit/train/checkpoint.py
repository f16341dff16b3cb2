"""Run directories: what a training run writes, and loading it back without executing code.

A run directory holds::

    run.json             the run file (``rnnkit.registry.runs``): kind, resolved TrainConfig,
                         model config, history
    vocab.json           the Vocab
    model.safetensors    weights with the best validation perplexity
    last.safetensors     weights at the last checkpoint
    trainer_state.pt     optimizer, scheduler, RNG, iterator position, carried hidden state,
                         the checksum of last.safetensors; tensors and plain values only,
                         loaded with ``weights_only=True``
    metrics.jsonl        one JSON object per log line or evaluation
    curves.png           training curves

Every file is written to a temporary name and renamed into place, and every weight file
carries the sha256 of its tensors (``rnnkit.integrity``), checked when it is loaded.

A checkpoint is two files that must agree, so it is committed in three steps: the weights go
to ``last.next.safetensors``, then ``trainer_state.pt`` (naming their checksum) replaces the old
state, then the weights are renamed to ``last.safetensors``. A crash at any point leaves either
the old pair, or the new state with its weights still under the ``next`` name, which
``RunDir.recover`` renames forward before the run is resumed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError, RunDirError, first_line
from rnnkit.integrity import DIGEST_KEY, digest_mismatch, stored_digest, tensors_digest
from rnnkit.io import atomic_write
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.registry.runs import (
    LAST_WEIGHTS,
    RUN_FILE,
    RUN_KINDS,
    WEIGHTS,
    RunDoc,
    read_run,
    run_file,
)
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import Vocab
from rnnkit.train.metrics import MetricsLog


def lm_config(config: TrainConfig, vocab_size: int) -> LMConfig:
    return LMConfig(**config.model_fields(vocab_size))


def save_weights(model: torch.nn.Module, path: Path) -> str:
    """Write ``model``'s weights to ``path`` atomically with their checksum; return it."""
    digest = tensors_digest(model.state_dict())
    atomic_write(path, lambda tmp: save_model(model, tmp, metadata={DIGEST_KEY: digest}))
    return digest


def load_weights(model: torch.nn.Module, path: Path, device="cpu") -> None:
    """Load ``path`` into ``model`` strictly and check its checksum; weights of another shape
    are a mixed run, another checksum a damaged file: both raise ``RunDirError``."""
    try:
        load_model(model, str(path), strict=True, device=str(device))
    except (RuntimeError, SafetensorError, OSError) as e:
        raise RunDirError(
            f"{path} does not fit the run's config ({first_line(e)}); the run directory is "
            "damaged or mixed from different runs"
        ) from e
    problem = digest_mismatch(path, model.state_dict())
    if problem:
        raise RunDirError(
            f"{path} is damaged ({problem}); restore it from a copy or train the run again"
        )


def build_for_loading(build, *args):
    """``build(*args)``, a model whose weights are about to be loaded, without drawing from the
    global RNG: its random initialisation is thrown away, and a program that seeded torch gets
    the same numbers after loading a run as before."""
    with torch.random.fork_rng(devices=[]):
        return build(*args)


def save_state(state: dict, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


class RunDir:
    """Paths and loaders of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.vocab_path = self.path / "vocab.json"
        self.best_path = self.path / WEIGHTS
        self.last_path = self.path / LAST_WEIGHTS
        self.next_path = self.path / "last.next.safetensors"  # until their state is written
        self.state_path = self.path / "trainer_state.pt"
        self.metrics_path = self.path / "metrics.jsonl"
        self.curves_path = self.path / "curves.png"
        self._doc: RunDoc | None = None  # the run file, read once by ``read``

    def check(self, resumable: bool = False) -> None:
        """Raise ``RunDirError`` unless this looks like a (resumable) run directory."""
        if not self.path.is_dir():
            raise RunDirError(f"run directory not found: {self.path}; give the --out of a run")
        has_file = run_file(self.path) is not None
        if has_file:
            self.read()  # a damaged run file, or another kind of run, is named first
        need = [self.vocab_path]
        need += [self.last_path, self.state_path] if resumable else [self.best_path]
        missing = [] if has_file else [RUN_FILE]
        missing += [p.name for p in need if not p.exists()]
        if missing:
            raise RunDirError(
                f"{self.path} is not a complete run directory (missing {', '.join(missing)}); "
                "train one with `rnnkit train --out DIR`"
            )

    def read(self) -> RunDoc:
        """The run file, which must be a language-model run's; read once (``check``, the
        config and the model all need it)."""
        if self._doc is None:
            doc = read_run(self.path)
            if doc.kind != "lm":
                k = RUN_KINDS[doc.kind]
                raise RunDirError(
                    f"{self.path} is {k.a_what} ({k.trained_by}), not a language-model run"
                )
            self._doc = doc
        return self._doc

    def load_config(self) -> TrainConfig:
        return self.read().run_config(TrainConfig)

    def load_vocab(self) -> Vocab:
        return Vocab.load(self.vocab_path)

    def load_model(
        self, config: TrainConfig, vocab_size: int, which: str = "best", device="cpu"
    ) -> RNNLanguageModel:
        path = self.best_path if which == "best" else self.last_path
        saved = self.read().model  # runs written before the run file derive it
        try:
            mcfg = LMConfig(**saved) if saved else lm_config(config, vocab_size)
        except (TypeError, RnnkitError) as e:
            raise RunDirError(
                f"{run_file(self.path)} holds a model config that does not build ({e}); "
                "restore it or train again"
            ) from e
        model = build_for_loading(RNNLanguageModel, mcfg)
        load_weights(model, path, device)
        return model.to(device)

    def recover(self) -> None:
        """Finish or undo a checkpoint a crash cut short (see the module docstring).

        Weights under the ``next`` name whose checksum the trainer state names are the new
        checkpoint's: they are renamed into place. Any other ``next`` file predates its state
        and is removed, as are the temporary files of writes that never finished.
        """
        for tmp in self.path.glob(".*.tmp"):  # atomic writes a kill cut short
            tmp.unlink(missing_ok=True)
        nxt = self.next_path
        if not nxt.exists():
            return
        try:
            digest = stored_digest(nxt)
        except (SafetensorError, OSError):
            digest = None
        want = self.load_state().get("weights_sha256") if self.state_path.exists() else None
        if digest is not None and digest == want:
            os.replace(nxt, self.last_path)
        else:
            nxt.unlink()

    def load_state(self) -> dict:
        """The trainer state, unpickled with ``weights_only=True``: tensors and plain values
        only, so a file carrying code (a pickled callable) is refused, never run."""
        try:
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as e:  # any unpickling failure means the file cannot be trusted
            raise RunDirError(
                f"{self.state_path} cannot be loaded safely ({type(e).__name__}); "
                "it is damaged or not written by rnnkit"
            ) from e
        if not isinstance(state, dict) or "step" not in state:
            raise RunDirError(
                f"{self.state_path} is not an rnnkit trainer state; the run is damaged"
            )
        return state

    def best_evaluation(self, metric: str, best: float) -> dict:
        """``best``, the run's best ``metric`` (None while not finite: no evaluation yet), with
        the step and epoch of the evaluation that reached it, and ``evaluations``: every
        evaluation row of metrics.jsonl (a resumed run's earlier ones too)."""
        evals = [r for r in self.read_metrics() if r.get("kind") == "eval"]
        best = best if math.isfinite(best) else None
        row = next((r for r in evals if best is not None and r.get(metric) == best), {})
        return {
            "best": best,
            "best_step": row.get("step"),
            "best_epoch": row.get("epoch"),
            "evaluations": evals,
        }

    def read_metrics(self) -> list[dict]:
        return [row for _, row in MetricsLog(self.metrics_path).lines()]


def load_for_inference(run_dir: str | Path, device="cpu", which: str = "best"):
    """``(config, tokenizer, vocab, model)`` of a finished run, model in eval mode."""
    run = RunDir(run_dir)
    run.check()
    config = run.load_config()
    vocab = run.load_vocab()
    try:
        tokenizer = build_tokenizer(config.tokenizer or "char", config.lowercase)
    except RnnkitError as e:
        raise RunDirError(f"{run_file(run.path)}: {e}") from e
    model = run.load_model(config, len(vocab), which, device)
    model.eval()
    return config, tokenizer, vocab, model
