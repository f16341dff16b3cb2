"""N-gram language models: perplexity by order and smoothing, speed against NLTK, fit memory.

``table``: PTB test perplexity of orders 1-5 under every smoothing, with fit times (median of
``--reps``). ``nltk``: a PTB trigram fitted and scored by rnnkit and by ``nltk.lm`` in the same
process, interpolated Kneser-Ney and MLE. NLTK's Kneser-Ney scores about ten tokens a second, so
NLTK scores the test tokens in order until ``--nltk-seconds`` have passed and its rate is
extrapolated; rnnkit scores the whole test set. ``memory``: fit time and memory of orders 3 and
5 (kn, mkn) on WikiText-2, each configuration in a fresh subprocess so that its peak RSS is its
own. ``kenlm``: a mkn model of orders 3 and 5 fitted by rnnkit, saved and exported as ARPA, then
scored on the test split by rnnkit (from the run directory and from the ARPA file) and by KenLM's
Python module (the ARPA file, probing) in this process: perplexity, tokens/s, load time and
memory. ``--clock cpu`` times scoring in process CPU time instead of wall time (steadier on a
shared machine: a process waiting for a core is not charged). ``--turns`` has each rnnkit
row's process load KenLM too once its own figures are taken and score in turns with it, ``vs
KenLM`` then being the median of the per-turn ratios (the steadiest ratio while other jobs
come and go). ``--baseline DIR`` adds the rnnkit rows of another checkout (DIR holds its
``rnnkit`` package), scored in the same run, so a change is measured against the code before
it. Without a subcommand all four run.

    RNNKIT_DATA=../shared/data python bench/ngram.py
    python bench/ngram.py table --reps 3
    python bench/ngram.py nltk --reps 3 --nltk-seconds 30
    python bench/ngram.py memory --reps 3
    python bench/ngram.py kenlm --reps 3 --datasets ptb,wikitext-2
    python bench/ngram.py kenlm --reps 20 --datasets ptb --clock cpu --turns --baseline ../before
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, spread  # noqa: E402

from rnnkit.errors import RnnkitWarning  # noqa: E402
from rnnkit.ngram import NGramLM  # noqa: E402
from rnnkit.registry.datasets import load_split_text  # noqa: E402
from rnnkit.text.corpus import build_vocab, encode_text  # noqa: E402
from rnnkit.text.tokenizers import build_tokenizer  # noqa: E402

SMOOTHINGS = ["mle", "addk", "kn", "mkn", "stupid"]
ORDERS = [1, 2, 3, 4, 5]
MEMORY_CASES = [(3, "kn"), (3, "mkn"), (5, "kn"), (5, "mkn")]
GENERATE_TOKENS = 1000

# KenLM's PROBING structure, for the same n-gram counts. Entry layouts from the KenLM source
# (kpu/kenlm): unigrams are an array of ProbBackoff (float prob + float backoff, 8 bytes,
# lm/search_hashed.hh Unigram::Size, one extra for <unk>); middle orders are hash entries of a
# 64-bit key + ProbBackoff (16 bytes, BackoffValue::ProbingEntry in lm/value.hh); the highest
# order drops the backoff (ProbEntry, 12 bytes packed, lm/search_hashed.hh). A table holds
# max(n + 1, p * n) entries (util/probing_hash_table.hh ProbingHashTable::Size) with the
# probing multiplier p = 1.5 by default (https://kheafield.com/code/kenlm/structures/).
KENLM_SOURCE = (
    "KenLM PROBING size formula for the same counts: 8 B per unigram, 16 B per middle-order and "
    "12 B per highest-order hash entry, x1.5 buckets (default -p 1.5); kpu/kenlm "
    "lm/search_hashed.hh, lm/value.hh, util/probing_hash_table.hh; "
    "https://kheafield.com/code/kenlm/structures/"
)
KENLM_MULTIPLIER = 1.5


def kenlm_probing_bytes(sizes: list[int], multiplier: float = KENLM_MULTIPLIER) -> int:
    """Bytes of a KenLM PROBING model with ``sizes[k]`` n-grams of order k + 1 (order >= 2)."""

    def table(entries: int, entry_bytes: int) -> int:
        return max(entries + 1, int(multiplier * entries)) * entry_bytes

    middle = sum(table(n, 16) for n in sizes[1:-1])
    return (sizes[0] + 1) * 8 + middle + table(sizes[-1], 12)


def load(name: str, tokenizer: str = "word"):
    """Tokenizer, vocab (every training token), raw train/test text and their ids."""
    tok = build_tokenizer(tokenizer)
    train, test = load_split_text(name, "train"), load_split_text(name, "test")
    vocab = build_vocab(train, tok, 1, None)
    return tok, vocab, train, test, encode_text(train, tok, vocab), encode_text(test, tok, vocab)


def fit(order: int, smoothing: str, ids, vocab, tok) -> tuple[NGramLM, float, list[str]]:
    """Fit once; returns the model, seconds and the messages of the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RnnkitWarning)
        t0 = time.perf_counter()
        lm = NGramLM(order, smoothing).fit_vocab(ids, vocab, tok.boundary)
        seconds = time.perf_counter() - t0
    return lm, seconds, [str(w.message) for w in caught if issubclass(w.category, RnnkitWarning)]


