"""Tang poetry data: lines and forms, cleaning, script conversion, the held-out split, corpus
files, statistics, loading and download; ``@realdata`` tests read the shared 全唐诗 files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random

import pytest
from conftest import one_line_error, realdata

from rnnkit.errors import ConfigError, DataError, DownloadError
from rnnkit.poetry.data import (
    DUPLICATE,
    FILES,
    FORM,
    FORM_CHOICES,
    FORMS,
    MARKUP,
    MISSING,
    NUM_POEMS,
    REASONS,
    TOO_LONG,
    CleanReport,
    Poem,
    clean_poems,
    held_out_score,
    load_poems,
    poem_form,
    poem_lines,
    poem_stats,
    split_held_out,
    to_simplified,
    to_traditional,
    write_corpus,
)
from rnnkit.registry.datasets import load_split_text, sha256_file
from rnnkit.text.tokenizers import EOS, ChineseCharTokenizer

# One real poem of each form (traditional characters, as in the corpus).
WUJUE = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
QIJUE = "朝辭白帝彩雲間，千里江陵一日還。兩岸猿聲啼不住，輕舟已過萬重山。"
WULV = (
    "國破山河在，城春草木深。感時花濺淚，恨別鳥驚心。"
    "烽火連三月，家書抵萬金。白頭搔更短，渾欲不勝簪。"
)
QILV = (
    "風急天高猿嘯哀，渚清沙白鳥飛迴。無邊落木蕭蕭下，不盡長江滾滾來。"
    "萬里悲秋常作客，百年多病獨登臺。艱難苦恨繁霜鬢，潦倒新停濁酒杯。"
)
GOOD = {"wujue": WUJUE, "qijue": QIJUE, "wulv": WULV, "qilv": QILV}
OLD_STYLE = "君不見黃河之水天上來，奔流到海不復回。"  # a clean poem of no regular form


def poem(text: str, paragraphs: tuple[str, ...] | None = None) -> Poem:
    return Poem("題", "佚名", text, paragraphs if paragraphs is not None else (text,))


# ---- lines and forms -------------------------------------------------------------------------
def test_poem_lines_keep_the_mark_with_its_line():
    assert poem_lines("床前明月光，疑是地上霜。") == ["床前明月光，", "疑是地上霜。"]
    assert poem_lines("何處有？牧童遙指；杏花村！") == ["何處有？", "牧童遙指；", "杏花村！"]
    assert poem_lines("問春桂：桃李正芬華") == [
        "問春桂：",
        "桃李正芬華",
    ]  # text after the last mark
    assert poem_lines(" 床前明月光，\n疑是地上霜。\n") == ["床前明月光，", "疑是地上霜。"]
    assert poem_lines("") == []
    assert len(poem_lines(QILV)) == 8


@pytest.mark.parametrize("name", list(FORMS))
def test_poem_form_recognises_each_form(name):
    assert poem_form(GOOD[name]) == name
    assert poem_form(to_simplified(GOOD[name])) == name
    lines, width = FORMS[name]
    assert len(poem_lines(GOOD[name])) == lines
    assert {len(line) - 1 for line in poem_lines(GOOD[name])} == {width}


def test_poem_form_takes_a_question_or_exclamation_at_a_line_end():
    assert poem_form("清明時節雨紛紛，路上行人欲斷魂。借問酒家何處有？牧童遙指杏花村。") == "qijue"
    assert poem_form("床前明月光！疑是地上霜？舉頭望明月；低頭思故鄉！") == "wujue"


@pytest.mark.parametrize(
    "text",
    [
        "床前明月光，疑是地上霜。舉頭望明月亮，低頭思故鄉。",  # a 6-character line
        "床前明月光，疑是地上霜。舉頭望明月。",  # 3 lines
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉",  # the last 。 missing
        "床前明月光。疑是地上霜。舉頭望明月，低頭思故鄉。",  # an odd line ends in 。
        "床前明月光，疑是地上霜，舉頭望明月，低頭思故鄉。",  # an even line ends in ，
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。床前明月光，",  # 5 lines
        "床前明月光，疑是地上霜。兩岸猿聲啼不住，輕舟已過萬重山。",  # 5 and 7 mixed
        "床前明月□，疑是地上霜。舉頭望明月，低頭思故鄉。",  # a placeholder is no character
        "床前明月光，疑是地上霜。舉頭望明月，「低頭思故鄉。",
        WULV[:-1],
        OLD_STYLE,
        "",
    ],
)
def test_poem_form_near_misses(text):
    assert poem_form(text) is None


def test_eight_quatrain_lines_make_a_regulated_verse():
    assert poem_form(WUJUE + WUJUE) == "wulv"
    assert poem_form(QIJUE + QIJUE) == "qilv"


# ---- cleaning --------------------------------------------------------------------------------
BAD = {
    MISSING: [
        "床前明月光，疑是地上□。舉頭望明月，低頭思故鄉。",
        "床前明月光，疑是地上○。舉頭望明月，低頭思故鄉。",
        "床前明月光，？是地上霜。舉頭望明月，低頭思故鄉。",  # ？ that closes no clause
        "床前明月光，疑是地上霜（一作雪）。舉頭望明月，低頭思故鄉。",
        "床前明月光，疑是[地]上霜。舉頭望明月，低頭思故鄉。",
        "床前明月光(一作看)，疑是地上霜。舉頭望明月，低頭思故鄉。",
        "床前明月光，疑是{土也}上霜。舉頭望明月，低頭思故鄉。",
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。（見《李太白集》）",
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。〖1〗",  # digit too: counted once
        "床前明月\ue829，疑是地上霜。舉頭望明月，低頭思故鄉。",  # private use
        "床前明月\ufffd，疑是地上霜。舉頭望明月，低頭思故鄉。",  # replacement character
        "床前明月光，疑是地上霜。⿰亻丸頭望明月，低頭思故鄉。",  # description sequence
    ],
    MARKUP: [
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。abc",
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。2",
        "床前明月光，<br>疑是地上霜。舉頭望明月，低頭思故鄉。",
        "床前明月光，疑是地上霜。Ｂ舉頭望明月，低頭思故鄉。",
        "床前明月光， 疑是地上霜。舉頭望明月，低頭思故鄉。",
    ],
}


def test_clean_poems_drops_each_bad_kind_with_its_reason():
    poems = [poem(t) for kind in BAD.values() for t in kind]
    poems += [
        poem("", ()),  # no paragraphs at all
        poem(WUJUE, ("床前明月光，疑是地上霜。", " ", "舉頭望明月，低頭思故鄉。")),  # a blank one
        poem(QILV * 3),  # 192 characters
        poem(WUJUE),
        poem(QIJUE),
        poem(OLD_STYLE),
        poem(WUJUE),  # a repeat
    ]
    texts, report = clean_poems(poems)
    assert texts == [WUJUE, QIJUE, OLD_STYLE]
    assert report == CleanReport(
        total=len(poems),
        kept=3,
        dropped={
            MISSING: len(BAD[MISSING]),
            MARKUP: len(BAD[MARKUP]) + 2,
            TOO_LONG: 1,
            FORM: 0,
            DUPLICATE: 1,
        },
    )
    assert list(report.dropped) == list(REASONS)
    assert report.total == report.kept + sum(report.dropped.values())
    assert report.summary() == (
        f"kept 3 of {len(poems)} poems; dropped 12 missing characters, 7 broken markup, "
        "1 too long, 1 duplicate"
    )


def test_clean_poems_by_form():
    texts = [WUJUE, QIJUE, WULV, QILV, OLD_STYLE, "床前明月光，疑是地上霜。"]
    expect = {
        "all": texts,
        "wujue": [WUJUE],
        "qijue": [QIJUE],
        "wulv": [WULV],
        "qilv": [QILV],
        "jueju": [WUJUE, QIJUE],
        "lvshi": [WULV, QILV],
        "regular": [WUJUE, QIJUE, WULV, QILV],
    }
    assert set(expect) == set(FORM_CHOICES)
    for form, kept in expect.items():
        got, report = clean_poems(texts, form=form)  # plain texts work too
        assert got == kept, form
        assert report.dropped[FORM] == len(texts) - len(kept)


def test_clean_poems_options():
    texts, report = clean_poems([WUJUE, WUJUE, QILV], max_chars=63, dedupe=False)
    assert texts == [WUJUE, WUJUE]
    assert report.dropped[TOO_LONG] == 1 and report.dropped[DUPLICATE] == 0
    assert clean_poems([QILV], max_chars=64)[0] == [QILV]  # marks count: 8 x (7 + 1)
    message = one_line_error(ConfigError, clean_poems, [WUJUE], form="sonnet")
    assert "sonnet" in message and "qijue" in message
    one_line_error(ConfigError, clean_poems, [WUJUE], max_chars=0)
    assert clean_poems([]) == ([], CleanReport(0, 0, dict.fromkeys(REASONS, 0)))


# ---- script conversion -----------------------------------------------------------------------
def test_simplified_and_traditional():
    assert to_simplified("舉頭望明月") == "举头望明月"
    assert to_simplified(WUJUE) == "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
    assert to_traditional("举头望明月，低头思故乡。") == "舉頭望明月，低頭思故鄉。"
    assert to_simplified("举头望明月") == "举头望明月"


def test_clean_poems_simplified_converts_before_the_form_and_duplicate_checks():
    # 裏 and 裡 are variants that both become 里: a duplicate only once simplified.
    a = "夢裏不知身是客，一晌貪歡。"
    b = a.replace("裏", "裡")
    texts, report = clean_poems([poem(QIJUE), poem(a), poem(b)], simplified=True)
    assert texts == [to_simplified(QIJUE), to_simplified(a)]
    assert "辞" in texts[0] and "辭" not in texts[0]
    assert report.dropped[DUPLICATE] == 1
    assert len(clean_poems([a, b])[0]) == 2  # still distinct in traditional characters
    simple, _ = clean_poems([QIJUE, WULV], form="qijue", simplified=True)
    assert simple == [to_simplified(QIJUE)]


# ---- held-out split --------------------------------------------------------------------------
def made_up_poems(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 五言绝句-shaped texts of random common characters."""
    rng = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    out = set()
    while len(out) < n:
        lines = ["".join(rng.choices(chars, k=5)) + m for m in "，。，。"]
        out.add("".join(lines))
    return sorted(out)


