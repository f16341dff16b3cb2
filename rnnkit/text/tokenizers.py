"""Tokenizers: text -> list of string tokens, and back.

Three are built in:

- ``char``: one token per Unicode code point (any language, emoji included). Lossless.
- ``word``: whitespace-separated tokens per line with ``<eos>`` at each line end, the convention
  of PTB and WikiText. Optional lower-casing. Decoding joins with single spaces, so it is lossless
  only for text already in that form.
- ``chinese-char``: one token per CJK character or punctuation mark, runs of ASCII letters and
  digits kept whole, ``<eos>`` at line ends, other white space dropped.

Each tokenizer names a ``boundary`` token that separates lines; scoring and generation use it as
the context that comes before a fresh line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rnnkit.errors import check_choice
from rnnkit.text.lines import split_lines

EOS = "<eos>"


@dataclass(frozen=True)
class CharTokenizer:
    """One token per code point."""

    name: str = "char"
    boundary: str = "\n"
    lossless: bool = True

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def to_dict(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class WordTokenizer:
    """Whitespace tokens per line, ``<eos>`` closing every line (PTB / WikiText style)."""

    lowercase: bool = False
    name: str = "word"
    boundary: str = EOS
    lossless: bool = False

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if text and not text.endswith("\n"):
            text += "\n"
        # every line's tokens and its <eos> in one split, without a list per line
        return text.replace("\n", f" {EOS} ").split()

    def detokenize(self, tokens: list[str]) -> str:
        out: list[str] = []
        line: list[str] = []
        for tok in tokens:
            if tok == EOS:
                out.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(tok)
        if line:
            out.append(" ".join(line))
        return "".join(out)

    def to_dict(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}


_CJK_TOKEN = re.compile(r"[A-Za-z0-9]+|\S")


@dataclass(frozen=True)
class ChineseCharTokenizer:
    """One token per Chinese character or mark; ASCII words and numbers stay whole."""

    name: str = "chinese-char"
    boundary: str = EOS
    lossless: bool = False

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        for line in split_lines(text):
            tokens.extend(_CJK_TOKEN.findall(line))
            tokens.append(EOS)
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        return "".join("\n" if t == EOS else t for t in tokens)

    def to_dict(self) -> dict:
        return {"name": self.name}


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer, "chinese-char": ChineseCharTokenizer}

Tokenizer = CharTokenizer | WordTokenizer | ChineseCharTokenizer


def build_tokenizer(name: str, lowercase: bool = False) -> Tokenizer:
    """Build a tokenizer by name (``char``, ``word`` or ``chinese-char``)."""
    check_choice("tokenizer", name, TOKENIZERS)
    if name == "word":
        return WordTokenizer(lowercase=lowercase)
    return TOKENIZERS[name]()


def tokenizer_from_dict(d: dict) -> Tokenizer:
    return build_tokenizer(d["name"], lowercase=bool(d.get("lowercase", False)))
