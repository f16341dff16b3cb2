"""Constrained poem decoding: forms, acrostics, rhyme, start / style, scripts, sampling."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import torch

from rnnkit.errors import ConfigError, GenerationError
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.poetry.decoding import (
    FORMS,
    PoemDecoder,
    check_form,
    is_han,
    rhyme_group,
    rhymes,
)
from rnnkit.text.vocab import EOS, UNK, Vocab

# A few poems and common characters, all in traditional script (the simplified forms 举 头 乡
# are deliberately absent, so simplified input has to be converted).
POEMS = [
    "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。",
    "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。",
    "春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。",
    "千山鳥飛絕，萬徑人蹤滅。孤舟蓑笠翁，獨釣寒江雪。",
    "兩個黃鸝鳴翠柳，一行白鷺上青天。窗含西嶺千秋雪，門泊東吳萬里船。",
]
COMMON = (
    "天地人日月星風雲雨雪山水江河湖海花草木林竹松梅蘭菊秋冬夏春年時心情思歸來去行走"
    "看聽說言語書詩文字家國城村鄉路橋門窗樓台亭閣舟船車馬牛羊鳥魚蟲龍虎鶴雁鶯燕"
    "紅綠青白黑黃金銀玉石沙塵煙霞霧露霜冰火光影聲色香味酒茶杯琴棋畫歌舞笑哭愁恨"
    "生死老少男女父母兄弟朋友君臣將軍兵戰爭和平安危高低長短遠近深淺明暗寒暖冷熱"
    "東西南北中上下左右前後內外大小多少新舊好壞美醜真假是非有無今古夜晨朝暮"
)
PUNCT = re.compile(r"[，。]")


def make_decoder(seed: int = 0) -> PoemDecoder:
    counts = Counter("".join(POEMS) + COMMON)
    counts[EOS] = len(POEMS)
    vocab = Vocab.build(counts)
    torch.manual_seed(seed)
    cfg = LMConfig(len(vocab), hidden_size=32, num_layers=1, embed_size=16, init_range=0.3)
    model = RNNLanguageModel(cfg)
    with torch.no_grad():  # a sharper decoder makes the next character depend on the state
        model.decoder.weight.mul_(8)
    return PoemDecoder(model, vocab)


@pytest.fixture(scope="module")
def dec() -> PoemDecoder:
    return make_decoder()


def lines_of(poem: str) -> list[str]:
    return [s for s in PUNCT.split(poem) if s]


# ---- rhyme groups and checks ----
def test_rhyme_group_examples():
    assert rhyme_group("光") == rhyme_group("霜") == rhyme_group("鄉") == rhyme_group("乡") == "ang"
    assert rhyme_group("月") != rhyme_group("光")
    assert rhyme_group("花") == rhyme_group("家") == "a"
    assert rhyme_group("天") == rhyme_group("山") == rhyme_group("遠") == "an"
    assert rhyme_group("歌") == rhyme_group("波") == rhyme_group("多")  # e / o / uo merged
    assert rhyme_group("西") == rhyme_group("知")  # i and the apical i share one group
    assert rhyme_group("魚") != rhyme_group("西")  # ü stays apart from i
    assert rhyme_group("，") is None and rhyme_group("A") is None and rhyme_group("") is None


def test_check_form_and_rhymes():
    poem = POEMS[0]
    assert check_form(poem, "wujue") and not check_form(poem, "qijue")
    assert check_form(poem[:12] + "\n" + poem[12:], "wujue")  # white space is ignored
    assert not check_form(poem.replace("，", "。", 1), "wujue")
    assert not check_form(poem.replace("光", "A"), "wujue")
    assert rhymes(poem, "wujue")  # 霜 / 鄉
    assert not rhymes(POEMS[2].replace("少", "月"), "wujue")
    with pytest.raises(ConfigError, match="unknown form"):
        check_form(poem, "sonnet")


# ---- forms ----
@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_is_well_formed(dec, form):
    for seed in range(30):
        poem = dec.generate(form=form, seed=seed)
        assert check_form(poem, form), poem


def test_form_holds_against_a_model_that_prefers_marks_and_reserved_tokens():
    dec = make_decoder(1)
    with torch.no_grad():
        for tok in ("，", "。", EOS, UNK):
            dec.model.decoder.bias[dec.vocab.token_to_id(tok)] = 50.0
    for seed in range(10):
        assert check_form(dec.generate(form="qijue", seed=seed), "qijue")


def test_batch_is_well_formed_and_rhymes(dec):
    poems = dec.generate_batch(16, form="wulv", rhyme=True, seed=0)
    assert len(poems) == 16 and len(set(poems)) > 1
    assert all(rhymes(p, "wulv") for p in poems), poems


# ---- free mode ----
def test_free_mode_never_samples_reserved_and_stops_at_eos():
    dec = make_decoder(2)
    with torch.no_grad():
        dec.model.decoder.bias[dec.vocab.token_to_id(UNK)] = 50.0
    poem = dec.generate(seed=0, max_chars=40)
    assert "<" not in poem and 0 < len(poem) <= 40
    with torch.no_grad():
        dec.model.decoder.bias[dec.vocab.token_to_id(EOS)] = 100.0
    assert dec.generate(seed=0) == ""
    assert dec.generate(start="床前", seed=0) == "床前"


# ---- acrostic ----
def test_acrostic_ignores_punctuation_in_the_user_text(dec):
    for seed in range(5):
        poem = dec.generate(acrostic="春，夏？秋！冬", seed=seed)
        lines = lines_of(poem)
        assert [line[0] for line in lines] == list("春夏秋冬")
        assert all(len(line) == 5 for line in lines)
        assert poem.endswith("。") and poem.count("，") == 2 and poem.count("。") == 2
    poem = dec.generate(acrostic="春 夏, 秋. 冬", form="qijue", seed=0)
    assert check_form(poem, "qijue") and [s[0] for s in lines_of(poem)] == list("春夏秋冬")
    three = dec.generate(acrostic="山水花", seed=0)  # any count; the last line ends with 。
    assert len(lines_of(three)) == 3 and three.endswith("。")


def test_acrostic_must_match_the_form(dec):
    with pytest.raises(GenerationError, match="wujue has 4 lines"):
        dec.generate(form="wujue", acrostic="春夏秋冬雪")
    with pytest.raises(GenerationError, match="exactly 8"):
        dec.generate(form="qilv", acrostic="春夏秋冬")
    with pytest.raises(GenerationError, match="Chinese characters"):
        dec.generate(acrostic="春A")
    with pytest.raises(GenerationError, match="no character"):
        dec.generate(acrostic="？！ ")


def test_acrostic_with_start(dec):
    poem = dec.generate(form="wujue", acrostic="春夏秋冬", start="春眠不覺曉夏", seed=0)
    assert poem.startswith("春眠不覺曉，夏") and check_form(poem, "wujue")
    with pytest.raises(GenerationError, match="disagree"):
        dec.generate(acrostic="春夏秋冬", start="床前")
    with pytest.raises(GenerationError, match="disagree"):
        dec.generate(acrostic="春夏秋冬", start="春眠不覺曉，處")


# ---- start and style ----
def test_start_with_a_form(dec):
    for seed in range(5):
        poem = dec.generate(form="wujue", start="床前明月光，疑是", seed=seed)
        assert poem.startswith("床前明月光，疑是") and check_form(poem, "wujue")
    # line-end marks may be left out, ASCII marks are read as full-width ones
    assert dec.generate(form="wujue", start="床前明月光疑是地上霜", seed=0).startswith(
        "床前明月光，疑是地上霜。"
    )
    assert dec.generate(form="wujue", start="床前明月光,", seed=0).startswith("床前明月光，")
    assert dec.generate(form="wujue", start=POEMS[0], seed=0) == POEMS[0]


def test_start_that_does_not_fit(dec):
    with pytest.raises(GenerationError, match="at most 20"):
        dec.generate(form="wujue", start=POEMS[0] + "白日")
    with pytest.raises(GenerationError, match="ends with '，'"):
        dec.generate(form="wujue", start="床前明月光。")
    with pytest.raises(GenerationError, match="has 7 Chinese characters"):
        dec.generate(form="qijue", start="床前明月光，")
    with pytest.raises(GenerationError, match="empty"):
        dec.generate(start="   ")


def test_style_is_read_but_not_printed(dec):
    style = POEMS[4]
    plain = [dec.generate(form="wujue", seed=s) for s in range(5)]
    styled = [dec.generate(form="wujue", style=style, seed=s) for s in range(5)]
    assert all(check_form(p, "wujue") and style[:7] not in p for p in styled)
    assert styled != plain  # the mood poem changed the state
    poem = dec.generate(form="wujue", style=style, start="春眠", seed=0)
    assert poem.startswith("春眠") and check_form(poem, "wujue")
    with pytest.raises(GenerationError, match="--style is empty"):
        dec.generate(style=" ，。\n")


# ---- rhyme ----
@pytest.mark.parametrize("form", ["wujue", "qilv"])
def test_rhyme_over_seeds(dec, form):
    for seed in range(30):
        poem = dec.generate(form=form, rhyme=True, seed=seed)
        assert rhymes(poem, form), poem
    # without the constraint the untrained model rarely rhymes
    assert sum(rhymes(dec.generate(form=form, seed=s), form) for s in range(30)) < 30


def test_rhyme_follows_the_start_and_works_with_an_acrostic(dec):
    poem = dec.generate(form="wujue", start="床前明月光，疑是地上霜。", rhyme=True, seed=0)
    assert rhymes(poem, "wujue") and rhyme_group(poem[-2]) == "ang"
    for seed in range(10):
        poem = dec.generate(acrostic="春夏秋冬", rhyme=True, seed=seed)
        evens = lines_of(poem)[1::2]
        assert len({rhyme_group(line[-1]) for line in evens}) == 1, poem


def test_rhyme_needs_known_lines(dec):
    with pytest.raises(ConfigError, match="--rhyme needs"):
        dec.generate(rhyme=True)


# ---- scripts ----
def test_simplified_input_is_converted_to_the_vocabulary_script(dec):
    assert "举" not in dec.vocab and "舉" in dec.vocab
    poem = dec.generate(form="wujue", start="举头望明月，低头思故乡", seed=0)
    assert poem.startswith("舉頭望明月，低頭思故鄉。")
    poem = dec.generate(acrostic="乡", seed=0)
    assert poem.startswith("鄉")
    styled = dec.generate(form="wujue", style="举头望明月", seed=0)
    assert check_form(styled, "wujue")


def test_unknown_characters_are_named(dec):
    with pytest.raises(GenerationError, match="'貓'"):  # in neither script
        dec.generate(start="举头貓")
    with pytest.raises(GenerationError, match="'猫'"):
        dec.generate(acrostic="春猫")
    with pytest.raises(GenerationError, match="'猫'"):
        dec.generate(style="猫")


def test_vocab_without_marks_is_refused():
    counts = Counter("床前明月光疑是地上霜。")
    vocab = Vocab.build(counts)
    model = RNNLanguageModel(LMConfig(len(vocab), hidden_size=8, num_layers=1))
    with pytest.raises(ConfigError, match="'，'"):
        PoemDecoder(model, vocab)


# ---- sampling ----
def test_greedy_is_deterministic_and_seeds_repeat(dec):
    greedy = {dec.generate(form="qijue", temperature=0, seed=s) for s in range(3)}
    assert len(greedy) == 1 and check_form(greedy.pop(), "qijue")
    assert dec.generate(form="wulv", seed=7) == dec.generate(form="wulv", seed=7)
    assert dec.generate(seed=7) == dec.generate(seed=7)
    assert len({dec.generate(form="wulv", seed=s) for s in range(5)}) > 1
    top = dec.generate(form="wujue", top_k=3, top_p=0.9, temperature=0.8, seed=1)
    assert check_form(top, "wujue")


def test_bad_sampling_settings(dec):
    with pytest.raises(GenerationError, match="temperature"):
        dec.generate(temperature=-1)
    with pytest.raises(GenerationError, match="max-chars"):
        dec.generate(max_chars=0)
    with pytest.raises(ConfigError, match="unknown form"):
        dec.generate(form="haiku")


def test_only_chinese_characters_count_as_han():
    assert is_han("月") and is_han("𠀀") and not is_han("，") and not is_han(EOS)
    assert not is_han("〇") and not is_han("ab")


def test_style_drops_marks_the_model_never_saw(dec):
    poem = dec.generate(form="wujue", style="春眠不覺曉？處處聞啼鳥！ ～", seed=0)
    assert check_form(poem, "wujue")
    with pytest.raises(GenerationError, match="'abc'"):
        dec.generate(style="春眠 abc")