def test_held_out_split_is_fixed_by_each_poem():
    texts = made_up_poems(4000)
    train, held = split_held_out(texts)
    assert len(train) + len(held) == len(texts)
    assert 0.04 < len(held) / len(texts) < 0.06
    held_set = set(held)
    assert [t for t in texts if t in held_set] == held  # input order kept
    assert split_held_out(texts) == (train, held)

    shuffled = texts[:]
    random.Random(1).shuffle(shuffled)
    assert set(split_held_out(shuffled)[1]) == set(held)
    subset = texts[::3]  # any filter: a poem keeps its side
    assert set(split_held_out(subset)[1]) == set(held) & set(subset)

    wider = split_held_out(texts, 0.2)[1]
    assert set(held) <= set(wider) and 0.17 < len(wider) / len(texts) < 0.23


def test_held_out_ignores_script_and_marks():
    score = held_out_score(WULV)
    assert 0.0 <= score < 1.0
    assert held_out_score(to_simplified(WULV)) == score
    assert held_out_score(WULV.replace("，", "；")) == score
    assert held_out_score(QILV) != score


def test_held_out_fraction_must_be_a_fraction():
    for bad in (0.0, 1.0, -0.1, 1.5):
        one_line_error(ConfigError, split_held_out, [WUJUE], bad)


