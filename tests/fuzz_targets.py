"""Fuzz targets: every loader of a user file, as a function of the file's bytes.

``TARGETS`` maps a name to a ``Target``. ``Target.run(data, folder)`` writes ``data`` where the
loader reads (``folder`` is an empty directory of its own, with any valid companion files the
loader needs beside it), calls the loader, and uses what it returned the way the next step
would (a scorer's lookups, a corpus's memory maps, the vocabularies built from sentences).

The contract, checked by ``outcome``: every call either returns or raises an ``RnnkitError``
whose message is one line. Anything else (a ``KeyError``, ``RecursionError``, ``OverflowError``,
a multi-line message) is a crash.

Each target also carries ``seeds``, valid files for a mutation fuzzer (``bench/fuzz_loaders.py``),
and ``near_valid``, a hypothesis strategy of files that are right in form and wrong in detail:
JSON of the right shape with values of the wrong type, CSV with random cells, ARPA with bad
counts (``tests/test_fuzz_loaders.py`` and the benchmark draw from it besides random bytes).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from hypothesis import strategies as st
from safetensors.numpy import save_file

from rnnkit.classify.data import build_vocabs as build_classify_vocabs
from rnnkit.classify.data import load_sentences, read_file
from rnnkit.config import TrainConfig
from rnnkit.data.prepare import prepare_corpus
from rnnkit.data.prepared import open_prepared
from rnnkit.errors import RnnkitError, RnnkitWarning
from rnnkit.forecast.data import load_series
from rnnkit.io import read_text
from rnnkit.ngram import NGramLM
from rnnkit.ngram.arpa import arpa_text, read_arpa
from rnnkit.ngram.store import NGramMeta, load_ngram, save_ngram
from rnnkit.poetry.data import clean_poems, load_poems
from rnnkit.registry.datasets import DataFile, load_split_text
from rnnkit.seq2seq.data import build_vocabs as build_pair_vocabs
from rnnkit.seq2seq.data import load_pairs
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import build_tokenizer
from rnnkit.text.vocab import Vocab

SEP = b"\x1e"  # splits one input into several files (ASCII record separator)


class MessageNotOneLine(AssertionError):
    """An ``RnnkitError`` whose message is empty, padded or spans lines."""


def check_message(error: RnnkitError) -> None:
    message = str(error)
    if not message or message.strip() != message or len(message.splitlines()) != 1:
        raise MessageNotOneLine(f"{type(error).__name__} message is not one line: {message!r}")


def calls(*fns: Callable[[], object], probes: tuple[Callable[[], object], ...] = ()) -> None:
    """Run every call, checking each error's message; then raise the first error, if any.

    One input thus meets several loaders (or one loader with several settings) and is still
    counted once: accepted, refused (an ``RnnkitError``) or a crash (anything else, at once).
    ``probes`` are calls expected to fail (a column that is not there): their messages are
    checked, their errors not raised.
    """
    first = None
    for fn in (*probes, *fns):
        try:
            fn()
        except RnnkitError as e:
            check_message(e)
            if fn not in probes:
                first = first or e
    if first is not None:
        raise first


@dataclass(frozen=True)
class Target:
    """A loader, fed one input.

    Args:
        name: what the benchmark and the tests call it.
        run: ``run(data, folder)``, see the module docstring.
        seeds: valid inputs, the starting points of mutation.
        near_valid: a hypothesis strategy of near-valid inputs (bytes).
    """

    name: str
    run: Callable[[bytes, Path], None]
    seeds: Callable[[], list[bytes]]
    near_valid: Callable[[], st.SearchStrategy[bytes]]


def outcome(target: Target, data: bytes) -> str:
    """``"accepted"`` or ``"refused"`` (a one-line ``RnnkitError``); a crash propagates."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            target.run(data, Path(tmp))
        except RnnkitError as e:
            check_message(e)
            return "refused"
    return "accepted"


