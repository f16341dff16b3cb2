"""``rnnkit train``, ``generate``, ``eval``, ``score`` and ``demo``: language models."""

from __future__ import annotations

import json
import math
import sys
from functools import partial
from pathlib import Path

import click

from rnnkit.commands.common import (
    CONTEXT,
    DEVICE_OPTION,
    RUN_DIR,
    choice_option,
    echo_above_progress,
    json_option,
    language_model_run,
    load_on_device,
    scored_lines,
    split_option,
)
from rnnkit.commands.ngram import print_eval as ngram_eval
from rnnkit.commands.ngram import score_ngram_lines
from rnnkit.commands.options import (
    apply_options,
    check_out,
    field_option,
    loop_options,
    run_options,
    train_task,
)
from rnnkit.config import BACKEND_NAMES, LM_CELLS, TrainConfig
from rnnkit.errors import ConfigError, RnnkitError, RunDirError

_opt = partial(field_option, TrainConfig)  # (field, help, type): its default from TrainConfig


TRAIN_OPTIONS = [
    _opt(
        "data",
        "Registered dataset name (see `rnnkit data list`) or path to a UTF-8 text file "
        "(90/10 train/valid split) or a folder with train.txt/valid.txt/test.txt, or a "
        "folder made by `rnnkit data prepare` (ids memory-mapped; its tokenizer and vocab).",
    ),
    _opt(
        "tokenizer",
        "Tokenizer [default: the dataset's own; char for files].",
        click.Choice(["char", "word", "chinese-char"]),
    ),
    _opt("lowercase", "Lower-case text before the word tokenizer."),
    _opt("min_freq", "Tokens seen fewer times map to <unk>.", int),
    _opt("max_vocab", "Largest vocabulary, reserved tokens included [default: no limit].", int),
    _opt(
        "model",
        "Recurrent cell; lnlstm is the layer-normalised LSTM (scratch backend); mingru and "
        "minlstm take their gates from the input alone and train by a parallel scan.",
        click.Choice(LM_CELLS),
    ),
    _opt("embed_size", "Embedding size [default: = hidden size]; 0 feeds one-hot vectors.", int),
    _opt("hidden_size", "Hidden units per layer.", int),
    _opt("num_layers", "Stacked recurrent layers.", int),
    _opt("dropout", "Dropout on embeddings, between layers and before the decoder.", float),
    _opt("tie_weights", "Share decoder and embedding weights."),
    _opt("init_range", "If > 0, initialise every weight from U(-r, r).", float),
    _opt("forget_bias", "LSTM: initial forget-gate bias (1.0 helps long memory).", float),
    _opt(
        "locked_dropout", "One dropout mask per sequence, shared by all time steps (variational)."
    ),
    _opt("weight_drop", "DropConnect on the recurrent weights (AWD-LSTM style).", float),
    _opt(
        "backend",
        "Recurrent layer implementation: torch (fused kernels) or scratch (written from the "
        "equations, same weights).",
        click.Choice(BACKEND_NAMES),
    ),
    _opt("seq_len", "Time steps per batch (the BPTT truncation length).", int),
    _opt(
        "sampling",
        "random: independent subsequences, state reset per batch; sequential: "
        "contiguous streams, state carried and detached.",
        click.Choice(["random", "sequential"]),
    ),
    _opt("eval_batch_size", "Streams used for evaluation.", int),
    loop_options(TrainConfig),
]


@click.command(context_settings=CONTEXT)
@apply_options(TRAIN_OPTIONS)
@run_options("run")
def train(ctx, out, resume, config_file, overwrite, quiet, **fields):
    """Train a recurrent language model (truncated BPTT, clipping, checkpoints).

    Writes run.json, vocab.json, model.safetensors (best on validation), last.safetensors,
    trainer_state.pt, metrics.jsonl and curves.png into --out.

    On several processes: `torchrun --nproc_per_node=N -m rnnkit train ...` (gloo on CPU,
    nccl on GPUs); --batch-size is the global batch and must divide by N.
    """
    from rnnkit.train.lm_task import LMTask

    train_task(ctx, LMTask, fields)