# ---- corpus files ----------------------------------------------------------------------------
def test_write_corpus(tmp_path):
    train, valid = [WUJUE, QIJUE, WULV], [QILV]
    folder = tmp_path / "corpus"
    write_corpus(folder, train, valid)
    assert sorted(p.name for p in folder.iterdir()) == ["train.txt", "valid.txt"]  # no temp files
    assert (folder / "train.txt").read_text(encoding="utf-8") == f"{WUJUE}\n{QIJUE}\n{WULV}\n"
    assert (folder / "valid.txt").read_text(encoding="utf-8") == f"{QILV}\n"
    tokens = ChineseCharTokenizer().tokenize(load_split_text(str(folder), "train"))
    assert tokens.count(EOS) == 3 and tokens[:3] == ["床", "前", "明"]
    assert tokens[tokens.index(EOS) + 1] == "朝"  # <eos> then the next poem
    assert len(tokens) == len(WUJUE + QIJUE + WULV) + 3
    write_corpus(folder, [QIJUE], [WUJUE])  # replaces
    assert load_split_text(str(folder), "valid") == WUJUE + "\n"


def test_write_corpus_refuses_what_is_not_one_poem_per_line(tmp_path):
    one_line_error(DataError, write_corpus, tmp_path, [WUJUE], [])
    one_line_error(DataError, write_corpus, tmp_path, [], [WUJUE])
    message = one_line_error(DataError, write_corpus, tmp_path, [WUJUE, "床前\n明月"], [QIJUE])
    assert "train poem 1" in message
    one_line_error(DataError, write_corpus, tmp_path, [WUJUE], [" "])
    assert not list(tmp_path.iterdir())


