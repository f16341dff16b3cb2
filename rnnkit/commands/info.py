"""``rnnkit info``: what a run directory holds and how it was trained."""

from __future__ import annotations

import json

import click

from rnnkit.commands.common import CONTEXT, RUN_DIR, json_option


@click.command("info", context_settings=CONTEXT)
@RUN_DIR
@json_option()
def info(run_dir, as_json):
    """Describe a run directory: its kind, config, vocabulary size, parameter count, weights
    file sizes and training summary (steps, epochs, time, best validation result and when).

    RUN_DIR may be a run of `rnnkit train`, `rnnkit poem train`, `rnnkit ngram train`,
    `rnnkit seq2seq train`, `rnnkit classify train`, `rnnkit tag train` or
    `rnnkit forecast train`. Nothing is loaded but the run's small files and the header of its
    weights, so it is quick on any run.
    """
    from rnnkit.runinfo import run_info

    summary = run_info(run_dir)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return
    for label, value in _lines(summary):
        click.echo(f"{label:<11}{value}")
    for title, fields in (("config", summary.config), ("model", summary.model or {})):
        if fields:
            click.echo(title)
        for key, value in fields.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            click.echo(f"  {key}: {shown}")


def _lines(s) -> list[tuple[str, str]]:
    """``(label, text)`` rows of the summary, config aside."""
    rows = [("run", s.path), ("kind", f"{s.kind} ({s.what}), task {s.task}")]
    if s.vocabularies:
        sizes = s.vocabularies
        shown = f"{sizes['tokens']:,} tokens" if list(sizes) == ["tokens"] else _pairs(sizes)
        rows.append(("vocabulary", shown))
    if s.parameters is not None:
        rows.append(("parameters", f"{s.parameters:,}"))
    if "ngrams" in s.extra:
        rows.append(("n-grams", _pairs(s.extra["ngrams"])))
        rows.append(("counted", f"{s.extra['train_tokens']:,} training tokens in one pass"))
    if s.files:
        rows.append(("files", ", ".join(f"{n} {_size(b)}" for n, b in s.files.items())))
    if s.history is not None:
        rows += _training(s.history)
    if "poem" in s.extra:
        rows.append(("poems", _pairs({k: v for k, v in s.extra["poem"].items() if v is not None})))
    if s.extra.get("columns"):
        period = s.extra.get("period")
        rows.append(
            ("columns", ", ".join(s.extra["columns"]) + (f" (period {period})" if period else ""))
        )
    return rows


def _training(h) -> list[tuple[str, str]]:
    """The ``training`` and ``best`` rows."""
    parts = []
    if h.steps is not None:
        parts.append(f"{h.steps:,} steps")
    if h.epochs is not None:
        parts.append(f"{h.epochs} epochs")
    if h.seconds is not None:
        parts.append(_duration(h.seconds))
    if h.stop:
        parts.append(f"stopped: {h.stop}")
    rows = [("training", ", ".join(parts) or "no record")]
    b = h.best
    if b is None:
        return [*rows, ("best", "no validation result")]
    value = b.shown or ("none" if b.value is None else f"{b.value:.4g}")
    when = [f"{k} {v}" for k, v in (("step", b.step), ("epoch", b.epoch)) if v is not None]
    return [*rows, ("best", f"{b.metric} {value}" + (f" at {', '.join(when)}" if when else ""))]


def _pairs(d: dict) -> str:
    return ", ".join(
        f"{k} {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k} {v}"
        for k, v in d.items()
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
