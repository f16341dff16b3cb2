"""Metrics log (JSON lines) and the training-curve plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rnnkit.io import atomic_write_text, storage_error


class MetricsLog:
    """Append-only JSON-lines log; ``truncate_after(step)`` drops rows a resumed run will redo."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, row: dict) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:
            raise storage_error(self.path, e) from e

    def lines(self) -> list[tuple[str, dict]]:
        """Every line with its row (none without a log), but a line cut by a crash."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append((line, json.loads(line)))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_after(self, step: int) -> None:
        if self.path.exists():
            kept = [line + "\n" for line, row in self.lines() if row.get("step", 0) <= step]
            atomic_write_text(self.path, "".join(kept))


def plot_curves(rows: list[dict], path: Path, title: str = "", metric: str = "valid_loss") -> None:
    """Training curves against step, with the learning rate below.

    A language model shows train and validation perplexity (log scale); any other task shows
    its training loss with its validation ``metric`` (BLEU, accuracy, MSE) on a second axis.
    """
    from rnnkit.figures import new_figure, save_figure

    perplexity = metric == "valid_loss"
    train_key, valid_key = ("train_ppl", "valid_ppl") if perplexity else ("train_loss", metric)
    train = [(r["step"], r[train_key]) for r in rows if r.get("kind") == "train" and train_key in r]
    valid = [(r["step"], r[valid_key]) for r in rows if r.get("kind") == "eval" and valid_key in r]
    lr = [(r["step"], r["lr"]) for r in rows if r.get("kind") == "train"]
    fig, (ax, ax_lr) = new_figure(7, 5.5, rows=2, sharex=True, height_ratios=[3, 1])
    if train:
        ax.plot(*zip(*train, strict=True), label="train", lw=1, alpha=0.8)
    ax_valid = ax if perplexity else ax.twinx()
    if valid:
        ax_valid.plot(
            *zip(*valid, strict=True), "o-", color="tab:orange", label="validation", lw=1.5
        )
    finite = [p for _, p in train + (valid if perplexity else []) if math.isfinite(p)]
    if finite and min(finite) > 0:
        ax.set_yscale("log")
    ax.set_ylabel("perplexity" if perplexity else "train loss")
    if not perplexity:
        names = {"bleu": "BLEU", "valid_mse": "MSE", "valid_score": "score"}
        ax_valid.set_ylabel(f"validation {names.get(metric, metric)}")
    ax.grid(True, which="both", alpha=0.3)
    handles = ax.get_legend_handles_labels()
    if ax_valid is not ax:
        more = ax_valid.get_legend_handles_labels()
        handles = (handles[0] + more[0], handles[1] + more[1])
    if handles[0]:
        ax.legend(*handles)
    ax.set_title(title or "training curves")
    if lr:
        ax_lr.plot(*zip(*lr, strict=True), color="tab:gray", lw=1)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(True, alpha=0.3)
    save_figure(fig, path, dpi=100)
