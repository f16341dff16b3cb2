"""Any n-gram model the commands take: a run directory (``rnnkit ngram train``), an ARPA file,
or a KenLM binary file (read by the ``kenlm`` module when it is installed).

``load_model`` gives one ``NGramModel`` for all three: a tokenizer, text to ids, and natural-log
probabilities of a stream of ids, so eval, score and generate are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import ConfigError, DataError, GenerationError
from rnnkit.ngram.arpa import EOS_SYM, SYMBOLS, UNK_SYM, escape_token, unescape_token
from rnnkit.ngram.backoff import KENLM_MAGIC, BackoffLM, read_backoff
from rnnkit.ngram.counts import pad_sentences
from rnnkit.text.tokenizers import build_tokenizer

_SNIFF = 1 << 16  # bytes read to tell an ARPA file from other files
_RESERVED = re.compile(r"<[a-z]+>")  # <eos>, <pad>, ...: not evidence of a word vocabulary


def model_kind(path: str | Path) -> str | None:
    """``"run"``, ``"arpa"``, ``"kenlm"`` or None (not an n-gram model)."""
    from rnnkit.ngram.store import is_ngram_run

    path = Path(path)
    if path.is_dir():
        return "run" if is_ngram_run(path) else None
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError:
        return None
    if head.startswith(KENLM_MAGIC):
        return "kenlm"
    return "arpa" if any(line.strip() == b"\\data\\" for line in head.split(b"\n")) else None


@dataclass
class NGramModel:
    """An n-gram model with what the commands need of it.

    Attributes:
        lm: ``NGramLM`` (a run), ``BackoffLM`` (an ARPA file) or ``KenlmBinary``; each has
            ``token_logprobs(ids) -> (logprobs (L,), sentence (L,))``.
        tokenizer: the run's, or the one given or inferred for a file.
        name: what the model is, for messages ("5-gram mkn", "5-gram ARPA file").
        data: the run's training data ("" for a file).
        smoothing: the run's smoothing ("" for a file: a backoff model).
        vocab: a run's ``Vocab`` (None for a file).
    """

    lm: object
    tokenizer: object
    name: str
    data: str = ""
    smoothing: str = ""
    vocab: object = None

    @property
    def unk_id(self) -> int:
        return self.vocab.unk_id if self.vocab is not None else self.lm.unk

    def encode_tokens(self, tokens: list[str]) -> np.ndarray:
        if self.vocab is not None:
            return self.vocab.encode(tokens)
        return self.lm.encode(tokens, self.tokenizer.boundary)

    def encode(self, text: str) -> np.ndarray:
        return self.encode_tokens(self.tokenizer.tokenize(text))

    def decode(self, ids) -> list[str]:
        if self.vocab is not None:
            return self.vocab.decode(ids)
        return self.lm.decode(ids, self.tokenizer.boundary)


def load_model(path: str | Path, tokenizer: str | None = None) -> NGramModel:
    """The n-gram model at ``path``; ``tokenizer`` names a file's tokenizer (default: char when
    every word of the file is one character, else word). A run has its own."""
    from rnnkit.ngram.store import load_lean, load_ngram

    kind = model_kind(path)
    if kind is None or kind == "run":
        if tokenizer is not None and kind == "run":
            raise ConfigError(
                "--tokenizer applies to ARPA and KenLM files; a run directory has its own"
            )
        if kind is None and Path(path).is_file():
            raise DataError(
                f"{path} is neither an n-gram run directory, an ARPA file nor a KenLM binary; "
                "give one of them"
            )
        lean = load_lean(path) if kind == "run" else None
        # load_ngram names the problem of any other directory
        meta, tok, vocab, lm = lean or load_ngram(path)
        return NGramModel(
            lm, tok, f"{meta.order}-gram {meta.smoothing}", meta.data, meta.smoothing, vocab
        )
    if kind == "kenlm":
        lm = KenlmBinary(path)
        return NGramModel(lm, build_tokenizer(tokenizer or "word"), f"{lm.order}-gram KenLM file")
    lm = read_backoff(path)
    tok = build_tokenizer(tokenizer or guess_tokenizer(lm.words))
    return NGramModel(lm, tok, f"{lm.order}-gram ARPA file")


def guess_tokenizer(words: list[str]) -> str:
    """``char`` when every word but the symbols is one character, else ``word``."""
    plain = [unescape_token(w) for w in words if w not in SYMBOLS and not _RESERVED.fullmatch(w)]
    return "char" if plain and all(len(w) == 1 for w in plain) else "word"


class KenlmBinary:
    """A KenLM binary file scored through the ``kenlm`` module, one sentence at a time.

    Ids are given to tokens as they are encoded (0 is ``</s>``, 1 ``<unk>``, which every word
    outside the model's vocabulary becomes).
    """

    def __init__(self, path: str | Path):
        try:
            import kenlm
        except ImportError as e:
            raise DataError(
                f"{path} is a KenLM binary file; reading it needs the kenlm module (pip install "
                "kenlm), or give the ARPA file"
            ) from e
        try:
            self.model = kenlm.Model(str(path))
        except (OSError, RuntimeError) as e:
            why = " ".join(str(e).split())[:300]  # one line, whatever KenLM says
            raise DataError(f"{path}: KenLM cannot read it ({why}); rebuild the file") from e
        self.order = self.model.order
        self.eos, self.unk, self.bos = 0, 1, -1
        self.words = [EOS_SYM, UNK_SYM]
        self._ids = {EOS_SYM: 0, UNK_SYM: 1}

    def encode(self, tokens: list[str], boundary: str) -> np.ndarray:
        out = np.empty(len(tokens), dtype=np.int64)
        for i, t in enumerate(tokens):
            w = EOS_SYM if t == boundary else escape_token(t)
            j = self._ids.get(w)
            if j is None:
                j = self._ids[w] = len(self.words) if w in self.model else self.unk
                if j != self.unk:
                    self.words.append(w)
            out[i] = j
        return out

    decode = BackoffLM.decode

    def token_logprobs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        _, _, sentence = pad_sentences(ids, self.eos, self.bos, 1)
        out = []
        for words in np.split(ids, np.flatnonzero(np.diff(sentence)) + 1):
            ended = words[-1] == self.eos  # a last sentence without its end: no </s> to score
            text = " ".join(self.words[i] for i in (words[:-1] if ended else words))
            out.extend(s for s, _, _ in self.model.full_scores(text, eos=ended))
        return np.array(out) * np.log(10), sentence

    def generate(self, *args, **kwargs):
        raise GenerationError(
            "generation needs the whole vocabulary, which a KenLM binary does not expose; "
            "give the ARPA file or the run directory"
        )


class FileVocab:
    """The few ``Vocab`` answers that prompt encoding needs, for an ARPA-file model."""

    def __init__(self, model: NGramModel):
        self.model = model

    def __contains__(self, token: str) -> bool:
        if token == self.model.tokenizer.boundary:
            return True
        return self.model.encode_tokens([token])[0] != self.model.unk_id

    def __len__(self) -> int:
        return self.model.lm.V

    def encode(self, tokens: list[str]) -> np.ndarray:
        return self.model.encode_tokens(tokens)
