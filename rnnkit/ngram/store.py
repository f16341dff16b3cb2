"""An n-gram run directory: ``run.json`` (settings, and the table sizes and discounts as fitted
values), ``vocab.json``, ``counts.safetensors``, and for kn and mkn ``backoff.safetensors``.

The counts are what the model is: ``load_ngram`` re-derives the probabilities from them (a
fraction of a second even for PTB 5-grams), for fitting-side work (export, the Python API).
``backoff.safetensors`` is the lean store that eval, score and generate read: per order the
sorted int64 keys and the float32 log10 probabilities and backoffs, memory-mapped on load
(``load_lean``), so scoring touches about 16 bytes per n-gram and no counts. Nothing in the
directory is executable: JSON and safetensors.
"""

from __future__ import annotations

import typing
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from rnnkit.config import allowed_types
from rnnkit.errors import RnnkitError, RnnkitWarning, RunDirError
from rnnkit.integrity import DIGEST_KEY, digest_mismatch, tensors_digest
from rnnkit.io import atomic_write
from rnnkit.ngram.arpa import lean_arrays
from rnnkit.ngram.backoff import BackoffLM, map_safetensors
from rnnkit.ngram.counts import NGramCounts, Table
from rnnkit.ngram.model import NGramLM
from rnnkit.registry.runs import RUN_KINDS, RunDoc, read_run, run_kind, write_run
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import BOS, PAD, Vocab

VOCAB, COUNTS = RUN_KINDS["ngram"].files
BACKOFF = "backoff.safetensors"  # the lean store of kn and mkn runs (optional: older runs)


@dataclass
class NGramMeta:
    """What a run was trained with, and a summary of what it holds."""

    order: int
    smoothing: str
    k: float = 1.0
    discount: list[float] | None = None  # fixed kn discounts; None: estimated
    bos_style: str = "padded"  # runs written before the choice existed were padded
    data: str = ""
    tokenizer: str = "word"
    lowercase: bool = False
    min_freq: int = 1
    max_vocab: int | None = None
    boundary: str = "<eos>"
    train_tokens: int = 0
    sizes: list[int] = field(default_factory=list)
    discounts: list[list[float]] = field(default_factory=list)


FITTED = ("train_tokens", "sizes", "discounts")  # NGramMeta fields counted, not chosen


def is_ngram_run(path: str | Path) -> bool:
    return run_kind(path) == "ngram"


