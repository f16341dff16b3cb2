"""``rnnkit poem``: train a character LSTM on Tang poems and write poems with form, acrostic
and rhyme constraints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from rnnkit.commands.common import CONTEXT, DEVICE_OPTION, RUN_DIR, choice_option, load_on_device
from rnnkit.commands.lm import TRAIN_OPTIONS
from rnnkit.commands.options import apply_options, run_options, train_task
from rnnkit.errors import ConfigError
from rnnkit.poetry.run import POEM_META, load_poem_run

# A preset sets the model's sizes and how it is fed and taught; flags given on the command
# line win. tiny trades quality for steps, for a first try on a CPU: one small layer, short
# batches and the 3,000 most frequent characters (98% of the text) make each step about 4
# times cheaper than small's, whose first minutes are a few dozen steps, and a higher rate
# makes the most of the few hundred steps a busy machine gives it in minutes.
_FED = dict(seq_len=64, batch_size=64, dropout=0.1, max_vocab=None, lr=2e-3)
PRESETS = {
    "tiny": dict(
        embed_size=64,
        hidden_size=128,
        num_layers=1,
        seq_len=32,
        batch_size=32,
        dropout=0.0,
        max_vocab=3000,
        lr=5e-3,
    ),
    "small": dict(embed_size=128, hidden_size=256, num_layers=2, **_FED),
    "medium": dict(embed_size=256, hidden_size=512, num_layers=2, **_FED),
    "large": dict(embed_size=512, hidden_size=1024, num_layers=2, **_FED),
}
MIN_FREQ = 2  # a character seen once in 2 million is noise to the model
POEM_FORMS = ["wujue", "qijue", "wulv", "qilv"]
CORPUS_FORMS = ["all", "regular", "jueju", "lvshi", *POEM_FORMS]


class _DefaultToWrite(click.Group):
    """``rnnkit poem RUN_DIR ...`` means ``rnnkit poem write RUN_DIR ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["write", *args]
        return super().parse_args(ctx, args)


@click.group("poem", cls=_DefaultToWrite, context_settings=CONTEXT)
def poem() -> None:
    """Tang poetry: `rnnkit poem train --data tang-poetry --out RUN_DIR`, then
    `rnnkit poem RUN_DIR [--form qijue] [--start TEXT | --acrostic TEXT] [--rhyme] ...`."""


def prepare_corpus(
    data: str, out: Path, form: str, simplified: bool, write: bool = True, progress: bool = False
) -> dict:
    """Clean the poems, hold out a fixed 5%, write ``out/corpus/{train,valid}.txt`` (unless
    ``write`` is false: another process writes them); return what was kept and dropped.
    ``progress`` shows a bar on stderr through the stages (reading, cleaning, holding out,
    counting: tens of seconds on a busy CPU)."""
    from tqdm.auto import tqdm

    from rnnkit.poetry.data import (
        FILES,
        clean_poems,
        load_poems,
        poem_stats,
        split_held_out,
        write_corpus,
    )

    if data != "tang-poetry":
        raise ConfigError(f"unknown poem corpus {data!r}; use --data tang-poetry")
    with tqdm(total=len(FILES), disable=not progress, leave=False, dynamic_ncols=True) as bar:
        poems = load_poems(_stage(bar, FILES, "reading poem files", "file"))
        texts, report = clean_poems(
            _stage(bar, poems, "cleaning poems", "poem"), form=form, simplified=simplified
        )
        if len(texts) < 20:
            raise ConfigError(f"only {len(texts)} poems pass --form {form}; choose a wider form")
        train, valid = split_held_out(_stage(bar, texts, "holding out 5%", "poem"), 0.05)
        stats = poem_stats(_stage(bar, texts, "counting characters", "poem"))
    if write:
        write_corpus(out / "corpus", train, valid)
    return {
        "data": data,
        "form": form,
        "simplified": simplified,
        "poems": {"total": report.total, "kept": report.kept, "dropped": report.dropped},
        "train_poems": len(train),
        "held_out_poems": len(valid),
        "stats": stats,
    }


def _stage(bar, items: Sequence, desc: str, unit: str) -> Iterator:
    """``items``, one by one, counted on ``bar`` as the stage ``desc``."""
    bar.reset(total=len(items))
    bar.unit = unit
    bar.set_description(desc)
    for item in items:
        yield item
        bar.update()


