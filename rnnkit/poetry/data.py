"""The Complete Tang Poems (全唐诗): loading, cleaning, regular forms and a fixed held-out set.

The corpus is the chinese-poetry project's 58 ``poet.tang.N.json`` files: 57,607 poems in
traditional characters, found like any registered file ($RNNKIT_DATA, then a sha256-checked cache,
then a sha256-checked download). The usual path to a training corpus::

    texts, report = clean_poems(load_poems(), form="jueju", simplified=True)
    train, valid = split_held_out(texts)
    write_corpus(folder, train, valid)   # then train with the chinese-char tokenizer

``clean_poems`` drops poems that carry editorial damage: placeholders for lost characters,
bracketed notes and variant readings, stray markup. Its ``CleanReport`` says how many went for
which reason. The held-out set depends on each poem's own text only, so it is the same whatever
the form filter, the order or the script (traditional or simplified).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from rnnkit.errors import ConfigError, DataError
from rnnkit.io import atomic_write_text, read_text
from rnnkit.registry.datasets import DataFile, fetch
from rnnkit.text.tokenizers import EOS, ChineseCharTokenizer
from rnnkit.text.vocab import Vocab

SOURCE_REPO = "chinese-poetry/chinese-poetry"
SOURCE_COMMIT = "99ebbef7e1345c0985c44b9fd96a3f9e776f117b"
_SOURCE_URL = f"https://raw.githubusercontent.com/{SOURCE_REPO}/{SOURCE_COMMIT}/{quote('全唐诗')}"

# (N of poet.tang.N.json, bytes, sha256), as listed in the shared data folder's README.
_FILE_TABLE = (
    (0, 408_405, "4f88f429938082523cdc72a1612bd7a7c3e3f7a33f8192c61ae51340efc3c92d"),
    (1000, 477_519, "6e703b8d8dcedbd6110f6d48d043665ca2131db2035a5bfcef5e59a19aeb6d75"),
    (2000, 417_948, "ec28efa7e2ae9cdbbba09f0ed186e32ccae47a325ad1e5816b7ad56071c1665a"),
    (3000, 453_811, "9e4ba2323752b6b9fbdba875cdbc6a26636fe0cabc85fd066370d4915952001f"),
    (4000, 488_655, "b8a7946c879b9658a6c667a4c55f776fae7e5e00a17789ab06b274c1429afc66"),
    (5000, 467_225, "a0306e6962cff01639ad9a00b042a201b8dec1f30fa5d768a7b112589887861e"),
    (6000, 470_031, "982a21d2b15922b406911f1c825785054314c686da86b2155d7aebb362d22771"),
    (7000, 474_558, "a6fb69d7b4343c904dc56ae5aae34facc2478d196b51c37ceba9d1e2f171b342"),
    (8000, 574_248, "ac3848e95b02736168003863795de4474838c2d6a71a24ca2a4a280ea5177773"),
    (9000, 476_882, "b99d6596e3a1fe1a661652383083f92d196b8baf4e461d087081d5e1e1b7a51f"),
    (10000, 613_029, "b97d1c5509ab62f5b433dee2020c11c4deda4542e276683d1ada6619c34c2113"),
    (11000, 445_111, "9adf1835246053c821d99af39ce9092e14a94e1baf91740098bd9fc6f6f1cd27"),
    (12000, 440_019, "ec43d055a219d52ecdb58cd30a8a444189392f0d68b92a41495df1c72c5fd095"),
    (13000, 420_898, "eb9c85072d7913bb972e07c72f0123e9d7addca22cfd833cb79a5d74b1c76ebf"),
    (14000, 409_199, "1e366dd3fb5a011091524bed36e4edff5d015bf0ddb14143f298515387dbd9a9"),
    (15000, 422_310, "0386e58f46517daa3af0e0f385e0223f1efc0dac53afbe8fea64f99074d870b7"),
    (16000, 380_057, "1c477aef1fc50523f9baf10f29d2d89201a14c4c73001c1c041d0fe8464d11db"),
    (17000, 485_658, "11bac8333b2042975b9844423d113ff2c6fdf701c8b08a5b3aaa6bc9472222de"),
    (18000, 537_556, "37543a147d16e3576d5f45ba8f7b8b51fc311bc10eddae9440f16f2d5ae885c2"),
    (19000, 431_381, "dea74b41bc807ce2527bb119862a251e3a92b6f69bdf9f98b1434a8336830542"),
    (20000, 477_671, "8ccf0783888b15bec60d0253e278cd4b67e94a77725df8ed079d4d8062d050b4"),
    (21000, 572_847, "bddae814c82bf6a9fd294504aa48794bca5f03e986110739b1577aa811125cbd"),
    (22000, 557_450, "d7e7efe3f67415455ae93974a5aa67427e99f6713fde27920bfb657ad3204c4a"),
    (23000, 444_324, "220a535a762349ec1beed00f1dc11293ccefc70bda15c5258bbcab208b14337f"),
    (24000, 462_622, "2f40a4ec0e4469c29f0f028d7a4ad73b83850aa271be9b63ea0c08de6e094dee"),
    (25000, 410_976, "7e7c00ba3f7a95e97de5440f85affa9d54b420d31995b449e97a3e9ea00259f5"),
    (26000, 392_620, "74b5bed25622da1611928fdb31297fafadaf2876ce32ddb0c8b6d12d772979f4"),
    (27000, 373_469, "11626fcc310bbbcc601f7c8c4d8a664cef4907076cd7ec4f16268ee5b921ba44"),
    (28000, 402_527, "86a15affa95859046f869ffd4850886250d1a181e5151b1f096f728fb2d67502"),
    (29000, 432_343, "e1a0cffe17b4f109399db38f2b23f9b6668b8ca1c3c24e36d5cbe4f40a925862"),
    (30000, 394_062, "e71996f771d15476bae48751081b473b381774b5d335f6163b183f70a2eaed01"),
    (31000, 406_846, "f1efaf172d4f6fa9aaacfa4160feb766189989c3264da6ce3a6d64a7c97097bb"),
    (32000, 417_563, "fcb2096245719199249ad23e75eac6997b5a4341564dd1cf73ce8008975b3d74"),
    (33000, 438_157, "35abb37f65817ee4630cfeb2db286832e505873c477e12f14693bcd20e920885"),
    (34000, 416_020, "4b656a62b6a187792c96a632c7e33f443eabda8b48c4fb5dfdda72cf02003095"),
    (35000, 381_490, "a9671b350e58b805fda88b2c17fa0bf3a05313017d28485010e6f60a69bdf945"),
    (36000, 393_811, "1c8e71a32743b37d318bf8beb44b8809a8079011231cf3c7106e2c59f03c55b4"),
    (37000, 376_582, "4c37d2d92ee6fdd73299ef13c91e17b9cbb11ef59d1e024254db1eceb95dc7ae"),
    (38000, 400_487, "08b2ce85e59eac59fe621921b62c15528e9dfb6a102994297703ad67e14aa83f"),
    (39000, 404_803, "791d0171fe1dc88cee8424ae0281f495ed0dcdf042f97f2a3fc9b37e05e9426c"),
    (40000, 361_783, "851d0c3cb796c7f7c63a7765e28564b2c3be3d9691c9f43f88d4d3c64034b5d8"),
    (41000, 376_339, "3c12f59a5103e582eed9fe6ae13affddc030a31e9956efb13cb7768296ba7396"),
    (42000, 390_623, "060026beb06028864bce48e8074e2690f92a1dc5a76ee91f98f2d62b5f02a15c"),
    (43000, 430_665, "de5e658dccbcf0d2b38312b39a2423459b88ef893830bc145d453d82887a5753"),
    (44000, 400_949, "8c6d550818f5390413bc58fbb3af059d3fa4a92264b1bcf84439c2b0bb043985"),
    (45000, 439_632, "5177a4747b785f04897c36b77d5e033b11a7bcad759d1557fdb425166b8767f3"),
    (46000, 402_034, "287e548147e6959306b74c862a1ebe43cdca39adee34e2c63ae5d3b5eaced1f5"),
    (47000, 389_163, "8b43cce475ed43b1105a12a8bdcef32ac22dc056c5f2c616a2976a4103b5d8ac"),
    (48000, 323_882, "8df4861e8d7bc114e91d0a5e37d193f662485cd88b8d09289cc5ac9ab243c3ed"),
    (49000, 402_881, "418e5a082cb70c4f85ce842affec8828a53f6296882e45339c74d553fc46495e"),
    (50000, 609_835, "894bf4e729932d2b48ba731a48075347cf55626c08ac9f30b2fe412ca9e4e895"),
    (51000, 549_433, "9bd1b263807c5c64bca773b76d4861a49af19b76184f88260d6080bb03311928"),
    (52000, 561_704, "1124f4b27f46bd1ffaafdda530719eddbe41858778a0a13e4557ea4eb49ffef0"),
    (53000, 480_142, "75841062fa939e72ee12669859933c9178b88a5c5492bc9ba84d9ef7c6f1e65a"),
    (54000, 467_600, "cd2ba326b80ff8490723ad9fb1ace812306f0e433b74268420165068b0a975ac"),
    (55000, 442_729, "3782736dfee847958363d4adeff1236f148aff3726f2964963b17b06dad2f97b"),
    (56000, 470_081, "274ad6e13c069e35856e53b5dee6821ad2aa9bf8b2a5f969e2eb1234fe954bca"),
    (57000, 234_965, "e04c137b040c1a91e16614178c189d0c30a68e1d4657ea8fde8467601e3ac121"),
)

FILES: list[DataFile] = [
    DataFile(f"tang-poetry/poet.tang.{n}.json", sha256, size, f"{_SOURCE_URL}/poet.tang.{n}.json")
    for n, size, sha256 in _FILE_TABLE
]
NUM_POEMS = 57_607  # poems in FILES

# name -> (lines, characters per line): 五言绝句, 七言绝句, 五言律诗, 七言律诗.
FORMS: dict[str, tuple[int, int]] = {
    "wujue": (4, 5),
    "qijue": (4, 7),
    "wulv": (8, 5),
    "qilv": (8, 7),
}
FORM_GROUPS: dict[str, tuple[str, ...]] = {
    "jueju": ("wujue", "qijue"),
    "lvshi": ("wulv", "qilv"),
    "regular": tuple(FORMS),
}
FORM_CHOICES = ("all", *FORMS, *FORM_GROUPS)

LINE_MARKS = "，。？！；："  # a line ends at any of these; the mark stays with it
# A question or exclamation may close either half of a couplet (借問酒家何處有？).
ODD_LINE_ENDS = "，；：？！"
EVEN_LINE_ENDS = "。？！"

# Reasons a poem is dropped, in the order they are checked.
MISSING = "missing characters"
MARKUP = "broken markup"
TOO_LONG = "too long"
FORM = "form"
DUPLICATE = "duplicate"
REASONS = (MISSING, MARKUP, TOO_LONG, FORM, DUPLICATE)

# CJK ideographs: the basic block, extensions A to H, compatibility ideographs, and 〇.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3007"
_HAN_CHAR = re.compile(f"[{_HAN}]")
_HAN_RUN = {n: re.compile(f"[{_HAN}]{{{n}}}") for n in {c for _, c in FORMS.values()}}
_LINE = re.compile(f"[^{LINE_MARKS}]*[{LINE_MARKS}]|[^{LINE_MARKS}]+")

# Editors mark a lost character with □ ○ ● 〓 or ？/? and put notes, variant readings and sources
# in brackets; private-use code points, U+FFFD and ideographic description sequences (⿰亻丸) stand
# in for characters Unicode lacks. The text of such a poem is not what the poet wrote.
_PLACEHOLDERS = "□■○●◯〓?"
_BRACKETS = "[]［］()（）{}｛｝《》〈〉〖〗【】"
_MISSING_RE = re.compile(
    "["
    + re.escape(_PLACEHOLDERS + _BRACKETS)
    + "\ue000-\uf8ff\U000f0000-\U0010ffff\ufffd\u2ff0-\u2fff"
    + f"]|(?:^|[{LINE_MARKS}、])？"  # a ？ that closes no clause stands for a character
)
# ASCII (letters, digits, <, /, =, ...), full-width letters and digits, white space: left-overs
# of HTML, footnote numbers and character-composition notes.
_MARKUP_RE = re.compile(r"[\x00-\x7f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\s]")

_VOCAB_MIN_FREQS = (1, 2, 5)


@dataclass(frozen=True)
class Poem:
    """One poem.

    Args:
        title: the title, as in the source (traditional characters).
        author: the poet's name.
        text: the paragraphs joined, e.g. ``"床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"``.
        paragraphs: the source's paragraphs (usually one couplet each); kept so that empty ones
            can be reported.
    """

    title: str
    author: str
    text: str
    paragraphs: tuple[str, ...] = field(default=(), repr=False)


# ---- loading ---------------------------------------------------------------------------------
def load_poems(files: Sequence[DataFile] = FILES) -> list[Poem]:
    """Read the poems of ``files`` (default: all 58 files, 57,607 poems) in file order.

    Raises:
        DownloadError: a file is not available locally and cannot be downloaded.
        DataError: a file is not UTF-8 JSON, not a list of poems, or a poem lacks ``title``,
            ``author`` or ``paragraphs`` (the message names the file).
    """
    poems: list[Poem] = []
    for file in files:
        poems.extend(_parse_file(fetch(file), file))
    return poems


def _parse_file(path: Path, file: DataFile) -> list[Poem]:
    hint = f"replace it with the original file ({file.url})"
    text = read_text(path)  # DataError when missing, empty or not UTF-8
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        # json raises JSONDecodeError (a ValueError) on bad syntax, a plain ValueError for an
        # integer of thousands of digits, RecursionError for arrays nested thousands deep
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        if isinstance(e, json.JSONDecodeError):
            why = f"{e.msg} at line {e.lineno}, column {e.colno}"
        raise DataError(f"{path} is not valid JSON ({why}); {hint}") from e
    if not isinstance(data, list):
        raise DataError(f"{path} is not a JSON list of poems; {hint}")
    poems = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: poem {i} is not a JSON object; {hint}")
        title, author, paragraphs = (entry.get(k) for k in ("title", "author", "paragraphs"))
        strings = isinstance(paragraphs, list) and all(isinstance(p, str) for p in paragraphs)
        for key, value, ok, what in (
            ("title", title, isinstance(title, str), "a string"),
            ("author", author, isinstance(author, str), "a string"),
            ("paragraphs", paragraphs, strings, "a list of strings"),
        ):
            if not ok:
                got = "missing" if value is None else f"a {type(value).__name__}"
                raise DataError(f"{path}: poem {i} has no {key!r} ({got}, not {what}); {hint}")
        poems.append(Poem(title, author, "".join(paragraphs), tuple(paragraphs)))
    return poems


# ---- lines and forms -------------------------------------------------------------------------
def poem_lines(text: str) -> list[str]:
    """Split a poem into lines after each of ``，。？！；：``; the mark stays with its line.

    ``"床前明月光，疑是地上霜。"`` gives ``["床前明月光，", "疑是地上霜。"]``. Text after the last
    mark is a line of its own; white space around lines is dropped.
    """
    return [line for line in (m.strip() for m in _LINE.findall(text)) if line]


def poem_form(text: str) -> str | None:
    """The regular form of a poem (a key of ``FORMS``), or None.

    A poem has a form when it has exactly that form's number of lines, each made of exactly that
    many CJK characters and one closing mark: odd lines end in ``，`` (or ``；：？！``), even
    lines in ``。`` (or ``？！``).
    """
    lines = poem_lines(text)
    for name, (num_lines, width) in FORMS.items():
        if len(lines) == num_lines and len(lines[0]) == width + 1:
            return name if _regular(lines, width) else None
    return None


def _regular(lines: list[str], width: int) -> bool:
    run = _HAN_RUN[width]
    for i, line in enumerate(lines):
        ends = EVEN_LINE_ENDS if i % 2 else ODD_LINE_ENDS
        if len(line) != width + 1 or line[-1] not in ends or not run.fullmatch(line, 0, width):
            return False
    return True


def _wanted_forms(form: str) -> frozenset[str] | None:
    """The forms ``form`` keeps; None for ``all``."""
    if form not in FORM_CHOICES:
        raise ConfigError(f"unknown poem form {form!r}: choose one of {', '.join(FORM_CHOICES)}")
    return None if form == "all" else frozenset(FORM_GROUPS.get(form, [form]))


# ---- cleaning --------------------------------------------------------------------------------
@dataclass
class CleanReport:
    """What ``clean_poems`` kept and dropped.

    Args:
        total: poems given.
        kept: poems returned.
        dropped: reason -> poems dropped for it (every reason of ``REASONS``, zeros included;
            a poem counts once, under the first reason that applies).
    """

    total: int
    kept: int
    dropped: dict[str, int]

    def summary(self) -> str:
        """One line, e.g. ``kept 100 of 120 poems; dropped 15 missing characters, 5 form``."""
        parts = [f"{n:,} {why}" for why, n in self.dropped.items() if n]
        tail = f"; dropped {', '.join(parts)}" if parts else ""
        return f"kept {self.kept:,} of {self.total:,} poems{tail}"


def clean_poems(
    poems: Iterable[Poem | str],
    *,
    form: str = "all",
    simplified: bool = False,
    max_chars: int = 128,
    dedupe: bool = True,
) -> tuple[list[str], CleanReport]:
    """Keep the poems fit for training; return their texts (input order) and a report.

    A poem is dropped, checked in this order, for: ``missing characters`` (placeholders such
    as □ ○ or a ？ that closes no clause, bracketed notes in [ ( （ { 《 〖, private-use,
    replacement or description characters), ``broken markup`` (ASCII letters, digits or
    symbols such as ``<``, full-width letters and digits, white space, empty paragraphs),
    ``too long`` (more than ``max_chars`` characters, marks included), ``form`` (not of the
    wanted form) and ``duplicate`` (the same text as a poem already kept).

    Args:
        poems: ``Poem`` objects or poem texts.
        form: ``all`` (no form filter), a key of ``FORMS``, ``jueju`` (wujue + qijue), ``lvshi``
            (wulv + qilv) or ``regular`` (the four forms).
        simplified: convert to simplified characters (OpenCC t2s) before the length, form and
            duplicate checks.
        max_chars: longest poem kept, in characters.
        dedupe: drop repeated texts (the collection has a poem now and then under two authors).

    Raises:
        ConfigError: unknown form, max_chars < 1, or OpenCC missing when ``simplified``.
    """
    wanted = _wanted_forms(form)
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ConfigError(f"max_chars must be a positive integer, got {max_chars!r}")
    convert = _converter("t2s").convert if simplified else None
    dropped = dict.fromkeys(REASONS, 0)
    kept: list[str] = []
    seen: set[str] = set()
    total = 0
    for poem in poems:
        total += 1
        if isinstance(poem, str):
            text, paragraphs = poem, (poem,)
        else:
            text, paragraphs = poem.text, poem.paragraphs or (poem.text,)
        reason = _quality_problem(text, paragraphs)
        if reason is None:
            if convert is not None:
                text = convert(text)
            if len(text) > max_chars:
                reason = TOO_LONG
            elif wanted is not None and poem_form(text) not in wanted:
                reason = FORM
            elif dedupe and text in seen:
                reason = DUPLICATE
        if reason is not None:
            dropped[reason] += 1
            continue
        seen.add(text)
        kept.append(text)
    return kept, CleanReport(total=total, kept=len(kept), dropped=dropped)


def _quality_problem(text: str, paragraphs: Sequence[str]) -> str | None:
    if _MISSING_RE.search(text):
        return MISSING
    if not text or any(not p.strip() for p in paragraphs) or _MARKUP_RE.search(text):
        return MARKUP
    return None


# ---- held-out split --------------------------------------------------------------------------
def held_out_score(text: str) -> float:
    """A number in [0, 1) fixed by the poem's text: sha1 of its CJK characters in simplified form.

    Marks and the script are left out, so the same poem scores the same in traditional or
    simplified characters and with any punctuation.
    """
    simple = _fully_simplified(text)
    key = "".join(_HAN_CHAR.findall(simple)) or simple
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _fully_simplified(text: str) -> str:
    # t2s works on phrases, so a second pass can still change a character (於戲 -> 於戏 -> 于戏);
    # converting to a fixed point gives a traditional poem and its simplified copy one key.
    for _ in range(4):
        simple = to_simplified(text)
        if simple == text:
            break
        text = simple
    return text


def split_held_out(texts: Iterable[str], fraction: float = 0.05) -> tuple[list[str], list[str]]:
    """Split poems into (train, held_out); a poem is held out when its ``held_out_score`` is
    below ``fraction``.

    The choice depends on each poem alone, so a poem is held out in every corpus that has it,
    whatever the form filter, the order or the script. Both lists keep the input order.

    Raises:
        ConfigError: ``fraction`` not in (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"held-out fraction must be in (0, 1), got {fraction}")
    train: list[str] = []
    held_out: list[str] = []
    for text in texts:
        (held_out if held_out_score(text) < fraction else train).append(text)
    return train, held_out


# ---- corpus files ----------------------------------------------------------------------------
def write_corpus(folder: str | Path, train: list[str], valid: list[str]) -> None:
    """Write ``folder/train.txt`` and ``folder/valid.txt``, one poem per line, atomically.

    The chinese-char tokenizer closes each line with ``<eos>``, which then also starts the next
    poem: a model learns where poems end and how they begin.

    Raises:
        DataError: a split is empty, or a poem is blank or holds a line break.
    """
    folder = Path(folder)
    for name, texts in (("train", train), ("valid", valid)):
        if not texts:
            raise DataError(f"no {name} poems to write to {folder}; keep more poems")
        for i, text in enumerate(texts):
            if not text.strip() or "\n" in text or "\r" in text:
                raise DataError(
                    f"{name} poem {i} is blank or holds a line break; "
                    "a corpus takes one poem per line (clean the texts with clean_poems)"
                )
    atomic_write_text(folder / "train.txt", "\n".join(train) + "\n")
    atomic_write_text(folder / "valid.txt", "\n".join(valid) + "\n")


# ---- statistics ------------------------------------------------------------------------------
def poem_stats(texts: Iterable[str]) -> dict:
    """Counts of poems (read once, so a progress bar can count them).

    Returns:
        ``poems``; ``forms``: poems per form of ``FORMS`` and ``other``; ``characters``: tokens of
        the chinese-char tokenizer, marks included, ``<eos>`` not; ``distinct_characters``;
        ``vocab_size``: min_freq (1, 2, 5) -> the vocabulary that training with the chinese-char
        tokenizer would build on these poems (reserved tokens included).
    """
    forms = dict.fromkeys([*FORMS, "other"], 0)
    tokenizer = ChineseCharTokenizer()
    counts: Counter = Counter()
    poems = 0
    for text in texts:
        poems += 1
        forms[poem_form(text) or "other"] += 1
        counts.update(tokenizer.tokenize(text))
    eos = counts.get(EOS, 0)
    return {
        "poems": poems,
        "forms": forms,
        "characters": sum(counts.values()) - eos,
        "distinct_characters": len(counts) - (1 if eos else 0),
        "vocab_size": {k: len(Vocab.build(counts, min_freq=k)) for k in _VOCAB_MIN_FREQS},
    }


# ---- script conversion -----------------------------------------------------------------------
@functools.cache
def _converter(config: str):
    """An OpenCC converter, built once per configuration (loading its tables takes a while)."""
    try:
        import opencc
    except ImportError as e:
        raise ConfigError(
            "converting between traditional and simplified characters needs OpenCC; "
            "install it with pip install opencc"
        ) from e
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional -> simplified characters (OpenCC t2s): 舉頭望明月 -> 举头望明月."""
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    """Simplified -> traditional characters (OpenCC s2t): 举头望明月 -> 舉頭望明月."""
    return _converter("s2t").convert(text)


SCRIPTS = ("as-trained", "simplified", "traditional")


def to_script(text: str, script: str) -> str:
    """``text`` in ``script`` (one of ``SCRIPTS``); ``as-trained`` leaves it as it is."""
    if script not in SCRIPTS:
        raise ConfigError(f"unknown script {script!r}: choose one of {', '.join(SCRIPTS)}")
    convert = {"simplified": to_simplified, "traditional": to_traditional}.get(script)
    return text if convert is None else convert(text)
