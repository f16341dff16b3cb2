"""Write the text files of this folder: short English-like sentences from
a small grammar, drawn with a fixed seed (Python's ``random``, stable across versions).

    python tests/data/lmplz/make_corpus.py
"""

from __future__ import annotations

import random
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


DET = _words("the a this that every some my our")
ADJ = _words("old new small big red green quiet happy tired clever lazy young")
NOUN = _words(
    "cat dog bird man woman child teacher farmer doctor student king queen fox horse "
    "river house garden city market village tree road book letter song"
)
VERB = _words(
    "saw found liked wanted watched helped followed met painted heard carried visited "
    "built read wrote sang"
)
INTRANS = _words("slept ran laughed waited smiled left arrived stayed")
PREP = _words("near in behind under over beside with from")
ADV = _words("quickly slowly today again yesterday quietly often")
CONJ = _words("and but so")
NAME = _words(
    "anna ben clara david emma frank grace henry iris jack kate leo mia noah olga paul "
    "rosa sam tina victor wendy xavier yara zoe alice bruno chloe dmitri elena felix "
    "greta hugo ingrid jonas karla lars marta nils oscar"
)


def pick(rng: random.Random, words: list[str]) -> str:
    """A Zipf-like draw: the first words of a list are the most frequent."""
    return rng.choices(words, weights=[1 / (i + 1) for i in range(len(words))])[0]


def noun_phrase(rng: random.Random) -> list[str]:
    if rng.random() < 0.15:
        return [pick(rng, NAME)]
    words = [pick(rng, DET)]
    if rng.random() < 0.4:
        words.append(pick(rng, ADJ))
    words.append(pick(rng, NOUN))
    if rng.random() < 0.2:
        words += [pick(rng, PREP), *noun_phrase(rng)]
    return words


def clause(rng: random.Random) -> list[str]:
    words = noun_phrase(rng)
    if rng.random() < 0.3:
        words.append(pick(rng, INTRANS))
    else:
        words += [pick(rng, VERB), *noun_phrase(rng)]
    if rng.random() < 0.25:
        words.append(pick(rng, ADV))
    return words


def sentence(rng: random.Random) -> str:
    words = clause(rng)
    if rng.random() < 0.2:
        words += [pick(rng, CONJ), *clause(rng)]
    return " ".join(words)


def main() -> None:
    rng = random.Random(20240501)
    here = Path(__file__).parent
    lines = [sentence(rng) for _ in range(300)]
    (here / "train.txt").write_text("\n".join(lines[:250]) + "\n")
    # valid: unseen sentences, one of them with words the training text does not have
    valid = lines[250:] + ["the purple cat saw a unicorn"]
    (here / "valid.txt").write_text("\n".join(valid) + "\n")
    # too little text to estimate every discount: lmplz needs --discount_fallback
    (here / "tiny.txt").write_text("\n".join(lines[:12]) + "\n")
    # a new word last, seen three times after the same word: raw count 3, adjusted count 1
    (here / "last.txt").write_text("\n".join(lines[:12] + ["the zebra"] * 3) + "\n")


if __name__ == "__main__":
    main()