# ---- strategies shared by several targets --------------------------------------------------------
def utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; a lone surrogate goes through as the bytes UTF-8 forbids."""
    return text.encode("utf-8", "surrogatepass")


# Characters that break parsers: line ends of every kind, separators, quotes, escapes, a BOM,
# zero-width and combining characters, a lone surrogate, CJK, an emoji.
TRICKY = "\n\r\t ,;:\"'\\#=[]{}<>\x00\x0b\x0c\x1c\x85\u2028\ufeff\u200b\u0301\ud800床😀"
tricky_text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=12)
# LONG stands for an integer of 5000 digits, written into the JSON text once it is dumped
# (Python will not convert such an int to a str).
LONG = "\x00long\x00"
numbers = st.integers(-(2**70), 2**70) | st.floats() | st.just(-0.0)
json_scalars = st.none() | st.booleans() | numbers | tricky_text | st.just(LONG)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(tricky_text, kids, max_size=4),
    max_leaves=10,
)


def _json_bytes(doc, ensure_ascii: bool) -> bytes:
    text = json.dumps(doc, ensure_ascii=ensure_ascii)
    return utf8(text.replace(json.dumps(LONG, ensure_ascii=ensure_ascii), "9" * 5000))


def _slots(doc) -> list[tuple[object, object]]:
    """Every (container, key or index) of a JSON document, depth first."""
    found = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for key, value in items:
        found.append((doc, key))
        if isinstance(value, dict | list) and value:
            found.extend(_slots(value))
    return found


@st.composite
def mutated_json(draw, doc) -> bytes:
    """``doc`` with a few values replaced by random JSON, a few keys dropped or added."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            container[key] = draw(json_values)
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(tricky_text)] = draw(json_values)
        else:
            container.append(draw(json_values))
    return _json_bytes(doc, draw(st.booleans()))


def deep_nesting(opening: bytes) -> st.SearchStrategy[bytes]:
    """``opening`` repeated: parsers recurse once per level and give up near 1000."""
    return st.integers(1, 3000).map(lambda n: opening * n)


def text_files() -> st.SearchStrategy[bytes]:
    """Text as UTF-8 with stray invalid bytes, a BOM or CRLF line ends now and then."""
    pieces = st.text(alphabet=st.characters() | st.sampled_from(TRICKY), max_size=40).map(utf8)
    pieces = pieces | st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf"])
    return st.lists(pieces, max_size=12).map(b"".join)


def lines_of(cell: st.SearchStrategy[str], sep: str, max_cols: int = 4):
    """Lines of 0..``max_cols`` cells joined by ``sep`` (ragged on purpose)."""
    line = st.lists(cell, max_size=max_cols).map(sep.join)
    ends = st.sampled_from(["\n", "\n", "\r\n", "\n\n"])
    return st.lists(st.tuples(line, ends).map("".join), max_size=12).map(
        lambda ls: utf8("".join(ls))
    )


@contextlib.contextmanager
def _env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _parts(data: bytes, n: int) -> list[bytes]:
    """``data`` cut at ``SEP`` into exactly ``n`` pieces (missing ones empty)."""
    parts = data.split(SEP, n - 1)
    return parts + [b""] * (n - len(parts))


# ---- plain text ----------------------------------------------------------------------------------
TEXT_SEEDS = [
    b"First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
    "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n".encode(),
    b" the cat sat on the mat \r\n a dog barked \r\n",
]


def run_read_text(data: bytes, folder: Path) -> None:
    read_text(_write(folder, "input.txt", data))


def run_split_text(data: bytes, folder: Path) -> None:
    """A text file cut 90/10, a folder with train.txt only (valid carved from it), a folder with
    all three files."""
    file = _write(folder, "corpus.txt", data)
    carve = folder / "carve"
    _write(carve, "train.txt", data)
    full = folder / "full"
    for name in ("train.txt", "valid.txt", "test.txt"):
        _write(full, name, data)
    calls(
        *(lambda s=s: load_split_text(str(file), s) for s in ("train", "valid")),
        *(lambda s=s: load_split_text(str(carve), s) for s in ("train", "valid")),
        *(lambda s=s: load_split_text(str(full), s) for s in ("train", "valid", "test")),
    )