@poem.command("write")
@RUN_DIR
@choice_option(
    "--form",
    POEM_FORMS,
    None,
    "五言/七言 绝句 or 律诗: lines, characters and marks enforced while decoding.",
)
@click.option("--start", default=None, help="The poem's first characters (a line or any prefix).")
@click.option("--acrostic", default=None, help="藏头诗: each line starts with the next character.")
@click.option("--style", default=None, help="A poem read first to set the mood; not printed.")
@click.option("--rhyme", is_flag=True, help="Even lines end in one rhyme group (needs a form).")
@click.option("--num", default=1, help="Poems to write.")
@click.option(
    "--temperature", type=float, default=None, help="0 (greedy) or 0.001 to 10.  [default: 0.8]"
)
@click.option("--top-k", type=int, default=None, help="Sample among the k best; 0 = off.")
@click.option("--top-p", type=float, default=None, help="1e-06 to 1; 1 = off.")
@click.option(
    "--beam",
    default=1,
    help="Beam search for the most likely poems under the same constraints (--num of them, "
    "<= --beam); takes no sampling flag. 1 = sample.",
)
@click.option("--seed", default=None, type=int, help="Seed for repeatable poems.")
@choice_option(
    "--script",
    ["as-trained", "simplified", "traditional"],
    "as-trained",
    "Script of the printed poems.",
)
@DEVICE_OPTION
def write_command(
    run_dir, start, num, temperature, top_k, top_p, beam, seed, script, device, **rules
):
    """Write poems from a trained poem run (the default: `rnnkit poem RUN_DIR ...`)."""
    from rnnkit.decode import search_settings
    from rnnkit.poetry.data import to_script
    from rnnkit.poetry.decoding import PoemDecoder

    if start is not None and not start.strip():
        raise ConfigError("--start is empty; give the first characters of the poem")
    if beam == 1 and temperature is None:
        temperature = 0.8  # poems read better a little below the model's own distribution
    search_settings(beam, temperature, top_k, top_p)  # bad flags fail before the run loads
    if beam > 1 and num > beam:
        raise ConfigError(f"--num {num} asks for more poems than --beam {beam} keeps; lower --num")
    dev, _, vocab, model = load_on_device(device, load_poem_run, run_dir)
    decoder = PoemDecoder(model, vocab, device=dev)
    sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    # rules: --form, --acrostic, --style and --rhyme, named as PoemDecoder takes them
    poems = decoder.generate_each(num, seed=seed, beam=beam, start=start or "", **sampling, **rules)
    for text in poems:
        click.echo(to_script(text, script))


def _train_options(f):
    """``rnnkit train``'s options but --data, --tokenizer and --lowercase, with the defaults a
    poem run really gets: --min-freq is MIN_FREQ, and the fields a preset sets show each
    preset's value (they are None here, so that only a flag given overrides the preset)."""
    f = apply_options(TRAIN_OPTIONS[3:])(f)
    for param in f.__click_params__:
        if param.name == "min_freq":
            param.default = MIN_FREQ
        elif param.name in PRESETS["small"]:
            values = ", ".join(
                f"{name} {'no limit' if p[param.name] is None else p[param.name]}"
                for name, p in PRESETS.items()
            )
            param.default, param.show_default = None, False
            text = re.sub(r" ?\[default: [^]]*\]", "", param.help)
            param.help = f"{text}  [default: from --preset: {values}]"
    return f


@poem.command("train")
@click.option("--data", default="tang-poetry", help="The poem corpus.")
@click.option(
    "--form",
    type=click.Choice(CORPUS_FORMS),
    default="all",
    help="Train on poems of this form only (regular = the four forms, jueju, lvshi, ...).",
)
@click.option("--simplified", is_flag=True, help="Convert to simplified characters (OpenCC).")
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default="small",
    help="tiny: embedding 64, 1x128 LSTM, batches of 32x32, the 3,000 most frequent "
    "characters, lr 0.005 (lines within minutes); small: 128, 2x256 (the classic recipe); "
    "medium 256, 2x512; large 512, 2x1024.",
)
@_train_options
@run_options("poem run")
def poem_train(
    ctx, data, form, simplified, preset, out, resume, config_file, overwrite, quiet, **fields
):
    """Train a character LSTM on Tang poems (a fixed 5% held out for perplexity).

    Poems are cleaned (missing characters, broken markup), optionally filtered by form and
    converted to simplified characters, and written one per line to RUN_DIR/corpus; the
    language-model trainer then runs on it with the chinese-char tokenizer, so `rnnkit eval`
    and checkpoints work as for any run.

    --preset sets the sizes, --seq-len, --batch-size, --dropout, --max-vocab and --lr; flags
    you give win.
    A first try: --preset tiny --max-minutes 5. The real recipe: --preset small, 30-60 minutes.
    """
    from rnnkit.io import atomic_write_text
    from rnnkit.train.lm_task import LMTask

    def fill(values: dict) -> dict:
        """The preset under the --config file and the flags; the corpus it writes as data."""
        corpus = str((Path(out) / "corpus").resolve())
        poem_defaults = {"tokenizer": "chinese-char", "min_freq": MIN_FREQ, **PRESETS[preset]}
        return {**poem_defaults, **values, "data": corpus}

    def write_corpus(config, dist) -> None:
        with dist.main_first():  # rank 0 writes the corpus; the others read it
            meta = prepare_corpus(
                data,
                Path(out),
                form,
                simplified,
                write=dist.is_main,
                progress=dist.is_main and not quiet,
            )
        meta["preset"] = preset
        kept = meta["poems"]
        if dist.is_main:
            click.echo(
                f"{kept['kept']:,} of {kept['total']:,} poems kept ({meta['train_poems']:,} train, "
                f"{meta['held_out_poems']:,} held out); dropped: "
                + ", ".join(f"{n:,} {why}" for why, n in kept["dropped"].items() if n),
                err=True,
            )
            meta_text = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
            atomic_write_text(Path(out) / POEM_META, meta_text)

    train_task(ctx, LMTask, fields, fill, write_corpus)
