"""Intent accuracy and slot F1 on SNIPS test, per model variant.

Each variant trains on SNIPS train (13,084 utterances), keeps the best epoch on valid
(mean of intent accuracy and slot F1 for joint models), and is scored on test (700):
intent accuracy, slot F1 (conlleval, entity level), sentence accuracy (intent and every slot
right), training time and predictions per second (batched, and one sentence at a time).
Published references: Slot-Gated (Goo et al., 2018) 97.0% / 88.8 F1 / 75.5% sentence; joint
bi-LSTM (Hakkani-Tur et al., 2016) 96.9% / 87.3 F1.

    python bench/classify.py --variants joint-crf,joint-softmax,intent --minutes 15
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, threads_option, use_threads  # noqa: E402

from rnnkit.classify.data import Encoded, load_sentences  # noqa: E402
from rnnkit.classify.train import (  # noqa: E402
    ClassifyRunConfig,
    evaluate,
    load_run,
    predict_batches,
    train_run,
)
from rnnkit.registry.runs import read_run

VARIANTS = {
    # BiLSTM + character CNN, CRF over the slots, attention pooling for the intent.
    "joint-crf": dict(task="joint"),
    "joint-softmax": dict(task="joint", crf=False),
    "joint-nochars": dict(task="joint", char_embed=0),
    "joint-gru": dict(task="joint", cell="gru"),
    "intent": dict(task="intent"),
    "slots": dict(task="slots"),
}


def one_at_a_time(model, vocabs, sentences, n=200) -> float:
    """Sentences per second when each is predicted alone (an interactive user)."""
    subset = sentences.subset(range(min(n, len(sentences))))
    t0 = time.perf_counter()
    for i in range(len(subset)):
        enc = Encoded(subset.subset([i]), vocabs, model.config.char_embed > 0)
        predict_batches(model, enc, batch_size=1)
    return len(subset) / (time.perf_counter() - t0)


def run(name: str, args) -> dict:
    out = Path(args.runs) / name
    config = ClassifyRunConfig(
        epochs=args.epochs,
        max_minutes=args.minutes,
        seed=args.seed,
        word_dropout=args.word_dropout,
        **VARIANTS[name],
    )
    t0 = time.perf_counter()
    if args.skip_training:  # speed and test figures of runs trained before
        history = read_run(out).history
        train_s = history["seconds"]
    else:
        history = train_run(config, out, log=lambda line: print(f"[{name}] {line}", flush=True))
        train_s = time.perf_counter() - t0
    _, vocabs, model = load_run(out)
    test = load_sentences("snips", "test")
    result = evaluate(model, test, vocabs)
    row = {
        "variant": name,
        "config": VARIANTS[name],
        "train_seconds": train_s,
        "epochs": len(history["epochs"]),
        "best_epoch": history["best_epoch"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "intent_accuracy": result.get("intent", {}).get("accuracy"),
        "intent_macro_f1": result.get("intent", {}).get("macro_f1"),
        "slot_f1": result.get("slots", {}).get("f1"),
        "sentence_accuracy": result.get("sentence_accuracy"),
        "sentences_per_s_batched": result["sentences_per_s"],
        "sentences_per_s_single": one_at_a_time(model, vocabs, test),
    }

    def pct(x):
        return "-" if x is None else f"{100 * x:.2f}"

    print(
        f"| {name} | {pct(row['intent_accuracy'])} | {pct(row['slot_f1'])} | "
        f"{pct(row['sentence_accuracy'])} | {train_s / 60:.1f} min, {row['epochs']} epochs "
        f"(best {row['best_epoch']}) | {row['sentences_per_s_batched']:,.0f} / "
        f"{row['sentences_per_s_single']:,.0f} |",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--variants", default="joint-crf", help=f"comma-separated: {', '.join(VARIANTS)}"
    )
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget per variant")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--word-dropout", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/bench-classify")
    ap.add_argument("--skip-training", action="store_true", help="reuse the runs in --runs")
    threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    print(
        "| variant | intent acc % | slot F1 | sentence acc % | training "
        "| sentences/s batched / single |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}: choose from {', '.join(VARIANTS)}")
        row = run(name, args)
        save(f"classify-{name}", {"machine": machine(), "args": vars(args), "row": row})


if __name__ == "__main__":
    main()
