"""Vocabulary: tokens <-> integer ids, with reserved tokens and ``<unk>``."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from itertools import repeat
from pathlib import Path

import numpy as np

from rnnkit.errors import VocabError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
RESERVED = (PAD, UNK, BOS, EOS)


def mostly_unknown(unknown: int, tokens: int) -> bool:
    """Whether at least half of ``tokens`` are read as ``<unk>``: the model then sees too little
    of the input for its output (a score, a translation) to mean much."""
    return tokens > 0 and 2 * unknown >= tokens


_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")


class Vocab:
    """A frozen token <-> id table.

    Reserved tokens come first (``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3 by
    default), then the corpus tokens by descending frequency, ties broken by the token itself so
    that the same counts always give the same ids. Unknown tokens map to ``<unk>``.

    Args:
        tokens: every token in id order, reserved ones included.
        reserved: which of ``tokens`` are reserved (they must come first).
        counts: optional corpus frequency of each token (reserved tokens may be 0).
    """

    def __init__(
        self,
        tokens: list[str],
        reserved: Iterable[str] = RESERVED,
        counts: list[int] | None = None,
    ):
        self.reserved = tuple(reserved)
        self.itos = list(tokens)
        _check_tokens(self.itos)
        if self.itos[: len(self.reserved)] != list(self.reserved):
            raise VocabError("reserved tokens must come first in a vocabulary; rebuild it")
        if UNK not in self.reserved:
            raise VocabError(f"a vocabulary needs the reserved token {UNK}; add it to reserved")
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise VocabError("vocabulary lists a token twice; rebuild it from the corpus")
        self.counts = [0] * len(self.itos) if counts is None else _checked_counts(counts, self.itos)
        self.unk_id = self.stoi[UNK]

    @classmethod
    def build(
        cls,
        counter: Counter | dict,
        min_freq: int = 1,
        max_size: int | None = None,
        reserved: Iterable[str] = RESERVED,
    ) -> Vocab:
        """Build from token counts.

        Args:
            counter: token -> count.
            min_freq: tokens seen fewer times map to ``<unk>``.
            max_size: largest vocabulary size, reserved tokens included (None: no limit).
            reserved: special tokens placed first.
        """
        reserved = tuple(reserved)
        if min_freq < 1:
            raise VocabError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size <= len(reserved):
            raise VocabError(
                f"max_size {max_size} leaves no room beside {len(reserved)} reserved tokens; "
                "raise it"
            )
        kept = [(t, c) for t, c in counter.items() if c >= min_freq and t not in reserved]
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            kept = kept[: max_size - len(reserved)]
        tokens = list(reserved) + [t for t, _ in kept]
        counts = [int(counter.get(t, 0)) for t in reserved] + [c for _, c in kept]
        return cls(tokens, reserved, counts)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def token_to_id(self, token: str) -> int:
        return self.stoi.get(token, self.unk_id)

    def id_to_token(self, idx: int) -> str:
        return self.itos[idx]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Tokens -> int64 ids, unknown tokens -> ``<unk>``. Shape: (len(tokens),)."""
        # map() with a repeated default runs the lookups in C, no Python frame per token.
        return np.fromiter(map(self.stoi.get, tokens, repeat(self.unk_id)), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def id_of(self, token: str) -> int:
        """The id of a token that must be in the vocabulary (a reserved one, say)."""
        if token not in self.stoi:
            raise VocabError(f"token {token!r} is not in the vocabulary")
        return self.stoi[token]

    # ---- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"tokens": self.itos, "reserved": list(self.reserved), "counts": self.counts}

    def save(self, path: str | Path) -> None:
        from rnnkit.io import atomic_write_text

        text = json.dumps(self.to_dict(), ensure_ascii=False)
        # A lone surrogate (possible in a Python str, never in UTF-8 text) has no UTF-8 form:
        # written as a \uXXXX escape it reads back as itself.
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(d, dict):
                raise TypeError(f"{_json_type(d)} instead of an object")
            for key in ("tokens", "reserved"):
                if key not in d:
                    raise KeyError(f"no {key!r} list")
                if not isinstance(d[key], list):
                    raise TypeError(f"{key!r} is {_json_type(d[key])}, not a list")
            return cls(d["tokens"], d["reserved"], d.get("counts"))
        except FileNotFoundError as e:
            raise VocabError(f"no vocabulary at {path}; is this a run directory?") from e
        except VocabError as e:
            raise VocabError(f"{path}: {e}") from e
        except RecursionError as e:  # json gives up on arrays nested thousands deep
            raise VocabError(f"{path} is not a valid vocab.json (nested too deeply)") from e
        except (ValueError, KeyError, TypeError) as e:
            why = e.args[0] if isinstance(e, KeyError) else e  # str(KeyError) adds quotes
            raise VocabError(
                f"{path} is not a valid vocab.json ({why}); retrain or restore it"
            ) from e


def _check_tokens(tokens: list) -> None:
    if not all(isinstance(t, str) for t in tokens):
        bad = next(t for t in tokens if not isinstance(t, str))
        raise VocabError(
            f"a vocabulary token is {_json_type(bad)}, not a string; rebuild the vocabulary"
        )
    # The one string vocab.json cannot keep: a high and a low surrogate side by side come back
    # from any JSON reader as the single character they encode.
    pair = _SURROGATE_PAIR.search("\0".join(tokens))
    if pair is not None:
        codes = " ".join(f"U+{ord(c):04X}" for c in pair[0])
        raise VocabError(
            f"a token holds the surrogate pair {codes} as two code points, which vocab.json "
            "cannot store; decode the text with its real encoding first"
        )


def _checked_counts(counts, tokens: list) -> list[int]:
    ok = isinstance(counts, list | tuple) and len(counts) == len(tokens)
    if not ok or not all(
        isinstance(c, int | np.integer) and not isinstance(c, bool) and c >= 0 for c in counts
    ):
        raise VocabError(
            f"vocabulary counts must be {len(tokens)} integers >= 0, one per token; rebuild it"
        )
    return list(counts)


def _json_type(value) -> str:
    """What ``value`` is, in JSON's words (a vocabulary usually comes from vocab.json)."""
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
    names.update({str: "a string", list: "a list", dict: "an object"})
    return names.get(type(value), f"a {type(value).__name__}")
