"""``rnnkit data``: list the registered datasets, describe a corpus, prepare one for training."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import click

from rnnkit.commands.common import CONTEXT, json_option, refuse_other_run
from rnnkit.commands.options import apply_options
from rnnkit.registry import datasets as reg
from rnnkit.text.tokenizers import TOKENIZERS, build_tokenizer


@click.group("data", context_settings=CONTEXT)
def data() -> None:
    """Datasets: list the registered corpora, print statistics of any text, prepare a corpus.

    Registered datasets are read from $RNNKIT_DATA/<folder>/ when present, else from the cache
    ($RNNKIT_CACHE, default ~/.cache/rnnkit), else downloaded once and checked by sha256.
    """


@data.command("list")
def list_command() -> None:
    """Show the registered datasets, their splits, default tokenizer and location."""
    from rnnkit.classify.data import CORPORA as LABELLED
    from rnnkit.classify.data import SNIPS
    from rnnkit.forecast.data import SERIES
    from rnnkit.poetry import data as poems
    from rnnkit.seq2seq.data import CORPORA as PARALLEL

    rows = [
        (spec.name, ",".join(spec.splits), spec.default_tokenizer, _where(spec.all_files()))
        for spec in reg.DATASETS.values()
    ]
    _echo_table(("name", "splits", "tokenizer", "read from"), rows)
    rows = [
        (s.name, s.target, str(s.period), _where([s.file]), s.description) for s in SERIES.values()
    ]
    _echo_table(("series (rnnkit forecast)", "target", "period", "read from", ""), rows)
    multi30k = [f for split in PARALLEL["multi30k"]["splits"].values() for f in split.values()]
    rows = [
        ("multi30k", "rnnkit seq2seq", _where(multi30k), PARALLEL["multi30k"]["description"]),
        (
            "tang-poetry",
            "rnnkit poem",
            _where(poems.FILES),
            f"Complete Tang Poems (全唐诗), {poems.NUM_POEMS:,} poems",
        ),
        ("snips", "rnnkit classify / tag", _where(list(SNIPS.values())), LABELLED["snips"]),
    ]
    _echo_table(("corpus", "command", "read from", ""), rows)
    click.echo(_data_root_line())


def _echo_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print ``rows`` under ``header`` in columns two spaces apart, the last one unpadded, and
    a blank line."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    click.echo()


def _where(files) -> str:
    """The folder ``files`` (a dataset's) will be read from: the data folder, the cache, or
    "download on first use" while any of them is in neither."""
    places = {reg.locate(f) for f in files}
    if reg.LOC_DOWNLOAD in places:
        return reg.LOC_DOWNLOAD
    first = next(iter(files))
    folder = Path(first.path).parent
    if places == {reg.LOC_DATA}:
        return str(reg.data_root() / folder)
    return str(reg.cache_dir() / "datasets" / folder)


def _data_root_line() -> str:
    root, source = reg.data_root(), reg.data_root_source()
    cache = reg.cache_dir() / "datasets"
    if root is None:
        return (
            f"No data folder is set: datasets are downloaded to {cache} on first use. "
            "Run `rnnkit data use DIR` (or set RNNKIT_DATA) with a folder holding "
            "<folder>/<file> (e.g. ptb/ptb.train.txt) to use local copies."
        )
    set_by = "RNNKIT_DATA" if source == "RNNKIT_DATA" else "set by `rnnkit data use`"
    return (
        f"Data folder {root} ({set_by}): local copies found there are used as is; "
        f"others go to {cache}."
    )


@data.command("use")
@click.argument("folder", required=False, type=click.Path())
@click.option("--clear", is_flag=True, help="Forget the saved folder (download on first use).")
def use_command(folder, clear) -> None:
    """Remember FOLDER as where the datasets are, for every later command.

    FOLDER holds the registered datasets as <folder>/<file> (e.g. ptb/ptb.train.txt), as
    `rnnkit data list` shows them. The setting is saved in the user's config folder
    ($XDG_CONFIG_HOME/rnnkit/settings.json, default ~/.config/rnnkit); $RNNKIT_DATA, when
    set, still wins. Without FOLDER, print the folder in use.
    """
    from rnnkit.errors import ConfigError
    from rnnkit.registry.settings import save_setting, settings_path

    if clear and folder:
        raise ConfigError("give FOLDER or --clear, not both")
    if clear:
        try:
            save_setting("data", None)
        except ConfigError:
            settings_path().unlink()  # a damaged settings file: start again
        click.echo(f"no data folder saved in {settings_path()}")
        return
    if folder is None:
        click.echo(_data_root_line())
        return
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{folder} is not a folder; give the folder that holds the datasets")
    held = [
        s.name
        for s in reg.DATASETS.values()
        if any((path / f.path).is_file() for f in s.all_files())
    ]
    if not held:
        raise ConfigError(
            f"{path} holds none of the registered datasets (e.g. ptb/ptb.train.txt); give the "
            "folder that holds them, as `rnnkit data list` names their files"
        )
    saved = save_setting("data", str(path))
    click.echo(
        f"datasets are read from {path} ({len(held)} found: {', '.join(held)}); saved in {saved}"
    )
    if reg.data_root_source() == "RNNKIT_DATA":
        click.echo(
            f"note: RNNKIT_DATA={os.environ['RNNKIT_DATA']} is set and wins while it is", err=True
        )


def _plot_name(name_or_path: str) -> str:
    """A file-name-safe stem for the default plot path."""
    if name_or_path in reg.DATASETS:
        stem = name_or_path
    else:
        path = Path(name_or_path)
        stem = path.name if path.is_dir() else path.stem
    return re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "corpus"


def _text_options(**tokenizer_kind):
    """``--tokenizer`` (its type or metavar from ``tokenizer_kind``) and ``--lowercase``."""
    return apply_options(
        [
            click.option(
                "--tokenizer",
                default=None,
                show_default="the dataset's default; char for files",
                help="How to split the text into tokens.",
                **tokenizer_kind,
            ),
            click.option(
                "--lowercase/--no-lowercase",
                default=False,
                help="Lower-case the text first (word tokenizer only).",
            ),
        ]
    )


@data.command("stats")
@click.argument("name_or_file")
@_text_options(type=click.Choice(list(TOKENIZERS)))
@click.option(
    "--split", type=click.Choice(list(reg.SPLITS)), default="train", help="Which split to describe."
)
@click.option("--top", type=int, default=10, help="How many of the most frequent tokens to list.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="zipf-<name>.png in the current directory",
    help="Where to write the rank-frequency (Zipf) plot.",
)
@json_option("Print one JSON object instead of text.", default=False, show_default="off")
def stats_command(name_or_file, tokenizer, lowercase, split, top, plot_path, as_json):
    """Print corpus statistics of NAME_OR_FILE and write a Zipf plot.

    NAME_OR_FILE is a registered dataset (see `rnnkit data list`), a UTF-8 text file (cut 90/10
    into train and valid), or a folder with train.txt and optionally valid.txt and test.txt.
    Reports the token count, vocabulary size, most frequent tokens, the unigram Zipf exponent
    and the number of distinct bigrams and trigrams.
    """
    from rnnkit.text.corpus import build_vocab, encode_text
    from rnnkit.text.stats import corpus_stats, plot_zipf

    text = reg.load_split_text(name_or_file, split)
    tokenizer = tokenizer or reg.default_tokenizer(name_or_file)
    tok = build_tokenizer(tokenizer, lowercase=lowercase)
    vocab = build_vocab(text, tok)
    ids = encode_text(text, tok, vocab)
    s = corpus_stats(ids, vocab, top=top)
    plot_path = plot_path or Path(f"zipf-{_plot_name(name_or_file)}.png")
    title = f"{name_or_file} ({split}, {tokenizer} tokens)"
    plot_zipf(ids, len(vocab), plot_path, title=title)
    plot = str(plot_path.resolve())
    if as_json:
        header = dict(dataset=name_or_file, split=split, tokenizer=tokenizer, lowercase=lowercase)
        click.echo(json.dumps({**header, **s, "plot": plot}, ensure_ascii=False))
        return
    click.echo(f"{name_or_file} [{split}], tokenizer {tokenizer}")
    click.echo(f"  tokens:            {s['num_tokens']:,}")
    click.echo(
        f"  vocabulary:        {s['distinct_tokens']:,} distinct tokens "
        f"({s['vocab_size']:,} ids with reserved tokens)"
    )
    click.echo(f"  distinct bigrams:  {s['distinct_bigrams']:,}")
    click.echo(f"  distinct trigrams: {s['distinct_trigrams']:,}")
    zipf = s["zipf_exponent"]
    click.echo(f"  Zipf exponent:     {'n/a' if zipf is None else f'{zipf:.3f}'}")
    click.echo(f"  top {len(s['top_tokens'])} tokens:")
    total = max(s["num_tokens"], 1)
    for rank, t in enumerate(s["top_tokens"], start=1):
        shown = json.dumps(t["token"], ensure_ascii=False)  # quotes make "\n" and " " visible
        click.echo(
            f"    {rank:>3}. {shown:<16} {t['count']:>10,}  {100 * t['count'] / total:5.2f}%"
        )
    click.echo(f"  plot: {plot}")


@data.command("prepare")
@click.argument("name_or_path")
@_text_options(metavar="char|word|chinese-char")
@click.option(
    "--min-freq", type=int, default=1, help="Tokens seen fewer times in train map to <unk>."
)
@click.option(
    "--max-vocab",
    type=int,
    default=None,
    show_default="no limit",
    help="Largest vocabulary, reserved tokens included.",
)
@click.option(
    "--chunk-mb",
    type=int,
    default=16,
    help="MiB of text held at a time (cut at a newline); peak memory grows with it, not with "
    "the corpus.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write train.bin, valid.bin, test.bin, vocab.json and prepared.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace a prepared corpus already in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option("Print one JSON object instead of text.")
def prepare_command(name_or_path, chunk_mb, out, quiet, as_json, **settings):
    """Tokenize and encode NAME_OR_PATH once into memory-mapped token files in --out.

    NAME_OR_PATH is split as everywhere else: a registered dataset by its own files (or its
    90/10 cut), a text file cut 90/10, a folder by train.txt, valid.txt and test.txt. The text
    is streamed in chunks cut at newlines, twice (count tokens, then encode), so a corpus of
    many GB never sits in memory. Ids are stored as uint8, uint16 or uint32, the smallest that
    holds the vocabulary. Train on the result with `rnnkit train --data DIR`: it reads the ids
    through a memory map and uses the vocabulary and tokenizer stored here.
    """
    from rnnkit.data.prepare import prepare_corpus

    refuse_other_run(out, None, "prepared corpus")
    t0 = time.perf_counter()
    # settings: --tokenizer, --lowercase, --min-freq, --max-vocab and --overwrite, as named there
    corpus = prepare_corpus(
        name_or_path, out, chunk_bytes=chunk_mb << 20, progress=not (quiet or as_json), **settings
    )
    seconds = time.perf_counter() - t0
    source_bytes = corpus.source_bytes
    result = {
        "out": str(corpus.path.resolve()),
        "source": corpus.source,
        "tokenizer": corpus.tokenizer.to_dict(),
        "vocab_size": corpus.vocab_size,
        "dtype": corpus.dtype.name,
        "tokens": corpus.tokens,
        "source_bytes": source_bytes,
        "seconds": seconds,
        "mb_per_s": source_bytes / 1e6 / max(seconds, 1e-9),
    }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    splits = ", ".join(f"{split} {n:,}" for split, n in corpus.tokens.items())
    click.echo(
        f"prepared {corpus.source} ({corpus.tokenizer.name} tokens) in {result['out']}: "
        f"{splits} tokens; vocabulary {corpus.vocab_size:,} ({corpus.dtype.name} ids); "
        f"{source_bytes / 1e6:,.1f} MB in {seconds:.1f} s ({result['mb_per_s']:.1f} MB/s)"
    )
    click.echo(f"train on it with: rnnkit train --data {result['out']} --out RUN_DIR")