def fit_text(order: int, smoothing: str, text: str, tok) -> tuple[NGramLM, float]:
    """Fit from raw text, timed whole (tokenize, vocabulary, encode, count): what NLTK's timed
    fit is given too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RnnkitWarning)
        t0 = time.perf_counter()
        vocab = build_vocab(text, tok, 1, None)
        lm = NGramLM(order, smoothing).fit_vocab(encode_text(text, tok, vocab), vocab, tok.boundary)
        return lm, time.perf_counter() - t0


def fmt_ppl(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:,.1f}"


def finite_or_str(x: float) -> float | str:
    """``x`` for JSON, which has no infinity."""
    return x if math.isfinite(x) else "inf"


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """This process image's peak RSS (VmHWM). Not ``ru_maxrss``: that one keeps the parent's
    peak across the vfork + exec that starts a subprocess."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Set VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------- table
def run_table(args) -> None:
    tok, vocab, _, _, ids, tids = load("ptb")
    print(f"PTB: {len(ids):,} training tokens, {len(tids):,} test tokens, |V| = {len(vocab):,}")
    print("| order | n-grams | mle | add-1 | kn | mkn | stupid* | fit time |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    notes: set[str] = set()
    for order in ORDERS:
        cells, ppls = {}, []
        for smoothing in SMOOTHINGS:
            times, messages = [], []
            for _ in range(args.reps):
                lm, seconds, messages = fit(order, smoothing, ids, vocab, tok)
                times.append(seconds)
            t0 = time.perf_counter()
            ppl = lm.perplexity(tids)
            score_s = time.perf_counter() - t0
            ppls.append(fmt_ppl(ppl))
            cells[smoothing] = {
                "perplexity": finite_or_str(ppl),
                "fit_s": spread(times),
                "score_s": score_s,
                "discounts": lm.discounts,
                "warnings": messages,
            }
            notes.update(f"{smoothing}, {order}-gram model: {m}" for m in messages)
        fits = [cells[s]["fit_s"]["median"] for s in SMOOTHINGS]
        ngrams = sum(lm.sizes)
        rows.append({"order": order, "ngrams": ngrams, "sizes": lm.sizes, "smoothings": cells})
        print(f"| {order} | {ngrams:,} | {' | '.join(ppls)} | {min(fits):.3f}-{max(fits):.3f} s |")
    print(
        "\n*stupid backoff gives scores, not probabilities; its figure is exp(-mean log score), a"
        " pseudo-perplexity not comparable with the others. mle is ∞ when a test token gets"
        " probability 0. add-1 is add-k with k = 1. Fit time: median of"
        f" {args.reps} fits, the range over the five smoothings."
    )
    for note in sorted(notes):
        print("note:", note)
    result = {
        "machine": machine(),
        "dataset": "ptb",
        "train_tokens": len(ids),
        "test_tokens": len(tids),
        "vocab": len(vocab),
        "reps": args.reps,
        "pseudo_perplexity": ["stupid"],
        "results": rows,
    }
    print("saved", save("ngram-table", result))


# ---------------------------------------------------------------------------- nltk
def sentences(text: str) -> list[list[str]]:
    """One sentence per line, split on white space: what the word tokenizer sees."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split() for line in lines]


def test_trigrams(sents: list[list[str]]) -> list[tuple[str, tuple[str, str]]]:
    """(word, context) for every predicted token: the words and the sentence end, with the
    context padded on the left by two ``<s>``, as rnnkit pads with ``<bos>``."""
    out = []
    for sent in sents:
        padded = ["<s>", "<s>", *sent, "</s>"]
        out.extend((padded[i], (padded[i - 2], padded[i - 1])) for i in range(2, len(padded)))
    return out


def score_prefix(lm, grams, seconds: float) -> tuple[np.ndarray, float]:
    """NLTK log2 scores of ``grams`` in order until ``seconds`` have passed (at least one)."""
    out = []
    t0 = time.perf_counter()
    for word, context in grams:
        out.append(lm.logscore(word, context))
        if time.perf_counter() - t0 >= seconds:
            break
    return np.array(out), time.perf_counter() - t0


def run_nltk(args) -> None:
    from nltk.lm import MLE, KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    tok, vocab, train, test, ids, tids = load("ptb")
    test_sents = sentences(test)
    grams = test_trigrams(test_sents)
    assert len(grams) == len(tids), (len(grams), len(tids))
    print(f"PTB: {len(ids):,} training tokens, {len(tids):,} test tokens, trigram models")

    ours = {}
    for smoothing in ("kn", "mle"):
        fit_s, score_s = [], []
        for _ in range(args.reps):
            lm, seconds = fit_text(3, smoothing, train, tok)
            fit_s.append(seconds)
            t0 = time.perf_counter()
            logprobs, _ = lm.token_logprobs(tids)
            score_s.append(time.perf_counter() - t0)
        ours[smoothing] = {
            "model": lm,
            "logprobs": logprobs,
            "fit_s": spread(fit_s),
            "score_s": spread(score_s),
            "score_tokens_per_s": len(tids) / statistics.median(score_s),
        }
    gen_s = []
    for r in range(args.reps):
        t0 = time.perf_counter()
        ours["kn"]["model"].generate(GENERATE_TOKENS, seed=r)
        gen_s.append(time.perf_counter() - t0)

    gc.collect()
    rss0 = current_rss()
    # Timed from the same input as rnnkit's fit: the raw training text.
    t0 = time.perf_counter()
    train_data, padded_vocab = padded_everygram_pipeline(3, sentences(train))
    nltk_kn = KneserNeyInterpolated(3)
    nltk_kn.fit(train_data, padded_vocab)
    nltk_fit_s = time.perf_counter() - t0
    nltk_rss = current_rss() - rss0
    nltk_mle = MLE(3, vocabulary=nltk_kn.vocab, counter=nltk_kn.counts)  # the same counting fit

    theirs = {}
    for smoothing, model in (("kn", nltk_kn), ("mle", nltk_mle)):
        log2, seconds = score_prefix(model, grams, args.nltk_seconds)
        theirs[smoothing] = {"log2": log2, "seconds": seconds, "tokens": len(log2)}

    # Both sides score the same tokens in the same order: MLE agrees wherever NLTK's is nonzero
    # (rnnkit backs off to a shorter context where NLTK's MLE gives 0).
    nltk_ln = theirs["mle"]["log2"] * math.log(2)
    ours_ln = ours["mle"]["logprobs"][: len(nltk_ln)]
    seen = np.isfinite(nltk_ln)
    mle_diff = float(np.abs(nltk_ln[seen] - ours_ln[seen]).max()) if seen.any() else math.nan

    results, prefix_ppl = {}, {}
    print(
        "| trigram | rnnkit fit | NLTK fit | fit speedup | rnnkit scoring | NLTK scoring "
        "| scoring speedup |"
    )
    print("|---|---|---|---|---|---|---|")
    names = {"kn": "interpolated Kneser-Ney", "mle": "MLE"}
    for smoothing in ("kn", "mle"):
        o, t = ours[smoothing], theirs[smoothing]
        nltk_tps = t["tokens"] / t["seconds"]
        n = t["tokens"]
        nltk_ppl = float(np.exp(-(t["log2"] * math.log(2)).mean()))
        results[smoothing] = {
            "rnnkit_fit_s": o["fit_s"],
            "rnnkit_score_s": o["score_s"],
            "rnnkit_score_tokens": len(tids),
            "rnnkit_score_tokens_per_s": o["score_tokens_per_s"],
            "nltk_fit_s": nltk_fit_s,
            "nltk_score_tokens": n,
            "nltk_score_s": t["seconds"],
            "nltk_score_tokens_per_s": nltk_tps,
            "fit_speedup": nltk_fit_s / o["fit_s"]["median"],
            "score_speedup": o["score_tokens_per_s"] / nltk_tps,
            "prefix_perplexity_rnnkit": finite_or_str(float(np.exp(-o["logprobs"][:n].mean()))),
            "prefix_perplexity_nltk": finite_or_str(nltk_ppl),
        }
        prefix_ppl[smoothing] = (float(np.exp(-o["logprobs"][:n].mean())), nltk_ppl)
        r = results[smoothing]
        print(
            f"| {names[smoothing]} | {o['fit_s']['median']:.2f} s | {nltk_fit_s:.1f} s | "
            f"{r['fit_speedup']:,.0f}x | {o['score_tokens_per_s']:,.0f} tokens/s | "
            f"{nltk_tps:,.1f} tokens/s ({n:,} tokens in {t['seconds']:.1f} s) | "
            f"{r['score_speedup']:,.0f}x |"
        )
    g = spread(gen_s)
    print(
        f"\nrnnkit kn trigram, generate {GENERATE_TOKENS:,} tokens: {g['median']:.3f} s median "
        f"({g['min']:.3f}-{g['max']:.3f} s, {args.reps} runs)"
    )
    print(
        f"rnnkit: median of {args.reps} fits; scoring is token_logprobs over all {len(tids):,} "
        "test tokens. NLTK: one fit (padded_everygram_pipeline + fit, shared by both models: "
        f"MLE reuses the Kneser-Ney model's counts), RSS +{fmt_bytes(nltk_rss)}; scoring is "
        "logscore(word, context) over the first test tokens for "
        f"--nltk-seconds {args.nltk_seconds:g}, extrapolated."
    )
    print(
        f"MLE check on the {int(seen.sum()):,} of {len(seen):,} scored tokens NLTK gives a "
        f"nonzero probability: max |ln p difference| = {mle_diff:.2e}. On the Kneser-Ney "
        "prefix, perplexity rnnkit "
        f"{fmt_ppl(prefix_ppl['kn'][0])} vs NLTK {fmt_ppl(prefix_ppl['kn'][1])}"
        " (different estimators: NLTK's discount is a fixed 0.1 and its lowest order has no"
        " uniform term)."
    )
    result = {
        "machine": machine(),
        "dataset": "ptb",
        "order": 3,
        "train_tokens": len(ids),
        "test_tokens": len(tids),
        "reps": args.reps,
        "nltk_seconds": args.nltk_seconds,
        "nltk_fit_rss_bytes": nltk_rss,
        "mle_check": {"tokens": int(seen.sum()), "max_abs_ln_diff": mle_diff},
        "generate": {"tokens": GENERATE_TOKENS, "smoothing": "kn", "seconds": g},
        "results": results,
    }
    print("saved", save("ngram-nltk", result))


# ---------------------------------------------------------------------------- memory
def fit_child(dataset: str, order: int, smoothing: str, reps: int) -> dict:
    """Measure one configuration; meant to run alone in its own process."""
    tok, vocab, _, _, ids, _ = load(dataset)
    gc.collect()
    reset = reset_peak_rss()
    rss_data, peak_before = current_rss(), peak_rss()
    lm, first_s, _ = fit(order, smoothing, ids, vocab, tok)
    peak_after = peak_rss()
    times = [first_s]
    for _ in range(reps - 1):
        del lm
        gc.collect()
        lm, seconds, _ = fit(order, smoothing, ids, vocab, tok)
        times.append(seconds)
    sizes, nbytes = lm.sizes, lm.nbytes()
    del lm
    gc.collect()
    tracemalloc.start()
    lm, _, _ = fit(order, smoothing, ids, vocab, tok)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "dataset": dataset,
        "tokens": len(ids),
        "order": order,
        "smoothing": smoothing,
        "fit_s": spread(times),
        "tracemalloc_peak_bytes": traced_peak,
        "rss_after_data_bytes": rss_data,
        "peak_rss_bytes": peak_after,
        "peak_rss_reset_before_fit": reset,
        # Without the reset, a fit that did not raise the peak gives an upper bound.
        "peak_rss_over_data_bytes": peak_after - rss_data,
        "peak_rss_exact": reset or peak_after > peak_before,
        "nbytes": nbytes,
        "sizes": sizes,
        "ngrams": sum(sizes),
        "bytes_per_ngram": nbytes / sum(sizes),
        "kenlm_probing_bytes": kenlm_probing_bytes(sizes),
        "kenlm_probing_bytes_per_ngram": kenlm_probing_bytes(sizes) / sum(sizes),
    }


def run_memory(args) -> None:
    rows = []
    print(
        "| order | smoothing | fit time | fit peak (tracemalloc) | peak RSS over data | "
        "model nbytes | n-grams | bytes/n-gram | KenLM probing bytes/n-gram† |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for order, smoothing in MEMORY_CASES:
        cmd = [
            sys.executable,
            __file__,
            "_fit_child",
            "--dataset",
            args.dataset,
            "--order",
            str(order),
            "--smoothing",
            smoothing,
            "--reps",
            str(args.reps),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"child failed: {' '.join(cmd)}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        bound = "" if r["peak_rss_exact"] else "≤ "
        print(
            f"| {order} | {smoothing} | {r['fit_s']['median']:.2f} s | "
            f"{fmt_bytes(r['tracemalloc_peak_bytes'])} | "
            f"{bound}{fmt_bytes(r['peak_rss_over_data_bytes'])} | {fmt_bytes(r['nbytes'])} | "
            f"{r['ngrams']:,} | {r['bytes_per_ngram']:.1f} | "
            f"{r['kenlm_probing_bytes_per_ngram']:.1f} |"
        )
    print(
        f"\n{args.dataset} train, {rows[0]['tokens']:,} tokens; one fresh process per row. Fit "
        f"time: median of {args.reps}. Fit peak: tracemalloc peak over one fit (numpy arrays "
        "included). Peak RSS over data: peak RSS (VmHWM, reset after loading) over the first "
        "fit minus the RSS after loading and encoding. Model nbytes: "
        "NGramLM.nbytes(), the resident model. n-grams: "
        "sum of lm.sizes."
    )
    print(f"†Not measured: {KENLM_SOURCE}.")
    result = {
        "machine": machine(),
        "dataset": args.dataset,
        "reps": args.reps,
        "kenlm_reference": {"multiplier": KENLM_MULTIPLIER, "source": KENLM_SOURCE},
        "results": rows,
    }
    print("saved", save("ngram-memory", result))


# ---------------------------------------------------------------------------- kenlm
KENLM_KINDS = {
    "run": "rnnkit, run directory",
    "arpa": "rnnkit, ARPA file",
    "kenlm": "KenLM module, ARPA file (probing)",
}


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def kenlm_child(
    kind: str, path: str, dataset: str, reps: int, clock: str = "wall", turns_with: str = ""
) -> dict:
    """Load one model and score the test split; meant to run alone in its own process, so
    that its peak RSS is its own. The test text and the libraries are loaded first: the
    baseline that load and scoring are measured from. With ``turns_with`` (an ARPA file), KenLM
    then loads it too and the two score in turns: ``ratio`` is the median over the turns of
    KenLM's time over this model's, each pair measured at the same moment."""
    import kenlm

    from rnnkit.ngram.arpa import escape_token
    from rnnkit.ngram.load import load_model

    test = load_split_text(dataset, "test")
    # every line, blank ones too: rnnkit's word tokenizer gives each its </s>
    lines = [" ".join(escape_token(t) for t in line.split()) for line in test.splitlines()]
    gc.collect()
    reset_peak_rss()
    base = current_rss()
    t0 = time.perf_counter()
    model = kenlm.Model(path) if kind == "kenlm" else load_model(path)
    load_s = time.perf_counter() - t0
    loaded = current_rss()
    now = CLOCKS[clock]

    def score(model) -> tuple[float, int, float]:
        """(seconds, tokens, perplexity) of one pass over the test split."""
        t0 = now()
        if isinstance(model, kenlm.Model):  # one call per line, <s> and </s> as KenLM adds them
            logp10 = sum(model.score(line) for line in lines)
            tokens = sum(len(line.split()) + 1 for line in lines)
            ppl = 10 ** (-logp10 / tokens)
        else:  # from the raw text: tokenizing and encoding included
            lp, _ = model.lm.token_logprobs(model.encode(test))
            tokens, ppl = len(lp), math.exp(-float(lp.mean()))
        return now() - t0, tokens, ppl

    times = []
    for _ in range(reps):
        seconds, tokens, ppl = score(model)
        times.append(seconds)
    row = {
        "model": KENLM_KINDS[kind],
        "kind": kind,
        "perplexity": ppl,
        "tokens": int(tokens),
        "load_s": load_s,
        "score_s": spread(times),
        "tokens_per_s": tokens / statistics.median(times),
        "rss_added_by_load_bytes": loaded - base,
        "peak_over_base_bytes": peak_rss() - base,
        "peak_rss_bytes": peak_rss(),
    }
    if turns_with:
        reference = kenlm.Model(turns_with)
        ratios = [score(reference)[0] / score(model)[0] for _ in range(reps)]
        row["ratio_in_turns"] = spread(ratios)
    return row


def _kenlm_rows(dataset: str, order: int, args, tmp: Path) -> list[dict]:
    from rnnkit.ngram.arpa import write_arpa
    from rnnkit.ngram.store import NGramMeta, save_ngram

    tok, vocab, _, _, ids, _ = load(dataset)
    lm, fit_s, _ = fit(order, "mkn", ids, vocab, tok)
    paths = {"run": tmp / f"{dataset}-{order}", "arpa": tmp / f"{dataset}-{order}.arpa"}
    save_ngram(
        paths["run"], lm, vocab, NGramMeta(order, "mkn", bos_style=lm.bos_style, data=dataset)
    )
    write_arpa(lm, vocab, paths["arpa"])
    paths["kenlm"] = paths["arpa"]
    del lm
    runs = [(kind, None) for kind in KENLM_KINDS]
    if args.baseline:  # the other checkout's rnnkit reads the same files
        runs[2:2] = [(kind, args.baseline) for kind in ("run", "arpa")]
    rows = []
    for kind, code in runs:
        cmd = [sys.executable, __file__, "_kenlm_child", kind, str(paths[kind]), dataset]
        turns = args.turns and kind != "kenlm"
        cmd += [str(args.reps), args.clock, str(paths["arpa"]) if turns else ""]
        env = os.environ | ({"PYTHONPATH": str(Path(code).resolve())} if code else {})
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"child failed: {' '.join(cmd)}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if code:
            row["model"] = f"{row['model']} ({_checkout(code)})"
        rows.append(row | {"dataset": dataset, "order": order, "fit_s": fit_s, "code": code})
    return rows


def _checkout(path: str) -> str:
    """The commit of a checkout (its folder name when it is not a git work tree)."""
    out = subprocess.run(
        ["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else Path(path).name


def run_kenlm(args) -> None:
    import tempfile

    try:
        import kenlm  # noqa: F401
    except ImportError:
        print("skipped: the kenlm module is not installed (make install-dev builds it)")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            for order in (3, 5):
                rows.extend(_kenlm_rows(dataset, order, args, Path(tmp)))
    print(
        "| data | order | model | perplexity | scoring, tokens/s | vs KenLM | load | "
        "memory added by the load | peak over the baseline |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = next(
            x
            for x in rows
            if (x["dataset"], x["order"], x["kind"]) == (r["dataset"], r["order"], "kenlm")
        )
        # measured in turns with KenLM in the row's process, or against the KenLM row
        ratio = r["ratio_in_turns"]["median"] if "ratio_in_turns" in r else None
        ratio = ratio or r["tokens_per_s"] / ref["tokens_per_s"]
        print(
            f"| {r['dataset']} | {r['order']} | {r['model']} | {r['perplexity']:.4f} | "
            f"{r['tokens_per_s'] / 1e6:.2f}M | {ratio:.2f}x | "
            f"{r['load_s']:.2f} s | {fmt_bytes(r['rss_added_by_load_bytes'])} | "
            f"{fmt_bytes(r['peak_over_base_bytes'])} |"
        )
    print(
        f"\nmkn models fitted by rnnkit (KenLM's sentence starts), saved and exported as ARPA; "
        f"each row is a fresh process that loads one model and scores the test split "
        f"{args.reps} times (median, {args.clock} clock"
        + (
            "; vs KenLM: median ratio of as many turns with KenLM in that process"
            if args.turns
            else ""
        )
        + "). rnnkit scores from the raw text "
        "(tokenizing included), "
        "KenLM one model.score(line) per line. Memory: RSS added by the load, and peak RSS "
        "(VmHWM, reset after the test text and the libraries are loaded) over that baseline."
    )
    result = {"machine": machine(), "reps": args.reps, "clock": args.clock, "results": rows}
    print("saved", save("ngram-kenlm", result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_kenlm_child":
        kind, path, dataset, reps, clock, turns_with = sys.argv[2:8]
        print(json.dumps(kenlm_child(kind, path, dataset, int(reps), clock, turns_with)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_fit_child":
        cp = argparse.ArgumentParser()
        cp.add_argument("_fit_child")
        cp.add_argument("--dataset", required=True)
        cp.add_argument("--order", type=int, required=True)
        cp.add_argument("--smoothing", required=True)
        cp.add_argument("--reps", type=int, default=1)
        a = cp.parse_args()
        print(json.dumps(fit_child(a.dataset, a.order, a.smoothing, a.reps)))
        return
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "what", nargs="?", default="all", choices=["all", "table", "nltk", "memory", "kenlm"]
    )
    ap.add_argument("--reps", type=int, default=3, help="rnnkit timings: median of this many")
    ap.add_argument(
        "--nltk-seconds",
        type=float,
        default=30.0,
        help="time budget for NLTK's scoring of each model (seconds)",
    )
    ap.add_argument("--dataset", default="wikitext-2", help="memory: the training corpus")
    ap.add_argument("--datasets", default="ptb,wikitext-2", help="kenlm: comma-separated corpora")
    ap.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="kenlm: time scoring in wall time or in process CPU time",
    )
    ap.add_argument(
        "--turns",
        action="store_true",
        help="kenlm: each rnnkit row also scores in turns with KenLM; vs KenLM is their ratio",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="kenlm: another rnnkit checkout whose rows are measured in the same run",
    )
    args = ap.parse_args()
    if args.what in ("all", "table"):
        run_table(args)
    if args.what in ("all", "nltk"):
        run_nltk(args)
    if args.what in ("all", "memory"):
        run_memory(args)
    if args.what in ("all", "kenlm"):
        run_kenlm(args)


if __name__ == "__main__":
    main()