def run_prepare_text(data: bytes, folder: Path) -> None:
    """``rnnkit data prepare`` of a text file, streamed in small chunks, then opened and read."""
    src = _write(folder, "corpus.txt", data)

    def prepare(tokenizer: str) -> None:
        out = folder / f"prepared-{tokenizer}"
        corpus = prepare_corpus(str(src), out, tokenizer=tokenizer, chunk_bytes=64)
        vocab = corpus.vocab()
        for split in corpus.splits:
            ids = np.asarray(corpus.ids(split))
            assert ids.size == 0 or int(ids.max()) < len(vocab)

    calls(*(lambda t=t: prepare(t) for t in ("char", "word", "chinese-char")))


# ---- vocab.json ----------------------------------------------------------------------------------
def _vocab_doc() -> dict:
    return Vocab.build({"the": 5, "床": 3, "a\nb": 2, "<s>": 1, "\\u0041": 1}).to_dict()


def vocab_seeds() -> list[bytes]:
    return [
        json.dumps(_vocab_doc(), ensure_ascii=False).encode(),
        json.dumps(_vocab_doc()).encode(),
    ]


def vocab_near_valid() -> st.SearchStrategy[bytes]:
    shaped = st.fixed_dictionaries(
        {
            "tokens": st.lists(json_scalars, max_size=8),
            "reserved": st.lists(json_scalars, max_size=5),
        },
        optional={"counts": json_values},
    ).map(lambda d: _json_bytes(d, False))
    return mutated_json(_vocab_doc()) | shaped | deep_nesting(b"[")


def run_vocab(data: bytes, folder: Path) -> None:
    """Load, then what the next steps do: encode and decode, detokenize, sum the counts, and
    save and load again."""
    vocab = Vocab.load(_write(folder, "vocab.json", data))
    tokens = vocab.decode(vocab.encode([*vocab.itos, "never seen"]))
    build_tokenizer("char").detokenize(tokens)
    sum(vocab.counts)
    vocab.save(folder / "again.json")
    assert Vocab.load(folder / "again.json") == vocab


# ---- config.yaml ---------------------------------------------------------------------------------
_YAML_SCALARS = [
    "!!int x",
    "!!float x",
    "!!timestamp x",
    "2020-13-45",
    "2020-02-30 25:00:00",
    "1" * 5000,
    "0x" + "f" * 5000,
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "~",
    "yes",
    "0o17",
    "1_000",
    "&a [*a]",
    "!!binary aGk=",
    "!!binary x",
    "!!set {1, 2}",
    "!!python/object:os.system",
    "[1, [2, {3: 4}]]",
    '"a\\nb"',
    "'unterminated",
    "{a: 1",
    "- 1\n- 2",
    "|\n  two\n  lines",
]


def _yaml_bytes(doc: dict) -> bytes:
    return utf8(yaml.safe_dump(doc, allow_unicode=True))


def config_near_valid() -> st.SearchStrategy[bytes]:
    known = list(TrainConfig().to_dict())
    keys = st.sampled_from(known) | tricky_text | st.integers() | st.sampled_from([True, None])
    values = json_values | st.dates() | st.binary(max_size=4)
    as_yaml = st.dictionaries(keys, values, max_size=6).map(_yaml_bytes)
    lines = st.lists(
        st.tuples(st.sampled_from(known) | tricky_text, st.sampled_from(_YAML_SCALARS)).map(
            lambda kv: f"{kv[0]}: {kv[1]}\n"
        ),
        max_size=5,
    ).map(lambda ls: utf8("".join(ls)))
    return as_yaml | lines | deep_nesting(b"[") | deep_nesting(b"- ")


def config_seeds() -> list[bytes]:
    preset = Path(__file__).resolve().parents[1] / "configs" / "ptb-small.yaml"
    seeds = [yaml.safe_dump(TrainConfig().to_dict(), sort_keys=False).encode()]
    if preset.is_file():
        seeds.append(preset.read_bytes())
    return seeds


def run_config(data: bytes, folder: Path) -> None:
    TrainConfig.load(_write(folder, "config.yaml", data))


