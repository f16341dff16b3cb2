"""Served models: one adapter class per kind of run directory, loaded once, shared by requests.

An adapter says how to ``load`` a run directory and is made known with ``@register_kind`` under
its ``kind``, the name ``rnnkit.registry.runs`` gives that kind of run. ``load_models`` gives
each run directory to the adapter of the kind its run file names, so a new kind of model is one
more entry in ``rnnkit.registry.runs.RUN_KINDS``, one more adapter module, imported in
``rnnkit/serve/__init__.py``, and one more router. A model lists the ``endpoints`` it answers;
an endpoint picks its model among those that list it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rnnkit.errors import ConfigError, RnnkitError, RunDirError
from rnnkit.registry.runs import has_run, read_run
from rnnkit.serve.limits import FairLock

KINDS: dict[str, type[ServedModel]] = {}


class ModelNotFound(RnnkitError):
    """A request names a model this server does not serve (HTTP 404)."""


def register_kind(cls: type[ServedModel]) -> type[ServedModel]:
    """Class decorator: make an adapter available to ``load_models`` under ``cls.kind``."""
    if cls.kind in KINDS:
        raise ValueError(f"model kind {cls.kind!r} is already registered by {KINDS[cls.kind]}")
    KINDS[cls.kind] = cls
    return cls


class ServedModel:
    """Base of the adapters. One instance per served run directory.

    The model object is shared by every request, so calls into it hold ``self.lock`` (taken in
    the order asked for); they run in worker threads, never on the event loop.

    Attributes:
        kind: the adapter's registry key, a kind of ``rnnkit.registry.runs`` (``lm``, ``seq2seq``,
            ``classify``, ``forecast``).
        runs: the run directories it loads, in words, for the message that refuses others.
        read: the task's loader of a run directory, ``read(path, device)``.
        task: what this run was trained for (``text``, ``poem``, ``translation``, ...).
        endpoints: the paths that can use this model; it may depend on the task (a poem
            language model also answers ``/poem``).
        name: how requests refer to it (the run directory's folder name, made unique).
        config: the run's training config (a ``rnnkit.config.LoopConfig``), as saved in its
            run directory.
    """

    kind: ClassVar[str]
    runs: ClassVar[str]
    task: str
    endpoints: tuple[str, ...] = ()

    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        self.lock = FairLock()  # taken in turn: a batching worker takes it once per step

    @classmethod
    def load(cls, path: Path, name: str, device) -> ServedModel:
        """The model of the run directory ``path``, on ``device``, served as ``name``: unless
        an adapter says otherwise, its ``__init__`` takes what its ``read`` gives."""
        return cls(name, path, *cls.read(path, device), device)

    def describe(self) -> dict[str, Any]:
        """The ``GET /models`` entry. ``vocab_size`` and ``tokenizer`` are ``None`` here; the
        adapters whose runs have one vocabulary and an rnnkit tokenizer fill them in."""
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "endpoints": list(self.endpoints),
            "vocab_size": None,
            "tokenizer": None,
            "config": self.config.to_dict(),
        }


def unique_names(paths: Iterable[Path]) -> list[str]:
    """Folder names, with ``-2``, ``-3``, ... added to repeats so that every name is unique."""
    names: list[str] = []
    for path in paths:
        base = path.resolve().name or "model"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def load_models(run_dirs: Iterable[str | Path], device="cpu") -> list[ServedModel]:
    """Load every run directory with the adapter registered (``KINDS``) for the kind its run
    file names.

    Raises:
        RunDirError: a directory is missing or is not a run any adapter can serve.
    """
    paths = [Path(p) for p in run_dirs]
    adapters = []
    for path in paths:
        if not path.is_dir():
            raise RunDirError(f"run directory not found: {path}; give the --out of a trained run")
        kind = read_run(path).kind if has_run(path) else None  # a damaged run file says so
        adapter = KINDS.get(kind)
        if adapter is None:
            *others, last = [a.runs for a in KINDS.values()]
            served = f"{', '.join(others)} or {last}" if others else last
            raise RunDirError(f"{path} is not a run rnnkit serve can load; it serves {served}")
        adapters.append(adapter)
    names = unique_names(paths)
    return [a.load(p, n, device) for a, p, n in zip(adapters, paths, names, strict=True)]


class ModelSet:
    """The served models by name, and the lookup every endpoint uses."""

    def __init__(self, models: Iterable[ServedModel]):
        self.by_name: dict[str, ServedModel] = {}
        for model in models:
            if model.name in self.by_name:
                raise ValueError(f"two served models are named {model.name!r}")
            self.by_name[model.name] = model

    def __len__(self) -> int:
        return len(self.by_name)

    def __iter__(self):
        return iter(self.by_name.values())

    def pick(self, name: str | None, endpoint: str, what: str) -> ServedModel:
        """The model a request names, or the only one that answers ``endpoint`` when it names
        none.

        Args:
            endpoint: the path the request came to, such as ``/generate``.
            what: the models that answer it, in words for messages, such as "language model".

        Raises:
            ModelNotFound: no model has that name, or none answers ``endpoint``.
            ConfigError: the name is missing but several fit, or it names a model that does not
                answer ``endpoint``.
        """
        fitting = [m for m in self if endpoint in m.endpoints]
        if name is None:
            if len(fitting) == 1:
                return fitting[0]
            if not fitting:
                raise ModelNotFound(
                    f"this server serves no {what}, which {endpoint} needs; served: {self._names()}"
                )
            names = ", ".join(m.name for m in fitting)
            raise ConfigError(f"model is required: this server serves several {what}s ({names})")
        model = self.by_name.get(name)
        if model is None:
            raise ModelNotFound(f"no model named {name!r}; served: {self._names()}")
        if endpoint not in model.endpoints:
            can = ", ".join(m.name for m in fitting) or f"none; this server serves no {what}"
            raise ConfigError(
                f"model {name!r} ({model.kind}, task {model.task}) does not answer {endpoint}; "
                f"models that do: {can}"
            )
        return model

    def _names(self) -> str:
        return ", ".join(self.by_name) or "none"
