"""``rnnkit seq2seq train|eval|attention`` and ``rnnkit translate``."""

from __future__ import annotations

import json
from functools import partial

import click

from rnnkit.commands import options
from rnnkit.commands.common import (
    CONTEXT,
    DEVICE_OPTION,
    RUN_DIR,
    json_option,
    load_on_device,
    read_stdin_lines,
    split_option,
)
from rnnkit.errors import ConfigError
from rnnkit.seq2seq.config import TOKENIZERS, Seq2SeqRunConfig

# _opt(field, help, type): the option of a Seq2SeqRunConfig field, with its default
_opt = partial(options.field_option, Seq2SeqRunConfig)


@click.group("seq2seq", context_settings=CONTEXT)
def seq2seq() -> None:
    """Encoder-decoder translation: GRU/LSTM encoder (bidirectional), a plain (Cho et al.) or
    attention decoder (additive / Bahdanau, dot / general / scaled Luong), teacher forcing,
    greedy and beam search, BLEU and chrF with sacrebleu."""


@seq2seq.command("train")
@click.option("--data", default=None, help="A registered parallel corpus: multi30k [default].")
@_opt("src_lang", "Source language of --data.")
@_opt("tgt_lang", "Target language of --data.")
@click.option(
    "--src", "src_file", default=None, type=click.Path(), help="Source file, a line each."
)
@click.option("--tgt", "tgt_file", default=None, type=click.Path(), help="Aligned target file.")
@click.option(
    "--valid-src", "valid_src_file", default=None, type=click.Path(), help="Validation sources."
)
@click.option(
    "--valid-tgt", "valid_tgt_file", default=None, type=click.Path(), help="Validation targets."
)
@click.option("--tsv", default=None, type=click.Path(), help="A file of source<TAB>target lines.")
@click.option(
    "--lowercase",
    is_flag=True,
    help="Lower-case both sides (and what translate reads). Always on for a registered corpus, "
    "whose text is lower-case.",
)
@click.option(
    "--tokenize",
    type=click.Choice(TOKENIZERS),
    default=None,
    help="Split the text files into whitespace tokens, or Moses tokens (punctuation split off, "
    "as the registered corpora were made); translate reads its input the same way.  "
    "[default: moses for a registered corpus, else whitespace]",
)
@_opt("max_len", "Longer sentences are cut.", int)
@_opt("min_freq", "Rarer tokens become <unk>.", int)
@_opt("max_vocab", "Largest vocabulary [default: any].", int)
@options.size_options(Seq2SeqRunConfig)
@_opt(
    "cell",
    "Cell of the encoder and the decoder; mingru and minlstm train by a parallel scan.",
    click.Choice(["gru", "lstm", "mingru", "minlstm"]),
)
@_opt("bidirectional", "Encoder direction.", off="--unidirectional")
@_opt(
    "attention",
    "Decoder attention; none is the plain Cho et al. decoder.",
    click.Choice(["none", "additive", "dot", "general", "scaled"]),
)
@_opt("dropout", "Dropout.", float)
@options.backend_option(Seq2SeqRunConfig)
@_opt("label_smoothing", "In [0, 1).", float)
@_opt("teacher_forcing", "Share of steps fed the true token.", float)
@_opt("eval_beam", "Beam for validation BLEU.", int)
@options.loop_options(Seq2SeqRunConfig)
@options.run_options("translation run")
def train_command(ctx, out, resume, config_file, overwrite, quiet, **fields):
    """Train a translation model; keeps the best model on validation BLEU.

    Writes run.json, src_vocab.json, tgt_vocab.json, model.safetensors (best on
    validation BLEU), last.safetensors, trainer_state.pt, metrics.jsonl and curves.png.
    """
    from rnnkit.seq2seq.train import Seq2SeqTask

    def fill(values: dict) -> dict:
        if values.get("src_file") is not None or values.get("tsv") is not None:
            return {"data": None, **values}
        return values

    history = options.train_task(ctx, Seq2SeqTask, fields, fill)
    if history.get("best") is not None:
        click.echo(f"best valid BLEU {history['best']:.2f} at epoch {history['best_epoch']}")
    click.echo(f"saved {out or resume}")