# ---- forecast CSV --------------------------------------------------------------------------------
FORECAST_SEEDS = [
    b"Month,Passengers\n"
    + b"".join(b"19%02d-%02d,%d\n" % (49 + m // 12, m % 12 + 1, 100 + m) for m in range(40)),
    b'"date","load","temp"\r\n'
    + b"".join(b'"2016-07-01 %02d:00:00",%d.5,%d\r\n' % (h, h, 20 - h) for h in range(24)),
    b"t,x,y\n"
    + b"".join(b"%d,%s,%d\n" % (i, b"NA" if i % 7 == 3 else b"%d" % i, i) for i in range(30)),
]
_CELLS = (
    st.sampled_from(
        [
            "",
            "NA",
            "nan",
            "inf",
            "-",
            "?",
            "1e999",
            "2020-02-30",
            "2020-13",
            "1981-01-01",
            "0000-01",
            "9999-12-31 23:59:59.123456789012",
            "١٩٨١-٠١-٠١",
            "1_000",
            " 7 ",
            "0x10",
            "1,5",
            '"q"',
        ]
    )
    | st.integers(-(10**20), 10**20).map(str)
    | st.floats().map(repr)
    | tricky_text
)


_DATES = st.sampled_from(
    ["1949-01", "1949/02", "1981-01-01", "2016-07-01 00:00", "2016-07-01 01:00:00", "2020-02-30",
     "2016-07-01T02:00:00.5", "2016-07-01 03:00:00.123456789012345", "0000-01", "9999-12"]
)  # fmt: skip


@st.composite
def csv_files(draw) -> bytes:
    width = draw(st.integers(1, 4))
    header = draw(st.lists(_CELLS, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(_CELLS, max_size=width + 1), max_size=25))
    # Times that increase, or that are all dates, take more files past the time column.
    times = draw(st.sampled_from(["as drawn", "numbers", "dates"]))
    if times == "numbers":
        rows = [[str(i), *row[1:]] for i, row in enumerate(rows)]
    elif times == "dates":
        rows = [[draw(_DATES), *row[1:]] for row in rows]
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *rows])
    return utf8(out.getvalue())


def _header(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    with contextlib.suppress(csv.Error):
        for row in csv.reader(io.StringIO(text, newline="")):
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    return []


def run_forecast(data: bytes, folder: Path) -> None:
    """The CSV with default columns (when that can work: one value column), then with the
    second column as target and the rest as features under every fill mode."""
    path = str(_write(folder, "series.csv", data))
    header = _header(data)
    target = header[1] if len(header) > 1 else None
    calls(
        *([lambda: load_series(path)] if len(header) <= 2 else []),
        *(
            lambda fill=fill: load_series(path, target=target, features=header[2:], fill=fill)
            for fill in (None, "ffill", "interpolate", "drop")
        ),
        probes=(lambda: load_series(path, target="no such column"),),
    )


# ---- parallel text -------------------------------------------------------------------------------
TSV_SEEDS = [
    "ein hund läuft .\ta dog runs .\nzwei katzen\ttwo cats\n\n".encode(),
    b"a b c\tx y\r\nd\te f g\r\n",
]
ALIGNED_SEEDS = [
    "ein hund läuft .\nzwei katzen\n".encode() + SEP + b"a dog runs .\ntwo cats\n",
    b"a\n\nb\n" + SEP + b"x\ny\n\n",
]
_WORDS = (
    st.sampled_from(["a", "dog", "läuft", ".", "", " ", "\t", "\r", "\u2028", "\x0c"]) | tricky_text
)


def run_tsv(data: bytes, folder: Path) -> None:
    path = _write(folder, "pairs.tsv", data)

    def load(**kw) -> None:
        pairs = load_pairs(tsv=path, **kw)
        build_pair_vocabs(pairs, min_freq=1)

    calls(load, lambda: load(lowercase=True, max_len=2))


def run_aligned(data: bytes, folder: Path) -> None:
    src, tgt = _parts(data, 2)
    src_path, tgt_path = _write(folder, "src.txt", src), _write(folder, "tgt.txt", tgt)
    calls(lambda: build_pair_vocabs(load_pairs(src_file=src_path, tgt_file=tgt_path), 1))


def aligned_near_valid() -> st.SearchStrategy[bytes]:
    side = lines_of(_WORDS, " ")
    return st.tuples(side, side).map(lambda t: t[0] + SEP + t[1])


# ---- Tang poems JSON -----------------------------------------------------------------------------
def _poems_doc() -> list:
    return [
        {
            "title": "靜夜思",
            "author": "李白",
            "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"],
        },
        {
            "title": "x",
            "author": "y",
            "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"],
            "id": "z",
        },
    ]


