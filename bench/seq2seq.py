"""Translation quality: Multi30k de->en, test_2016_flickr, sacrebleu BLEU, per attention kind.

For each ``--attention`` given: train (bi-GRU encoder, GRU decoder, the stated CPU time budget,
best checkpoint on validation BLEU), then translate the test set greedily and with beam 5.
Reports BLEU, chrF, training time, training tokens/s and decoding sentences/s. Published
reference (bi-GRU encoder, additive attention, 10 epochs, greedy): BLEU 28.3, test perplexity
25.6; a 3-layer Transformer reaches 36.5.

    python bench/seq2seq.py --attention additive --minutes 60
    python bench/seq2seq.py --attention none,additive,dot --minutes 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, threads_option, use_threads  # noqa: E402

from rnnkit.registry.runs import read_run
from rnnkit.seq2seq.train import (  # noqa: E402
    Seq2SeqRunConfig,
    evaluate,
    load_run,
    load_split,
    train_run,
)


def run(attention: str, args) -> dict:
    out = Path(args.runs) / f"multi30k-{attention}"
    config = Seq2SeqRunConfig(
        data="multi30k",
        src_lang="de",
        tgt_lang="en",
        attention=attention,
        embed_size=args.embed,
        hidden_size=args.hidden,
        epochs=args.epochs,
        max_minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        dropout=args.dropout,
        label_smoothing=args.label_smoothing,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if args.skip_training:  # evaluate the run a previous call trained
        history = read_run(out).history
    else:
        history = train_run(
            config, out, log=lambda line: print(f"[{attention}] {line}", flush=True)
        )
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if args.skip_training:
        train_s, train_cpu = history["seconds"], None
    _, src_vocab, tgt_vocab, model = load_run(out)
    test = load_split(config, "test")
    row = {
        "attention": attention,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "epochs": len(history["epochs"]),
        "best_epoch": history["best_epoch"],
        "best_valid_bleu": history["best"],
        "train_tokens_per_s": statistics.mean(
            e["train_tokens_per_s"] for e in history["epochs"] if e.get("train_tokens_per_s")
        ),
    }
    for beam in (1, 5):
        ev = evaluate(model, test, src_vocab, tgt_vocab, beam=beam)
        ev.pop("hypotheses")
        row[f"beam{beam}"] = ev
    g, b = row["beam1"], row["beam5"]
    print(f"BLEU signature: {b['bleu_signature']}", flush=True)
    print(
        f"| {attention} | {g['bleu']:.2f} | {b['bleu']:.2f} | {b['chrf']:.2f} | "
        f"{g['perplexity']:.2f} | {train_s / 60:.0f} min, {row['epochs']} epochs | "
        f"{row['train_tokens_per_s']:,.0f} | {g['sentences_per_s']:.0f} / "
        f"{b['sentences_per_s']:.0f} |",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attention", default="additive", help="comma-separated: none,additive,dot")
    ap.add_argument("--minutes", type=float, default=60.0, help="training budget per model")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/bench-seq2seq")
    ap.add_argument(
        "--skip-training", action="store_true", help="evaluate the runs already in --runs"
    )
    threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    rows = {}
    print(
        "| attention | BLEU greedy | BLEU beam 5 | chrF beam 5 | test ppl | training | "
        "train tokens/s | decode sentences/s greedy / beam 5 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for attention in args.attention.split(","):
        rows[attention] = run(attention, args)
        save(
            f"seq2seq-{attention}",
            {"machine": machine(), "args": vars(args), "row": rows[attention]},
        )


if __name__ == "__main__":
    main()
