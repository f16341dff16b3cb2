"""``rnnkit ngram``: train, evaluate, sample from and export counting n-gram models."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import click

from rnnkit.commands.common import (
    CONTEXT,
    RUN_DIR,
    choice_option,
    json_option,
    refuse_other_run,
    scored_lines,
    split_option,
)
from rnnkit.config import SMOOTHINGS
from rnnkit.errors import ConfigError, DataError, RunDirError
from rnnkit.text.tokenizers import TOKENIZERS


@click.group("ngram", context_settings=CONTEXT)
def ngram() -> None:
    """Counting n-gram language models: MLE, add-k, Kneser-Ney, modified Kneser-Ney and stupid
    backoff, over the same tokenizers and vocabularies as the neural models.

    A run directory holds run.json (settings), vocab.json, counts.safetensors and, for kn and
    mkn, backoff.safetensors (the lean store eval, score and generate read). eval, score
    and generate also take an ARPA file (any tool's) or a KenLM binary file, scored as KenLM
    scores it; `rnnkit eval` and `rnnkit score` accept all of them too.
    """


@ngram.command("train")
@click.option("--data", required=True, help="Dataset name (see `rnnkit data list`) or text path.")
@click.option(
    "--tokenizer",
    type=click.Choice(sorted(TOKENIZERS)),
    default=None,
    help="Tokenizer [default: the dataset's; char for files].",
)
@click.option("--lowercase", is_flag=True, help="Lowercase before tokenizing.")
@click.option("--order", type=int, default=3, help="n: 1 unigram, 2 bigram, ...")
@choice_option(
    "--smoothing",
    SMOOTHINGS,
    "kn",
    "mle, add-k, interpolated Kneser-Ney, modified Kneser-Ney (KenLM's), stupid backoff.",
)
@click.option("--k", "k", type=float, default=1.0, help="Added count of addk (1: Laplace).")
@click.option(
    "--discount",
    default=None,
    type=float,
    help="kn only: one fixed discount for every order [default: estimated n1/(n1+2 n2)].",
)
@click.option(
    "--bos-style",
    type=click.Choice(["kenlm", "padded"]),
    default=None,
    help="Sentence start. kenlm: one <s> and KenLM's counts, so the exported ARPA scores the "
    "same in KenLM and equals lmplz's for mkn; padded: n-1 <s> as NLTK pads, every token with "
    "a full context. [default: kenlm for kn and mkn; padded, the only one, for the others]",
)
@click.option("--min-freq", default=1, help="Rarer tokens become <unk>.")
@click.option("--max-vocab", default=None, type=int, help="Keep only the most frequent tokens.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
def train_command(
    data,
    tokenizer,
    lowercase,
    order,
    smoothing,
    k,
    discount,
    bos_style,
    min_freq,
    max_vocab,
    out,
    overwrite,
):
    """Count n-grams on the train split, report valid perplexity, save the run."""
    from rnnkit.ngram.model import NGramLM
    from rnnkit.ngram.store import NGramMeta, is_ngram_run, save_ngram
    from rnnkit.registry.datasets import default_tokenizer, load_split_text
    from rnnkit.text.corpus import build_vocab, encode_text
    from rnnkit.text.tokenizers import build_tokenizer

    out = Path(out)
    refuse_other_run(out, "ngram", "n-gram model")
    if is_ngram_run(out) and not overwrite:
        raise RunDirError(f"{out} already holds an n-gram run; pick another --out or --overwrite")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file; give a directory")
    lm = NGramLM(order, smoothing, k, discount, bos_style)  # checks the settings first
    tok_name = tokenizer or default_tokenizer(data)
    tok = build_tokenizer(tok_name, lowercase)
    text = load_split_text(data, "train")
    vocab = build_vocab(text, tok, min_freq, max_vocab)
    ids = encode_text(text, tok, vocab)
    t0 = time.perf_counter()
    lm.fit_vocab(ids, vocab, tok.boundary)  # a discount it cannot estimate: a warning line
    seconds = time.perf_counter() - t0
    meta = NGramMeta(
        order=order,
        smoothing=smoothing,
        k=k,
        discount=lm.fixed_discount,
        bos_style=lm.bos_style,
        data=data,
        tokenizer=tok_name,
        lowercase=lowercase,
        min_freq=min_freq,
        max_vocab=max_vocab,
        boundary=tok.boundary,
        train_tokens=int(len(ids)),
    )
    save_ngram(out, lm, vocab, meta)
    sizes = "  ".join(f"{i}: {n:,}" for i, n in enumerate(lm.sizes, start=1))
    click.echo(
        f"{order}-gram {smoothing} ({lm.bos_style} sentence starts) on {data}: "
        f"{len(ids):,} tokens, {len(vocab):,} vocab"
    )
    click.echo(f"n-grams  {sizes}  ({lm.nbytes() / 2**20:.1f} MiB in memory)")
    line = f"fit {seconds:.2f} s"
    try:
        valid = encode_text(load_split_text(data, "valid"), tok, vocab)
        line += f"; valid perplexity {lm.perplexity(valid):.2f}"
    except DataError:
        pass  # a dataset without a valid split: nothing to report
    click.echo(line)
    click.echo(f"saved {out}")


MODEL_HELP = (
    "MODEL is an n-gram run directory, an ARPA file (any tool's: lmplz, SRILM, export-arpa), "
    "or a KenLM binary file (needs the kenlm module). Files are scored as KenLM scores them: "
    "one <s> per sentence, </s> predicted, unknown words as <unk>."
)
FILE_TOKENIZER = click.option(
    "--tokenizer",
    type=click.Choice(sorted(TOKENIZERS)),
    default=None,
    help="Tokenizer of an ARPA or KenLM file [default: char when every word of the file is "
    "one character, else word]. A run uses its own.",
)


@ngram.command("eval")
@click.argument("model", type=click.Path())
@click.option(
    "--data", default=None, help="Dataset name or path [default: the run's; needed for files]."
)
@split_option(["train", "valid", "test"], "valid")
@FILE_TOKENIZER
@json_option()
def eval_command(model, data, split, tokenizer, as_json):
    """Perplexity of an n-gram model on a dataset split (every token predicted, each sentence
    from its start).

    MODEL_HELP
    """
    print_eval(model, data, split, as_json, tokenizer)


def print_eval(path, data, split, as_json, tokenizer=None) -> None:
    import numpy as np

    from rnnkit.ngram.load import load_model
    from rnnkit.registry.datasets import load_split_text

    model = load_model(path, tokenizer)
    data = data or model.data
    if not data:
        raise ConfigError(f"{path} holds no dataset name; give --data (a dataset or a text file)")
    ids = model.encode(load_split_text(data, split))
    if len(ids) == 0:
        raise DataError(f"the {split} split of {data} has no tokens")
    lp, _ = model.lm.token_logprobs(ids)
    loss = float(-lp.mean())
    ppl = math.exp(loss) if math.isfinite(loss) else math.inf
    if not math.isfinite(ppl):
        fix = (
            "smooth with --smoothing kn, mkn or addk" if model.vocab is not None else "see the file"
        )
        click.echo(
            f"warning: {model.name} gives {int((~np.isfinite(lp)).sum())} tokens probability "
            f"0, so perplexity is infinite; {fix}",
            err=True,
        )
    if model.smoothing == "stupid":
        click.echo("note: stupid backoff gives scores, not probabilities", err=True)
    if as_json:
        row = {
            "data": data,
            "split": split,
            "tokens": int(len(ids)),
            "loss": loss if math.isfinite(loss) else None,
            "perplexity": ppl if math.isfinite(ppl) else None,
            "unk_rate": float((ids == model.unk_id).mean()),
            "model": model.name,
        }
        click.echo(json.dumps(row))
    else:
        click.echo(f"perplexity: {ppl:.4f}")


def score_ngram_lines(path, lines: list[str], tokenizer=None):
    """Per-line ``LineScore``s of an n-gram model: each line a sentence from its start."""
    import numpy as np

    from rnnkit.infer.lines import LineScore
    from rnnkit.ngram.load import load_model

    model = load_model(path, tokenizer)
    per_line = [model.encode(line + "\n") for line in lines]
    if not per_line:
        return []
    # Every line ends with the boundary token, so the stream splits back into the same lines.
    lp, _ = model.lm.token_logprobs(np.concatenate(per_line))
    scores, start = [], 0
    for line, ids in zip(lines, per_line, strict=True):
        part = lp[start : start + len(ids)]
        start += len(ids)
        unknown = int((ids == model.unk_id).sum())
        scores.append(LineScore(line, len(ids), float(part.sum()), part.tolist(), unknown))
    return scores


@ngram.command("score")
@click.argument("model", type=click.Path())
@scored_lines
@FILE_TOKENIZER
@json_option()
def score_command(model, file, tokenizer, rank, as_json):
    """Log-probability (natural log) and perplexity of each line and of the whole file, as
    `rnnkit score` prints them.

    MODEL_HELP
    """
    from rnnkit.commands.lm import print_line_scores
    from rnnkit.io import read_text

    lines = [ln for ln in read_text(file).splitlines() if ln.strip()]
    print_line_scores(score_ngram_lines(model, lines, tokenizer), rank, as_json)


@ngram.command("generate")
@click.argument("model", type=click.Path())
@click.option(
    "--prompt",
    default="",
    show_default=False,  # an empty default says nothing
    help="Text the sample continues; empty: a fresh line.",
)
@click.option("--length", default=100, help="Tokens to generate.")
@click.option(
    "--temperature",
    default=1.0,
    help="> 1 flatter, < 1 sharper, 0 = greedy (the most likely token each time).",
)
@click.option("--seed", default=None, type=int, help="Seed for repeatable output.")
@FILE_TOKENIZER
def generate_command(model, prompt, length, temperature, seed, tokenizer):
    """Sample text from an n-gram model, after an optional prompt.

    MODEL is an n-gram run directory or an ARPA file (a KenLM binary does not expose its
    vocabulary).
    """
    from rnnkit.infer.lines import prompt_ids, unseen_reserved
    from rnnkit.ngram.load import FileVocab, load_model

    m = load_model(model, tokenizer)
    tok = m.tokenizer
    vocab = m.vocab if m.vocab is not None else FileVocab(m)
    ctx = prompt_ids(prompt, tok, vocab, warn=lambda msg: click.echo(msg, err=True))
    if ctx and ctx[0] == m.encode_tokens([tok.boundary])[0]:
        ctx = ctx[1:]  # the n-gram model starts every sentence by itself
    banned = unseen_reserved(m.vocab) if m.vocab is not None else []
    out = m.lm.generate(length, ctx, seed, temperature, banned=banned)
    tokens = m.decode(ctx + out)
    sys.stdout.write(tok.detokenize(tokens))
    if not tokens or tokens[-1] != tok.boundary:
        sys.stdout.write("\n")


@ngram.command("export-arpa")
@RUN_DIR
@click.argument("file", type=click.Path(dir_okay=False))
def export_command(run_dir, file):
    """Write a kn or mkn run as an ARPA file (KenLM, SRILM and others read it).

    A progress bar on stderr counts the entries written (when stderr is a terminal).
    """
    from rnnkit.ngram.arpa import write_arpa
    from rnnkit.ngram.store import load_ngram

    _, _, vocab, lm = load_ngram(run_dir)
    entries = write_arpa(lm, vocab, file, progress=True)
    click.echo(f"wrote {file}: {', '.join(f'{n:,}' for n in entries)} entries by order")


for command in (eval_command, score_command):
    command.help = command.help.replace("MODEL_HELP", MODEL_HELP)