def poems_seeds() -> list[bytes]:
    return [json.dumps(_poems_doc(), ensure_ascii=False, indent=2).encode()]


def poems_near_valid() -> st.SearchStrategy[bytes]:
    poem = st.fixed_dictionaries(
        {},
        optional={
            "title": json_scalars,
            "author": json_scalars,
            "paragraphs": st.lists(tricky_text | json_scalars, max_size=4) | json_scalars,
        },
    )
    lists = st.lists(poem, max_size=4).map(lambda d: _json_bytes(d, False))
    return mutated_json(_poems_doc()) | lists | deep_nesting(b"[") | deep_nesting(b'{"a":')


def run_poems(data: bytes, folder: Path) -> None:
    """``load_poems`` on one file found through $RNNKIT_DATA, then the cleaning it feeds."""
    _write(folder, "tang-poetry/poet.tang.fuzz.json", data)
    file = DataFile("tang-poetry/poet.tang.fuzz.json", "0" * 64, len(data), "https://invalid/")
    with _env("RNNKIT_DATA", str(folder)):
        poems = load_poems([file])
    for form in ("all", "jueju"):
        clean_poems(poems, form=form)


# ---- ARPA ----------------------------------------------------------------------------------------
@functools.cache
def _fitted(order: int, tokenizer: str):
    text = "the cat sat\nthe dog sat on the mat\na cat ran\n<s> x\\s y\n"
    tok = build_tokenizer(tokenizer)
    vocab = build_vocab(text, tok)
    with warnings.catch_warnings():  # too few counts to estimate discounts: the default is fine
        warnings.simplefilter("ignore", RnnkitWarning)
        lm = NGramLM(order, "kn").fit_vocab(encode_text(text, tok, vocab), vocab, tok.boundary)
    return tok, vocab, lm


def arpa_seeds() -> list[bytes]:
    seeds = []
    for order, tokenizer in ((3, "word"), (2, "char")):
        _, vocab, lm = _fitted(order, tokenizer)
        seeds.append(arpa_text(lm, vocab).encode())
    return seeds


_ARPA_WORDS = st.sampled_from(["<s>", "</s>", "<unk>", "the", "cat", "\\s", "\\u0020", "\\", "a b"])
_ARPA_NUMBERS = st.sampled_from(["-1.5", "0", "-inf", "nan", "1e999", "-1_0", "x", "", "-99"])


@st.composite
def arpa_files(draw) -> bytes:
    order = draw(st.integers(1, 3))
    counts = st.integers(0, 6).map(str) | st.sampled_from(["-1", "1" + "0" * 30, "9" * 5000, "٣"])
    declared = draw(st.lists(counts, min_size=order, max_size=order))
    lines = ["\\data\\"]
    lines += [f"ngram {k}={n}" for k, n in enumerate(declared, start=1)]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from([f"ngram {order}=1", "ngram x=1", "ngram ٢=1"])))
    for k in range(1, order + 1):
        sections = [f"\\{k}-grams:", f"\\{k + 1}-grams:", "\\x-grams:", f"\\{'0' * 5000}{k}-grams:"]
        lines += ["", draw(st.sampled_from(sections))]
        for _ in range(draw(st.integers(0, 6))):
            fields = [
                draw(_ARPA_NUMBERS),
                *draw(st.lists(_ARPA_WORDS, min_size=k - 1, max_size=k + 1)),
            ]
            if draw(st.booleans()):
                fields.append(draw(_ARPA_NUMBERS))
            lines.append("\t".join(fields) if draw(st.booleans()) else " ".join(fields))
    lines += ["", draw(st.sampled_from(["\\end\\", "\\end", "", "\\4-grams:"]))]
    return utf8("\n".join(lines) + "\n")


def run_arpa(data: bytes, folder: Path) -> None:
    lm = read_arpa(_write(folder, "model.arpa", data))
    words = [*lm.vocab[:5], "never seen", "</s>"]
    lm.token_logprobs(words)
    lm.logprob10(words[0], words[1:3])