# ---- statistics ------------------------------------------------------------------------------
def test_poem_stats():
    texts = [WUJUE, QIJUE, WULV, QILV, OLD_STYLE, WUJUE]
    stats = poem_stats(texts)
    assert stats["poems"] == 6
    assert stats["forms"] == {"wujue": 2, "qijue": 1, "wulv": 1, "qilv": 1, "other": 1}
    assert stats["characters"] == sum(len(t) for t in texts)
    distinct = set("".join(texts))
    assert stats["distinct_characters"] == len(distinct)
    # 4 reserved tokens (<eos> among them) plus the characters seen at least min_freq times
    joined = "".join(texts)
    assert stats["vocab_size"][1] == 4 + len(distinct)
    assert stats["vocab_size"][2] == 4 + sum(joined.count(c) >= 2 for c in distinct)
    assert stats["vocab_size"][5] == 4 + sum(joined.count(c) >= 5 for c in distinct)
    assert json.loads(json.dumps(stats))["vocab_size"]["1"] == 4 + len(distinct)
    empty = poem_stats([])
    assert empty["poems"] == 0 and empty["characters"] == 0 and empty["vocab_size"][1] == 4


# ---- the file list, loading, download --------------------------------------------------------
def test_files_list_the_58_poem_files():
    assert len(FILES) == 58
    numbers = range(0, 58_000, 1_000)
    assert [f.path for f in FILES] == [f"tang-poetry/poet.tang.{n}.json" for n in numbers]
    assert sum(f.size for f in FILES) == 26_616_507 - 840_110 - 190_787  # README total minus 2
    assert len({f.sha256 for f in FILES}) == 58
    assert all(len(f.sha256) == 64 and int(f.sha256, 16) >= 0 for f in FILES)
    assert FILES[0].url == (
        "https://raw.githubusercontent.com/chinese-poetry/chinese-poetry/"
        "99ebbef7e1345c0985c44b9fd96a3f9e776f117b/%E5%85%A8%E5%94%90%E8%AF%97/poet.tang.0.json"
    )


MADE_UP = [
    {
        "author": "甲",
        "title": "其一",
        "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"],
    },
    {"author": "乙", "title": "其二", "paragraphs": [], "id": "x", "tags": ["t"]},
]


def local_file(tmp_path, monkeypatch, content: str):
    """A DataFile whose local copy under $RNNKIT_DATA holds ``content`` (trusted, not hashed)."""
    root = tmp_path / "data"
    (root / "tang-poetry").mkdir(parents=True)
    (root / FILES[0].path).write_text(content, encoding="utf-8")
    monkeypatch.setenv("RNNKIT_DATA", str(root))
    return FILES[0]


def test_load_poems_reads_the_fields(tmp_path, monkeypatch):
    file = local_file(tmp_path, monkeypatch, json.dumps(MADE_UP, ensure_ascii=False))
    poems = load_poems([file])
    assert poems[0] == Poem("其一", "甲", WUJUE, tuple(MADE_UP[0]["paragraphs"]))
    assert poems[1].text == "" and poems[1].paragraphs == ()
    assert clean_poems(poems)[1].dropped[MARKUP] == 1


@pytest.mark.parametrize(
    "content, words",
    [
        ('[{"author": "甲", ', "not valid JSON"),
        ('{"author": "甲"}', "not a JSON list"),
        ('["床前明月光"]', "poem 0 is not a JSON object"),
        (
            '[{"author": "甲", "title": "t", "paragraphs": []}, {"author": "乙", "title": "t"}]',
            "poem 1 has no 'paragraphs'",
        ),
        ('[{"author": "甲", "title": "t", "paragraphs": "床前明月光"}]', "'paragraphs'"),
        ('[{"author": "甲", "title": 3, "paragraphs": []}]', "'title'"),
        ('[{"title": "t", "paragraphs": []}]', "'author'"),
    ],
)
def test_load_poems_names_the_file_on_malformed_json(tmp_path, monkeypatch, content, words):
    file = local_file(tmp_path, monkeypatch, content)
    message = one_line_error(DataError, load_poems, [file])
    assert "poet.tang.0.json" in message and words in message


def test_load_poems_downloads_and_checks_sha256(server, no_data):
    base, www, hits = server
    raw = json.dumps(MADE_UP, ensure_ascii=False).encode("utf-8")
    (www / "poems.json").write_bytes(raw)
    file = dataclasses.replace(
        FILES[0], sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), url=f"{base}/poems.json"
    )
    poems = load_poems([file])
    assert [p.title for p in poems] == ["其一", "其二"] and poems[0].text == WUJUE
    cached = no_data / "datasets" / file.path
    assert cached.read_bytes() == raw
    assert load_poems([file]) == poems
    assert hits == ["/poems.json"]  # the second load used the cache