def save_ngram(run_dir: str | Path, lm: NGramLM, vocab: Vocab, meta: NGramMeta) -> None:
    """Write the three files, each atomically; the run file last, so a directory with
    ``run.json`` is complete."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    tables = enumerate(lm.counts.tables, start=1)
    names = ("keys", "counts", "suffix")
    _save_tensors(run / COUNTS, {f"{n}.{k}": getattr(t, n) for k, t in tables for n in names})
    if lm.smoothing in ("kn", "mkn"):
        _save_tensors(run / BACKOFF, lean_arrays(lm))
    elif (run / BACKOFF).exists():  # an --overwrite of a kn run by another smoothing
        (run / BACKOFF).unlink()
    vocab.save(run / VOCAB)
    meta.sizes, meta.discounts = lm.sizes, lm.discounts
    settings = asdict(meta)
    fitted = {k: settings.pop(k) for k in FITTED}
    write_run(run, RunDoc("ngram", settings, fitted=fitted))


def _save_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    tensors = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    digest = {DIGEST_KEY: tensors_digest(tensors)}  # checked on load, as for weights
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=digest))


def _read_meta(run: Path):
    """``(meta, tokenizer, lm)``: the settings of a run and its unfitted ``NGramLM``."""
    doc = read_run(run, "ngram")
    try:
        raw = {**doc.config, **doc.fitted}
        unknown = sorted(set(raw) - {f.name for f in fields(NGramMeta)})
        if unknown:  # named here: a key in NGramMeta's own error could hold a line break
            raise ValueError(f"unknown key {unknown[0]!r}")
        meta = NGramMeta(**raw)
        _check_types(meta)
        tokenizer = build_tokenizer(meta.tokenizer, meta.lowercase)
        lm = NGramLM(meta.order, meta.smoothing, meta.k, meta.discount, meta.bos_style)
    except (ValueError, TypeError, RnnkitError) as e:
        raise RunDirError(f"{doc.source} is damaged ({e}); train the run again") from e
    return meta, tokenizer, lm


def load_lean(run_dir: str | Path):
    """``(meta, tokenizer, vocab, BackoffLM)`` from the lean store, memory-mapped; None for a
    run without one (mle, addk, stupid, or trained before it existed)."""
    run = Path(run_dir)
    meta, tokenizer, _ = _read_meta(run)
    path = run / BACKOFF
    if meta.smoothing not in ("kn", "mkn") or not path.exists():
        return None
    vocab = Vocab.load(run / VOCAB)
    try:
        arrays = map_safetensors(path)
        n, V = meta.order, len(vocab)
        keys = [np.arange(V, dtype=np.int64)] + [arrays[f"keys.{k}"] for k in range(2, n + 1)]
        prob = [arrays[f"prob.{k}"] for k in range(1, n + 1)]
        backoff = [arrays[f"backoff.{k}"] for k in range(1, n)] + [np.zeros(0, np.float32)]
    except (ValueError, KeyError, OSError, TypeError) as e:
        raise RunDirError(f"{path} cannot be read ({e}); train the run again") from e
    problem = digest_mismatch(path, arrays)
    sizes_ok = all(len(p) == len(k) for p, k in zip(prob, keys, strict=True)) and all(
        len(b) == len(p) for b, p in zip(backoff[:-1], prob[:-1], strict=True)
    )
    keys_ok = all(_keys_ok(keys[k], V, len(keys[k - 1])) for k in range(1, n))
    if problem or not sizes_ok or not keys_ok:
        why = problem or "tables of the wrong size or keys out of order"
        raise RunDirError(f"{path} is damaged ({why}); train the run again")
    ids = (vocab.id_of(BOS), vocab.token_to_id(meta.boundary), vocab.unk_id)
    return meta, tokenizer, vocab, BackoffLM(keys, prob, backoff, *ids, bos_style=meta.bos_style)


def _keys_ok(keys: np.ndarray, V: int, below: int) -> bool:
    """Whether ``keys`` are sorted, unique and ``context_row * V + token`` with the context a row
    of a table of ``below`` rows."""
    return not len(keys) or bool(
        keys[0] >= 0 and keys[-1] // V < below and (np.diff(keys) > 0).all()
    )


def load_ngram(run_dir: str | Path):
    """``(meta, tokenizer, vocab, lm)`` of an n-gram run directory."""
    run = Path(run_dir)
    meta, tokenizer, lm = _read_meta(run)
    vocab = Vocab.load(run / VOCAB)
    try:
        arrays = load_file(str(run / COUNTS))
        tables = [
            Table(arrays[f"keys.{k}"], arrays[f"counts.{k}"], arrays[f"suffix.{k}"])
            for k in range(1, meta.order + 1)
        ]
    except (SafetensorError, KeyError, OSError) as e:
        raise RunDirError(
            f"{run / COUNTS} cannot be read ({type(e).__name__}); the run directory is damaged"
        ) from e
    problem = digest_mismatch(run / COUNTS, arrays)
    if problem:
        raise RunDirError(f"{run / COUNTS} is damaged ({problem}); train the run again")
    V = len(vocab)
    if len(tables[0].keys) != V or any(
        not len(t.keys) == len(t.counts) == len(t.suffix) for t in tables
    ):
        raise RunDirError(f"{run / COUNTS} does not fit {run / VOCAB}; the run is mixed or damaged")
    bad = _bad_table(tables, V)
    if bad:
        raise RunDirError(
            f"{run / COUNTS}: the table of order {bad} is damaged (ids out of range, keys out "
            "of order or negative counts); train the run again"
        )
    lm.V, lm.unk, lm.bos, lm.pad = V, vocab.unk_id, vocab.id_of(BOS), vocab.id_of(PAD)
    lm.boundary = vocab.token_to_id(meta.boundary)
    lm.counts = NGramCounts(meta.order, V, tables)
    with warnings.catch_warnings():  # the fallback was reported when the run was trained
        warnings.simplefilter("ignore", RnnkitWarning)
        lm._estimate()
    return meta, tokenizer, vocab, lm


def _check_types(meta: NGramMeta) -> None:
    """Raise ``TypeError`` for a field of the wrong JSON type (``"order": "3"``, say)."""
    hints = typing.get_type_hints(NGramMeta)
    for f in fields(meta):
        hint, value = hints[f.name], getattr(meta, f.name)
        allowed = allowed_types(hint)
        if float in allowed:
            allowed += (int,)
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            names = "/".join(t.__name__ for t in allowed)
            raise TypeError(f"{f.name} is {type(value).__name__}, not {names}")


def _bad_table(tables: list[Table], V: int) -> int | None:
    """The first order whose table breaks what the counting code relies on, or None.

    Order 1 is keyed by token id; above it keys are sorted, unique and ``context_row * V +
    token`` with the context a row of the order below, and so is every ``suffix``.
    """
    below = V  # rows of the table one order down
    for k, t in enumerate(tables, start=1):
        arrays = (t.keys, t.counts, t.suffix)
        ok = all(a.dtype == np.int64 and a.ndim == 1 for a in arrays)
        if ok and k == 1:
            ok = np.array_equal(t.keys, np.arange(V)) and bool((t.suffix == -1).all())
        elif ok and len(t.keys):
            ok = _keys_ok(t.keys, V, below) and t.suffix.min() >= 0 and t.suffix.max() < below
        if not (ok and (t.counts >= 0).all()):
            return k
        below = len(t.keys)
    return None