# ---- classification files ------------------------------------------------------------------------
DELIMITED_SEEDS = {
    ".tsv": b"text\tlabel\nplay some jazz\tPlayMusic\nbook a table for two\tBookRestaurant\n",
    ".csv": b'text,label\n"play jazz, now",PlayMusic\nbook a table,BookRestaurant\n',
}
CONLL_SEEDS = [
    b"# label: PlayMusic\nplay O\njazz B-genre\n\n# label: BookRestaurant\nbook O\ntable B-x\n",
    b"EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n",
]
SNIPS_SEEDS = [
    b"play jazz\nbook a table\n" + SEP + b"PlayMusic\nBook\n" + SEP + b"O B-genre\nO O O\n"
]
_LABEL_CELLS = st.sampled_from(
    ["PlayMusic", "", " ", "x\ny", "a,b", '"', "# label: A", "B-PER", "<unk>", "<pad>"]
)


def run_classify(suffix: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, folder: Path) -> None:
        sentences = read_file(_write(folder, "data" + suffix, data))
        if len(sentences):
            build_classify_vocabs(sentences)

    return run


def run_snips_folder(data: bytes, folder: Path) -> None:
    """A folder in the SNIPS layout: seq.in, label and seq.out cut from one input."""
    for name, part in zip(("seq.in", "label", "seq.out"), _parts(data, 3), strict=True):
        if part:
            _write(folder, f"train/{name}", part)
    sentences = load_sentences(str(folder), "train")
    if len(sentences):
        build_classify_vocabs(sentences)


def conll_near_valid() -> st.SearchStrategy[bytes]:
    return lines_of(_WORDS | _LABEL_CELLS, " ", max_cols=4)


def snips_near_valid() -> st.SearchStrategy[bytes]:
    side = lines_of(_WORDS | _LABEL_CELLS, " ")
    return st.tuples(side, side, side).map(SEP.join)


# ---- a prepared corpus: prepared.json ------------------------------------------------------------
@functools.cache
def _prepared_files() -> dict[str, bytes]:
    """The files of a small prepared corpus (``prepared.json`` among them)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "corpus.txt")
        src.write_bytes(TEXT_SEEDS[0] * 20)
        prepare_corpus(str(src), Path(tmp, "out"), tokenizer="char")
        return {p.name: p.read_bytes() for p in Path(tmp, "out").iterdir()}


def prepared_seeds() -> list[bytes]:
    return [_prepared_files()["prepared.json"]]


def prepared_near_valid() -> st.SearchStrategy[bytes]:
    doc = json.loads(_prepared_files()["prepared.json"])
    return mutated_json(doc) | deep_nesting(b"[")


def run_prepared(data: bytes, folder: Path) -> None:
    for name, content in _prepared_files().items():
        _write(folder, name, data if name == "prepared.json" else content)
    corpus = open_prepared(folder)
    corpus.vocab()
    for split in corpus.splits:
        np.asarray(corpus.ids(split)[:10]).tolist()


# ---- an n-gram run: run.json and counts.safetensors ----------------------------------------------
@functools.cache
def _ngram_files() -> dict[str, bytes]:
    tok, vocab, lm = _fitted(3, "word")
    meta = NGramMeta(order=3, smoothing="kn", data="fuzz", tokenizer="word", boundary=tok.boundary)
    with tempfile.TemporaryDirectory() as tmp:
        save_ngram(tmp, lm, vocab, meta)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir()}


def _use_ngram(folder: Path) -> None:
    _, tok, vocab, lm = load_ngram(folder)
    ids = encode_text("the cat sat on a mat\nzzz\n", tok, vocab)
    lm.perplexity(ids)
    lm.distribution(ids[:2])


def run_ngram_meta(data: bytes, folder: Path) -> None:
    for name, content in _ngram_files().items():
        _write(folder, name, data if name == "run.json" else content)
    _use_ngram(folder)


def run_ngram_counts(data: bytes, folder: Path) -> None:
    for name, content in _ngram_files().items():
        _write(folder, name, data if name == "counts.safetensors" else content)
    _use_ngram(folder)


def ngram_meta_near_valid() -> st.SearchStrategy[bytes]:
    return mutated_json(json.loads(_ngram_files()["run.json"])) | deep_nesting(b"[")


_DTYPES = ["int64", "int64", "int64", "int32", "uint8", "float64", "bool"]


@st.composite
def counts_files(draw) -> bytes:
    """The run's own tables with some arrays changed: values, length, dtype, shape or name."""
    from safetensors.numpy import load

    tensors = load(_ngram_files()["counts.safetensors"])
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(tensors)))
        a = tensors[name].copy()
        action = draw(st.sampled_from(["values", "length", "dtype", "shape", "rename"]))
        if action == "values" and a.size and a.dtype == np.int64:
            i = draw(st.integers(0, a.size - 1))
            a.reshape(-1)[i] = draw(st.integers(-(2**63), 2**63 - 1))
        elif action == "length":
            a = a[: draw(st.integers(0, len(a)))]
        elif action == "dtype":
            a = a.astype(draw(st.sampled_from(_DTYPES)))
        elif action == "shape":
            a = a.reshape(1, -1)
        elif action == "rename":
            del tensors[name]
            name = draw(st.sampled_from(["keys.4", "counts.0", name.upper()]))
        tensors[name] = np.ascontiguousarray(a)
    with tempfile.TemporaryDirectory() as tmp:
        save_file(tensors, Path(tmp, "counts.safetensors"))
        return Path(tmp, "counts.safetensors").read_bytes()


