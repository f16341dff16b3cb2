"""A poem run: a language-model run (``rnnkit poem train``) with ``poem.json`` beside it.

``poem.json`` records the corpus the model saw (form filter, script, poem counts); its presence
is what marks a run as trained on poems.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.errors import RunDirError

POEM_META = "poem.json"


def is_poem_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / POEM_META).exists()


def poem_corpus_name(data: str | Path) -> str | None:
    """The name of the poems a poem run's corpus folder (``RUN/corpus``, its ``--data``) was
    made from, e.g. ``tang-poetry`` or ``tang-poetry, jueju``; None for any other data."""
    data = Path(data)
    if data.name != "corpus":
        return None
    try:
        meta = json.loads((data.parent / POEM_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    name, form = meta.get("data"), meta.get("form")
    if not isinstance(name, str):
        return None
    return name if form in (None, "all") else f"{name}, {form}"


def load_poem_run(run_dir: str | Path, device="cpu"):
    """``(meta, vocab, model)`` of a poem run, the model ready for ``PoemDecoder``.

    Raises:
        RunDirError: not a run, or a run not trained on poems.
    """
    from rnnkit.train.checkpoint import load_for_inference

    meta_path = Path(run_dir) / POEM_META
    if Path(run_dir).is_dir() and not meta_path.exists():
        raise RunDirError(
            f"{run_dir} was not trained on poems (no {POEM_META}); train one with "
            "`rnnkit poem train --data tang-poetry --out DIR`"
        )
    _, _, vocab, model = load_for_inference(run_dir, device)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta, vocab, model