def test_load_poems_wrong_sha256_leaves_no_cached_file(server, no_data):
    base, www, hits = server
    (www / "poems.json").write_text(json.dumps(MADE_UP), encoding="utf-8")
    file = dataclasses.replace(FILES[0], sha256="0" * 64, url=f"{base}/poems.json")
    message = one_line_error(DownloadError, load_poems, [file])
    assert "sha256" in message
    folder = no_data / "datasets" / "tang-poetry"
    assert not folder.exists() or not list(folder.iterdir())
    assert hits == ["/poems.json"]


# ---- the real corpus -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_poems():
    return load_poems()


@realdata
def test_real_files_match_the_list():
    from rnnkit.registry.datasets import data_root

    for file in FILES:
        path = data_root() / file.path
        assert path.stat().st_size == file.size, file.path
        assert sha256_file(path) == file.sha256, file.path


@realdata
def test_real_poems_load(real_poems):
    assert len(real_poems) == NUM_POEMS == 57_607
    first = real_poems[0]
    assert (first.title, first.author) == ("帝京篇十首 一", "太宗皇帝")
    assert first.text.startswith("秦川雄帝宅，函谷壯皇居。")
    assert sum(len(p.text) for p in real_poems) == 3_668_082  # README: characters in paragraphs
    jingyesi = [p for p in real_poems if p.title == "靜夜思" and p.author == "李白"]
    assert [poem_form(p.text) for p in jingyesi] == ["wujue"]


@realdata
def test_real_kept_counts_per_form(real_poems):
    kept = {}
    print()
    for form in FORM_CHOICES:
        texts, report = clean_poems(real_poems, form=form)
        assert report.total == NUM_POEMS
        assert report.total == report.kept + sum(report.dropped.values())
        assert len(texts) == report.kept
        kept[form] = report.kept
        print(f"form={form}: {report.summary()}")
        if form == "all":
            assert 45_000 < report.kept < 52_000 and report.dropped[FORM] == 0
            assert 4_000 < report.dropped[MISSING] < 7_000
            all_texts = texts
        else:
            assert report.kept > 3_000 and report.dropped[FORM] > 0
            assert all(poem_form(t) for t in texts)
    assert kept["regular"] == sum(kept[f] for f in FORMS)
    assert kept["jueju"] == kept["wujue"] + kept["qijue"]
    assert kept["lvshi"] == kept["wulv"] + kept["qilv"]
    stats = poem_stats(all_texts)
    assert {f: stats["forms"][f] for f in FORMS} == {f: kept[f] for f in FORMS}


@realdata
def test_real_simplified_corpus_vocab_and_held_out(real_poems):
    trad, trad_report = clean_poems(real_poems)
    simple, simple_report = clean_poems(real_poems, simplified=True)
    print(f"\nsimplified: {simple_report.summary()}")
    assert simple_report.dropped[MISSING] == trad_report.dropped[MISSING]
    assert simple_report.kept <= trad_report.kept  # variants can merge into duplicates
    assert "举头望山月" in "".join(simple) and "舉頭望山月" in "".join(trad)
    joined = "".join(simple)
    assert not any(c in joined for c in "國這學門風鄉頭")

    trad_stats, simple_stats = poem_stats(trad), poem_stats(simple)
    for name, stats in (("traditional", trad_stats), ("simplified", simple_stats)):
        print(
            f"{name}: {stats['poems']:,} poems, {stats['characters']:,} characters, "
            f"{stats['distinct_characters']:,} distinct, vocab {stats['vocab_size']}, "
            f"forms {stats['forms']}"
        )
        assert 5_000 < stats["vocab_size"][1] < 12_000
        assert stats["vocab_size"][1] > stats["vocab_size"][2] > stats["vocab_size"][5]
    assert simple_stats["vocab_size"][1] < trad_stats["vocab_size"][1]

    _, held = split_held_out(trad)
    _, simple_held = split_held_out(simple)
    print(f"held out: {len(held):,} of {len(trad):,} ({len(held) / len(trad):.2%})")
    assert 0.045 < len(held) / len(trad) < 0.055
    # the same poems in either script, and the form filter only narrows them
    assert {to_simplified(t) for t in held} & set(simple) == set(simple_held)
    regular, _ = clean_poems(real_poems, form="regular")
    assert set(split_held_out(regular)[1]) == set(held) & set(regular)