# ---- the registry --------------------------------------------------------------------------------
def _fixed(seeds: list[bytes]) -> Callable[[], list[bytes]]:
    return lambda: list(seeds)


def _targets() -> dict[str, Target]:
    plain = text_files()
    targets = [
        Target("read-text", run_read_text, _fixed(TEXT_SEEDS), lambda: plain),
        Target("split-text", run_split_text, _fixed(TEXT_SEEDS), lambda: plain),
        Target("prepare-text", run_prepare_text, _fixed(TEXT_SEEDS), lambda: plain),
        Target("vocab-json", run_vocab, vocab_seeds, vocab_near_valid),
        Target("config-yaml", run_config, config_seeds, config_near_valid),
        Target("forecast-csv", run_forecast, _fixed(FORECAST_SEEDS), csv_files),
        Target("seq2seq-tsv", run_tsv, _fixed(TSV_SEEDS), lambda: lines_of(_WORDS, "\t")),
        Target("seq2seq-aligned", run_aligned, _fixed(ALIGNED_SEEDS), aligned_near_valid),
        Target("tang-poems-json", run_poems, poems_seeds, poems_near_valid),
        Target("arpa", run_arpa, arpa_seeds, arpa_files),
        Target(
            "classify-tsv",
            run_classify(".tsv"),
            _fixed([DELIMITED_SEEDS[".tsv"]]),
            lambda: lines_of(_WORDS | _LABEL_CELLS, "\t"),
        ),
        Target(
            "classify-csv",
            run_classify(".csv"),
            _fixed([DELIMITED_SEEDS[".csv"]]),
            lambda: lines_of(_WORDS | _LABEL_CELLS, ","),
        ),
        Target("classify-conll", run_classify(".conll"), _fixed(CONLL_SEEDS), conll_near_valid),
        Target(
            "classify-txt",
            run_classify(".txt"),
            _fixed([*CONLL_SEEDS, DELIMITED_SEEDS[".tsv"]]),
            conll_near_valid,
        ),
        Target("classify-snips-folder", run_snips_folder, _fixed(SNIPS_SEEDS), snips_near_valid),
        Target("prepared-json", run_prepared, prepared_seeds, prepared_near_valid),
        Target(
            "ngram-meta-json",
            run_ngram_meta,
            lambda: [_ngram_files()["run.json"]],
            ngram_meta_near_valid,
        ),
        Target(
            "ngram-counts-safetensors",
            run_ngram_counts,
            lambda: [_ngram_files()["counts.safetensors"]],
            counts_files,
        ),
    ]
    return {t.name: t for t in targets}


TARGETS: dict[str, Target] = _targets()
