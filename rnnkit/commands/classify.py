"""``rnnkit classify train|predict|eval`` and ``rnnkit tag train|predict|eval``.

Both groups train the same models (``rnnkit.classify``); they differ in the default task and
in what ``predict`` and ``eval`` print. A joint run (``--task joint``) answers both.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import click

from rnnkit.classify.config import ClassifyRunConfig
from rnnkit.commands import options
from rnnkit.commands.common import (
    CONTEXT,
    DEVICE_OPTION,
    RUN_DIR,
    choice_option,
    json_option,
    load_on_device,
    read_stdin_lines,
    split_option,
)
from rnnkit.errors import ConfigError, RunDirError

# _opt(field, help, type): the option of a ClassifyRunConfig field, with its default
_opt = partial(options.field_option, ClassifyRunConfig)


def _train_options(default_task: str):
    """The options of ``train``, shared by both groups (only the default task differs)."""
    return options.apply_options(
        [
            _opt(
                "data",
                "snips, a folder with train/valid/test seq.in + label/seq.out, or a file: "
                "TSV/CSV text<TAB>label or CoNLL token tag columns.",
            ),
            click.option("--valid", default=None, type=click.Path(), help="Validation file."),
            click.option("--test", default=None, type=click.Path(), help="Test file (for eval)."),
            choice_option(
                "--task",
                ["intent", "slots", "joint"],
                default_task,
                "Sentence labels, token tags, or both from one shared encoder.",
            ),
            _opt("lowercase", "Lower-case the text.", off="--keep-case"),
            _opt("min_freq", "Rarer words -> <unk>.", int),
            _opt("max_vocab", "Largest vocabulary [default: any].", int),
            _opt(
                "holdout",
                "Share of training sentences kept for validation when there is no valid split.",
                float,
            ),
            _opt(
                "cell",
                "Recurrent cell; mingru and minlstm take their gates from the input alone and "
                "train by a parallel scan.",
                click.Choice(["rnn", "lstm", "gru", "mingru", "minlstm"]),
            ),
            _opt("bidirectional", "Encoder direction.", off="--unidirectional"),
            _opt(
                "pooling",
                "How the classifier summarises the sentence.",
                click.Choice(["last", "mean", "max", "attention"]),
            ),
            _opt("char_embed", "0 turns the character CNN off.", int),
            _opt("char_filters", "Filters of the character CNN (its word features).", int),
            _opt("crf", "CRF over the tags."),
            _opt("dropout", "Dropout.", float),
            _opt(
                "class_weights",
                "balanced: weigh classes by inverse frequency.",
                click.Choice(["none", "balanced"]),
            ),
            _opt(
                "word_dropout",
                "Chance that a word seen once in training is read as <unk> there, so that "
                "<unk> learns what a new word looks like (Lample et al., 2016).",
                float,
            ),
            options.backend_option(ClassifyRunConfig),
            options.size_options(ClassifyRunConfig),
            options.loop_options(ClassifyRunConfig),
            options.run_options("run"),
        ]
    )


def _train_command(group: click.Group, task: str, doc: str) -> None:
    """``group``'s ``train``: ``rnnkit train``'s loop on a classification task, ``task``
    unless --task says otherwise."""

    @group.command("train", help=doc)
    @_train_options(task)
    def train(ctx, out, resume, config_file, overwrite, quiet, **fields):
        from rnnkit.classify.train import ClassifyTask

        history = options.train_task(ctx, ClassifyTask, fields, lambda v: {"task": task, **v})
        if history.get("best") is not None:
            best, epoch = 100 * history["best"], history["best_epoch"]
            click.echo(f"best valid score {best:.2f} at epoch {epoch}")
        click.echo(f"saved {out or resume}")


def _load(run_dir, device, need: str):
    from rnnkit.classify.train import load_run

    dev, config, vocabs, model = load_on_device(device, load_run, run_dir)
    if need == "labels" and model.classifier is None:
        raise RunDirError(f"{run_dir} is a tagging run (--task slots); use `rnnkit tag`")
    if need == "tags" and model.tagger is None:
        raise RunDirError(
            f"{run_dir} is a classification run (--task intent); use `rnnkit classify`"
        )
    return dev, config, vocabs, model


def _predict_stdin(run_dir, device, need: str, as_json: bool, doc, text, top=1) -> None:
    """Predict each line of stdin (``rnnkit.classify.predict.predict_lines``) and print a line
    each: ``doc(pred)`` as JSON with ``as_json``, else ``text(pred)``; empty lines stay empty."""
    from rnnkit.classify.predict import predict_lines

    dev, config, vocabs, model = _load(run_dir, device, need)
    lines = read_stdin_lines()
    preds = predict_lines(model, vocabs, lines, lowercase=config.lowercase, top=top, device=dev)
    empty = sum(not p.tokens for p in preds)
    if empty:
        click.echo(f"note: {empty} empty lines left empty", err=True)
    for pred in preds:
        if not pred.tokens:
            click.echo(json.dumps(doc(pred)) if as_json else "")
        elif as_json:
            click.echo(json.dumps(doc(pred), ensure_ascii=False))
        else:
            click.echo(text(pred))


def _eval(run_dir, split, data, device, need) -> dict:
    from rnnkit.classify.data import read_file
    from rnnkit.classify.train import evaluate, load_split

    dev, config, vocabs, model = _load(run_dir, device, need)
    if data:
        sentences = read_file(data, config.lowercase)
    else:
        sentences = load_split(config, split)
        if sentences is None:
            raise ConfigError(f"this run's data has no {split} split; pass --data FILE")
    return evaluate(model, sentences, vocabs, device=dev)


_eval_options = options.apply_options(
    [
        RUN_DIR,
        split_option(),
        click.option(
            "--data", default=None, type=click.Path(), help="Evaluate on this file instead."
        ),
        json_option(),
        DEVICE_OPTION,
    ]
)


# ---- classify ----------------------------------------------------------------------------------
@click.group("classify", context_settings=CONTEXT)
def classify() -> None:
    """Sequence classification (many-to-one): embedding (+ character CNN) -> (bi)RNN/LSTM/GRU
    -> pooling (last, mean, max, attention) -> label. SNIPS intents, or your own TSV/CSV."""


_train_command(
    classify,
    "intent",
    "Train a classifier (or a joint intent + slot model); keeps the best on validation.",
)


@classify.command("predict")
@RUN_DIR
@click.option("--top", default=1, help="Labels per line (with --json).")
@json_option("One JSON object per line.")
@DEVICE_OPTION
def classify_predict(run_dir, top, as_json, device):
    """Label stdin, one sentence per line: prints `label<TAB>probability` per line."""

    def text(pred) -> str:
        label, probability = pred.ranked[0]
        return f"{label}\t{probability:.4f}"

    _predict_stdin(run_dir, device, "labels", as_json, lambda p: p.label_doc(), text, top)


@classify.command("eval")
@_eval_options
@click.option("--confusion", default=None, type=click.Path(dir_okay=False), help="PNG path.")
def classify_eval(run_dir, split, data, as_json, device, confusion):
    """Accuracy, macro-F1 and a confusion-matrix PNG (RUN_DIR/confusion-SPLIT.png by default)."""
    from rnnkit.classify.plots import confusion_png

    result = _eval(run_dir, split, data, device, "labels")
    if "intent" not in result:
        raise ConfigError("the evaluation data has no labels; give labelled data")
    intent = result["intent"]
    png = Path(confusion) if confusion else Path(run_dir) / f"confusion-{split}.png"
    confusion_png(
        intent["confusion"],
        intent["labels"],
        png,
        f"{split}: accuracy {100 * intent['accuracy']:.2f}%",
    )
    if as_json:
        click.echo(json.dumps({"split": split, **result, "confusion_png": str(png)}))
        return
    click.echo(f"accuracy: {100 * intent['accuracy']:.2f}%")
    click.echo(f"macro-F1: {100 * intent['macro_f1']:.2f}")
    if "slots" in result:
        click.echo(f"slot F1: {100 * result['slots']['f1']:.2f}")
        click.echo(f"sentence accuracy: {100 * result['sentence_accuracy']:.2f}%")
    click.echo(f"({result['sentences']} sentences, {result['sentences_per_s']:,.0f}/s)")
    click.echo(f"wrote {png}", err=True)


# ---- tag -------------------------------------------------------------------------------------
@click.group("tag", context_settings=CONTEXT)
def tag() -> None:
    """Sequence tagging (many-to-many, aligned): embedding + character CNN -> bidirectional
    RNN -> a tag per token, with an optional CRF (Viterbi). Entity F1 as conlleval counts it."""


_train_command(
    tag,
    "slots",
    "Train a tagger (or a joint intent + slot model); keeps the best on validation F1.",
)


@tag.command("predict")
@RUN_DIR
@json_option("Tokens, tags and entities as JSON.")
@DEVICE_OPTION
def tag_predict(run_dir, as_json, device):
    """Tag stdin, one sentence per line: prints `token/TAG ...` per line."""

    def text(pred) -> str:
        return " ".join(f"{t}/{n}" for t, n in zip(pred.tokens, pred.tags, strict=True))

    _predict_stdin(run_dir, device, "tags", as_json, lambda p: p.tag_doc(), text)


@tag.command("eval")
@_eval_options
def tag_eval(run_dir, split, data, as_json, device):
    """Entity-level precision, recall and F1 (conlleval's definition); prints `f1: X`."""
    result = _eval(run_dir, split, data, device, "tags")
    if "slots" not in result:
        raise ConfigError("the evaluation data has no tags; give tagged data")
    slots = result["slots"]
    if as_json:
        click.echo(json.dumps({"split": split, **result}))
        return
    click.echo(f"f1: {100 * slots['f1']:.2f}")
    click.echo(
        f"precision: {100 * slots['precision']:.2f}  recall: {100 * slots['recall']:.2f}  "
        f"token accuracy: {100 * slots['token_accuracy']:.2f}%"
    )
    if "intent" in result:
        click.echo(f"intent accuracy: {100 * result['intent']['accuracy']:.2f}%")
        click.echo(f"sentence accuracy: {100 * result['sentence_accuracy']:.2f}%")
    click.echo(f"({result['sentences']} sentences, {result['sentences_per_s']:,.0f}/s)")