@click.command(context_settings=CONTEXT)
@RUN_DIR
@click.option(
    "--prompt",
    default="",
    help="Text fed through the model first to set its state; empty: a fresh line.",
)
@click.option("--length", default=200, help="Tokens to generate.")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Softmax temperature: 0 (greedy) or 0.001 to 10.  [default: 1.0]",
)
@click.option("--top-k", type=int, default=None, help="Sample among the k best; 0 = off.")
@click.option(
    "--top-p",
    type=float,
    default=None,
    help="Sample within the smallest set of mass p (nucleus), 1e-06 to 1; 1 = off.",
)
@click.option(
    "--beam",
    default=1,
    help="Beam search for the most likely continuation of --length tokens; takes no sampling "
    "flag. 1 = sample.",
)
@click.option(
    "--seed",
    default=None,
    type=int,
    help="Seed for repeatable output: the same text with either --engine.",
)
@click.option("--stop", "stop_token", default=None, help="Stop when this token is produced.")
@DEVICE_OPTION
@choice_option(
    "--checkpoint", ["best", "last"], "best", "Weights: best on validation, or the last checkpoint."
)
@choice_option(
    "--engine",
    ["auto", "numpy", "torch"],
    "auto",
    "What computes the model: numpy (starts without torch; rnn, lstm and gru runs, "
    "sampling or greedy, on the CPU, which --device auto then means), torch (every run, "
    "--beam, --device cuda), or auto: numpy where it applies, else torch.",
)
def generate(run_dir, prompt, length, beam, seed, stop_token, device, checkpoint, engine, **flags):
    """Generate text from a trained run, streaming it to stdout (with --beam, once searched).

    The numpy engine and torch compute the same logits up to float rounding and choose tokens
    the same way, so a --seed gives the same text whichever runs (barring a draw that falls
    within rounding of the edge between two tokens, about one in a million).
    """
    from rnnkit.infer.settings import search_settings

    # flags: --temperature, --top-k and --top-p, as search_settings and generate_text name them
    beam, sampling = search_settings(beam, **flags)  # bad flags fail first

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    loaded = _load_numpy_lm(run_dir, checkpoint, device, beam, engine)
    if loaded is not None:
        from rnnkit.infer.lines import write_text
        from rnnkit.infer.numpy_lm import generate_ids

        tokenizer, vocab, lm = loaded

        def ids(ctx, stop_id, banned):
            return generate_ids(lm, ctx, length, sampling, seed, stop_id, banned)

        write_text(ids, tokenizer, vocab, prompt, length, stop_token, stream)
    else:
        from rnnkit.infer.generate import generate_text

        dev, _, tokenizer, vocab, model = _load_lm(run_dir, device, checkpoint)
        generate_text(
            model,
            tokenizer,
            vocab,
            prompt,
            length,
            **flags,
            seed=seed,
            stop_token=stop_token,
            stream=stream,
            device=dev,
            beam=beam,
        )
    click.echo()


def _load_numpy_lm(run_dir, checkpoint: str, device: str, beam: int, engine: str):
    """``rnnkit.infer.numpy_lm.load``'s ``(tokenizer, vocab, lm)``, or None (torch, or auto when
    the numpy engine does not run this); with ``--engine numpy`` that is an error naming why."""
    if engine == "torch":
        return None
    from rnnkit.infer.numpy_lm import Ineligible, load

    try:
        return load(run_dir, checkpoint, device, beam)
    except Ineligible as e:
        if engine == "numpy":
            raise ConfigError(
                f"--engine numpy cannot run this: {e}; use --engine torch (or auto)"
            ) from e
        return None


def _load_lm(run_dir, device: str, which: str = "best"):
    """``load_on_device`` of ``load_for_inference``: ``(dev, config, tokenizer, vocab, model)``;
    a run of another kind is named as such, with its commands."""
    from rnnkit.train.checkpoint import load_for_inference

    with language_model_run(run_dir):
        return load_on_device(device, load_for_inference, run_dir, which)


@click.command("eval", context_settings=CONTEXT)
@RUN_DIR
@click.option("--data", default=None, help="Dataset name or path [default: the run's data].")
@split_option(["train", "valid", "test"], "valid")
@click.option("--batch-size", default=10, help="Evaluation streams.")
@json_option()
@DEVICE_OPTION
def eval_command(run_dir, data, split, batch_size, as_json, device):
    """Perplexity of a trained run on a dataset split (exp of mean cross-entropy).

    A progress bar on stderr counts the tokens scored (when stderr is a terminal).

    RUN_DIR may also be an n-gram run (`rnnkit ngram train`), an ARPA file or a KenLM binary.
    """
    from rnnkit.ngram.load import model_kind

    if model_kind(run_dir):
        return ngram_eval(run_dir, data, split, as_json)
    from rnnkit.infer.scoring import evaluate_loss
    from rnnkit.train.data import encode_split

    dev, config, tokenizer, vocab, model = _load_lm(run_dir, device)
    data = data or config.data
    ids = encode_split(data, split, tokenizer, vocab)
    loss = evaluate_loss(model, ids, batch_size, config.seq_len, dev, progress=True)
    ppl = math.exp(loss)
    if as_json:
        row = {"data": data, "split": split, "tokens": int(len(ids) - 1), "loss": loss}
        row |= {"perplexity": ppl, "unk_rate": float((ids == vocab.unk_id).mean())}
        click.echo(json.dumps(row))
    else:
        click.echo(f"perplexity: {ppl:.4f}")