@seq2seq.command("eval")
@RUN_DIR
@split_option(help="Split to translate and score.")
@click.option("--beam", default=5, help="1 is greedy.")
@click.option("--alpha", default=0.6, help="Length normalisation.")
@json_option()
@DEVICE_OPTION
def eval_command(run_dir, split, beam, alpha, as_json, device):
    """Corpus BLEU (sacrebleu) and chrF of a run's translations of a split; prints `bleu: X`.

    A progress bar on stderr counts the sentences translated (when stderr is a terminal).
    """
    from rnnkit.seq2seq.train import evaluate, load_run, load_split

    dev, config, src_vocab, tgt_vocab, model = load_on_device(device, load_run, run_dir)
    pairs = load_split(config, split)
    result = evaluate(
        model, pairs, src_vocab, tgt_vocab, beam=beam, alpha=alpha, device=dev, progress=True
    )
    result.pop("hypotheses")
    if as_json:
        click.echo(json.dumps({"split": split, "beam": beam, "alpha": alpha, **result}))
    else:
        click.echo(f"bleu: {result['bleu']:.2f}  ({result['bleu_signature']})")
        click.echo(
            f"chrf: {result['chrf']:.2f}  perplexity: {result['perplexity']:.2f}  "
            f"({result['sentences']} sentences, {result['sentences_per_s']:.1f}/s)"
        )


@click.command("translate", context_settings=CONTEXT)
@RUN_DIR
@click.option("--beam", type=int, default=None, help="1 is greedy.  [default: 5; 1 when sampling]")
@click.option("--alpha", default=0.6, help="Length normalisation.")
@click.option("--n-best", default=1, help="Hypotheses per line (tab-separated).")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Sample the translations at this softmax temperature, 0.001 to 10 (0 is greedy); "
    "sampling flags replace beam search.  [default: 1.0 when sampling]",
)
@click.option("--top-k", type=int, default=None, help="Sample among the k best; 0 = off.")
@click.option("--top-p", type=float, default=None, help="Sample within mass p, 1e-06 to 1.")
@click.option("--seed", type=int, default=None, help="Seed for repeatable sampled translations.")
@DEVICE_OPTION
def translate(run_dir, beam, alpha, n_best, temperature, top_k, top_p, seed, device):
    """Translate stdin, one sentence per line, to stdout, one line each.

    Each line is read as the run's training data was: lower-cased and split into tokens as
    the run records (Moses tokens for Multi30k: "Zwei Hunde." is read as "zwei hunde ."). A
    line whose tokens are mostly unknown to the model gets a warning on stderr."""
    from rnnkit.decode import search_settings
    from rnnkit.seq2seq.train import load_run
    from rnnkit.seq2seq.translate import translate_lines, unknown_warning

    beam, sampling = search_settings(
        beam, temperature, top_k, top_p, beam_default=5, temperature_default=0.0
    )
    if n_best < 1 or n_best > beam:
        raise ConfigError(f"--n-best must be between 1 and --beam ({beam}), got {n_best}")
    dev, config, src_vocab, tgt_vocab, model = load_on_device(device, load_run, run_dir)
    lines = read_stdin_lines()
    for number, line in enumerate(lines, start=1):
        warning = unknown_warning(number, line, config, src_vocab)
        if warning:
            click.echo(f"warning: {warning}", err=True)
    translations = translate_lines(
        model,
        lines,
        config,
        src_vocab,
        tgt_vocab,
        beam=beam,
        alpha=alpha,
        n_best=n_best,
        seed=seed,
        device=dev,
        **sampling,
    )
    for hyps in translations:  # printed batch by batch, as they are made
        click.echo("\t".join(hyps))


@seq2seq.command("attention")
@RUN_DIR
@click.option("--sentence", required=True, help="Source sentence to translate.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="PNG file.")
def attention_command(run_dir, sentence, out_path):
    """Translate one sentence greedily and draw its attention weights as a heatmap."""
    from rnnkit.seq2seq.plots import attention_heatmap
    from rnnkit.seq2seq.train import load_run
    from rnnkit.seq2seq.translate import attend, check_attention, source_tokens

    config, src_vocab, tgt_vocab, model = load_run(run_dir)
    check_attention(config)
    toks = source_tokens(sentence, config)
    if not toks:
        raise ConfigError("--sentence is empty; give a sentence to translate")
    att = attend(model, toks, config, src_vocab, tgt_vocab)
    attention_heatmap(att.weights, att.source, att.target + ["<eos>"], out_path)
    click.echo(" ".join(att.target))
    click.echo(f"wrote {out_path}", err=True)
