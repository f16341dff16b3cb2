"""The Moses-style tokenizer that reads raw input as the registered parallel corpora were made."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from conftest import realdata

from rnnkit.text.moses import moses_tokenize


@pytest.mark.parametrize(
    ("lang", "raw", "tokens"),
    [
        ("de", "zwei hunde spielen im schnee.", "zwei hunde spielen im schnee ."),
        ("de", "ein mann, der etwas anstarrt!", "ein mann , der etwas anstarrt !"),
        ("de", "ein saftig-grünes gras", "ein saftig-grünes gras"),  # hyphens stay (no -a)
        ("de", "er sagt: \u201ehallo\u201c.", "er sagt : &quot; hallo &quot; ."),
        ("de", "geht's", "geht &apos; s"),
        ("en", "a woman's shoulders.", "a woman &apos;s shoulders ."),
        ("en", "the 1990's (or so)", "the 1990 &apos;s ( or so )"),
        ("en", "it costs 1,000 dollars & more...", "it costs 1,000 dollars &amp; more ..."),
        ("en", "the u.s. team. then", "the u.s. team. then"),  # before a lower-case word
        ("en", "dr. Smith", "dr . Smith"),
        ("en", "  spaced \t out  ", "spaced out"),
        ("en", "", ""),
    ],
)
def test_moses_rules(lang, raw, tokens):
    assert " ".join(moses_tokenize(raw, lang)) == tokens


@realdata
@pytest.mark.parametrize("lang", ["de", "en"])
def test_raw_multi30k_validation_gives_the_official_tokens(lang):
    root = Path(os.environ["RNNKIT_DATA"]) / "multi30k"
    with gzip.open(root / f"raw/val.{lang}.gz", "rt", encoding="utf-8") as f:
        raw = f.read().split("\n")
    official = (root / f"tok/val.lc.norm.tok.{lang}").read_text(encoding="utf-8").split("\n")
    pairs = [(r, t.strip()) for r, t in zip(raw, official, strict=False) if r.strip()]
    same = sum(" ".join(moses_tokenize(r.lower(), lang)) == t for r, t in pairs)
    assert len(pairs) == 1014 and same / len(pairs) >= 0.998