@click.command(context_settings=CONTEXT)
@RUN_DIR
@scored_lines
@json_option()
@DEVICE_OPTION
def score(run_dir, file, rank, as_json, device):
    """Log-probability (natural log) and perplexity of each line and of the whole file, with
    the tokens the model does not know (read as <unk>); a line whose tokens are mostly unknown
    gets a warning on stderr, since its score is mostly that of <unk>.

    RUN_DIR may also be an n-gram run (`rnnkit ngram train`), an ARPA file or a KenLM binary.
    """
    from rnnkit.io import read_text
    from rnnkit.ngram.load import model_kind

    lines = [ln for ln in read_text(file).splitlines() if ln.strip()]
    if model_kind(run_dir):
        scores = score_ngram_lines(run_dir, lines)
    else:
        from rnnkit.infer.scoring import score_lines

        dev, _, tokenizer, vocab, model = _load_lm(run_dir, device)
        scores = score_lines(model, tokenizer, vocab, lines, dev)
    print_line_scores(scores, rank, as_json)


def print_line_scores(scores, rank: bool, as_json: bool) -> None:
    """Print ``LineScore``s as `rnnkit score` does: a table (or JSON) and the total."""
    from rnnkit.text.vocab import mostly_unknown

    order = sorted(scores, key=lambda s: -s.logprob / s.num_tokens) if rank else scores
    n = sum(s.num_tokens for s in scores)
    lp = sum(s.logprob for s in scores)
    unknown = sum(s.unknown for s in scores)
    total = {"lines": len(scores), "tokens": n, "logprob": lp, "perplexity": math.exp(-lp / n)}
    total |= {"unknown": unknown, "unknown_rate": unknown / n}
    for number, s in enumerate(scores, start=1):
        if mostly_unknown(s.unknown, s.num_tokens):
            click.echo(
                f"warning: line {number}: {s.unknown} of {s.num_tokens} tokens are unknown to "
                "the model (read as <unk>); its score says little about the line",
                err=True,
            )
    if as_json:
        # LineScore's fields, num_tokens printed as "tokens"
        shown = ("text", "num_tokens", "logprob", "perplexity", "unknown", "unknown_rate")
        rows = [{k.removeprefix("num_"): getattr(s, k) for k in shown} for s in order]
        click.echo(json.dumps({"lines": rows, "total": total}, ensure_ascii=False))
        return
    click.echo("logprob\tperplexity\ttokens\tunknown\tline")
    for s in order:
        click.echo(f"{s.logprob:.4f}\t{s.perplexity:.4f}\t{s.num_tokens}\t{s.unknown}\t{s.text}")
    click.echo(
        f"total: {n} tokens, logprob {lp:.4f}, perplexity {total['perplexity']:.4f}, "
        f"{unknown} unknown ({100 * total['unknown_rate']:.1f}%)"
    )


@click.command(context_settings=CONTEXT)
@click.option(
    "--out",
    default="runs/demo",
    type=click.Path(file_okay=False),
    help="Run directory (replaced if it holds an earlier demo).",
)
@click.option("--minutes", default=3.0, help="Training time budget.")
@click.option("--prompt", default="ROMEO:\n", help="Text the sample continues.")
@click.option("--length", default=500, help="Characters to write.")
@click.option("--overwrite", is_flag=True, help="Replace a run in --out that is not a demo.")
def demo(out, minutes, prompt, length, overwrite):
    """Train a character LSTM on tinyshakespeare for a few minutes, then write from a prompt."""
    from rnnkit.infer.generate import generate_text
    from rnnkit.train.checkpoint import load_for_inference
    from rnnkit.train.lm_task import LMTask
    from rnnkit.train.trainer import Trainer

    config = TrainConfig(
        data="tinyshakespeare",
        tokenizer="char",
        model="lstm",
        hidden_size=256,
        num_layers=2,
        seq_len=100,
        batch_size=32,
        lr=3e-3,
        dropout=0.1,
        eval_every=200,
        max_minutes=minutes,
        epochs=50,
        seed=0,
    )
    if not overwrite and not _earlier_demo(Path(out), config):
        raise RunDirError(
            f"{out} holds a run that is not a demo; pick another --out or pass --overwrite"
        )
    check_out(Path(out), LMTask, overwrite=True)
    echo = echo_above_progress
    echo(
        f"Training a 2x256 character LSTM on tinyshakespeare for {minutes:g} minutes "
        f"(validation perplexity every {config.eval_every} steps) ..."
    )
    Trainer(LMTask(config), out, echo=echo).fit()
    _, tokenizer, vocab, model = load_for_inference(out)
    echo(f"\nSample ({length} characters, temperature 0.8, seed 0):\n")
    click.echo(generate_text(model, tokenizer, vocab, prompt, length, temperature=0.8, seed=0))
    echo(f"\nTraining curves: {Path(out) / 'curves.png'}")


def _earlier_demo(out: Path, config: TrainConfig) -> bool:
    """Whether ``out`` holds no run, or a demo's (``config`` with any time budget)."""
    from rnnkit.registry.runs import has_run, read_run

    if not has_run(out):
        return True
    try:
        earlier = read_run(out).run_config(TrainConfig)
    except RnnkitError:
        return False
    return earlier.replace(max_minutes=config.max_minutes) == config
