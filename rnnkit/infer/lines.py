"""What scoring and generation share without torch: per-line scores, prompt ids and the text
of generated ids, used by the neural models, the numpy generation engine and the n-gram
commands (which must start without importing torch)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rnnkit.bounds import check
from rnnkit.errors import GenerationError
from rnnkit.text.vocab import UNK


@dataclass
class LineScore:
    text: str
    num_tokens: int  # its line end included
    logprob: float  # natural log, summed over the line's tokens
    token_logprobs: list[float]
    unknown: int = 0  # tokens the vocabulary does not hold, read as <unk>

    @property
    def perplexity(self) -> float:
        return math.exp(-self.logprob / self.num_tokens) if self.num_tokens else float("nan")

    @property
    def unknown_rate(self) -> float:
        """Share of the line's tokens (line end included) read as ``<unk>``: a line mostly
        unknown scores the probability of ``<unk>``, not of its words."""
        return self.unknown / self.num_tokens if self.num_tokens else 0.0


def prompt_ids(prompt: str, tokenizer, vocab, warn: Callable[[str], None] | None = None):
    """Encode a prompt as generation context; refuse one made only of unknown tokens.

    The tokenizer's boundary token (a line end) comes first when the vocabulary has it, so the
    prompt is read as the start of a fresh line, and an empty prompt is a line start.
    """
    tokens = tokenizer.tokenize(prompt) if prompt else []
    if tokens and tokenizer.name != "char" and not prompt.endswith("\n"):
        tokens = tokens[:-1]  # word tokenizers close every line; a prompt stays open
    unknown = sorted({t for t in tokens if t not in vocab})
    if unknown:
        shown = ", ".join(repr(t) for t in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        if len(unknown) == len(set(tokens)):
            raise GenerationError(
                f"the prompt has no token the model knows ({shown} not in its "
                f"{len(vocab)}-token vocabulary); unknown tokens would be read as {UNK}, which "
                "carries no meaning here: write the prompt with tokens of the training text"
            )
        if warn:
            warn(f"warning: {shown} not in the vocabulary; read as {UNK}")
    if tokenizer.boundary in vocab:
        tokens = [tokenizer.boundary] + tokens
    if not tokens:
        raise GenerationError("this model has no line-start token; give a --prompt")
    return vocab.encode(tokens).tolist()


def unseen_reserved(vocab) -> list[int]:
    """Reserved tokens (``<pad>``, ``<bos>``, ...) that never occurred in the training text."""
    return [vocab.id_of(t) for t in vocab.reserved if vocab.counts[vocab.id_of(t)] == 0]


def write_text(
    generate: Callable[[list[int], int | None, list[int]], Iterable[int]],
    tokenizer,
    vocab,
    prompt: str,
    length: int,
    stop_token: str | None = None,
    stream: Callable[[str], None] | None = None,
) -> str:
    """Prompt plus the text of the ids ``generate(context, stop_id, banned)`` yields: the
    prompt's ids, the id of ``stop_token`` (checked against the vocabulary) and the reserved
    tokens the training text never had. ``stream`` receives the prompt, then each piece."""
    check("length", length, label="--length", error=GenerationError)
    ctx = prompt_ids(prompt, tokenizer, vocab, warn=lambda m: print(m, file=sys.stderr))
    stop_id = None
    if stop_token is not None:
        if stop_token not in vocab:
            raise GenerationError(
                f"--stop {stop_token!r} is not in the model's {len(vocab)}-token vocabulary; "
                "give a token of the training text (one character for a character model)"
            )
        stop_id = vocab.id_of(stop_token)
    pieces: list[str] = [prompt]
    if stream:
        stream(prompt)
    for piece in text_pieces(
        generate(ctx, stop_id, unseen_reserved(vocab)), tokenizer, vocab, prompt
    ):
        pieces.append(piece)
        if stream:
            stream(piece)
    return "".join(pieces)


def text_pieces(ids: Iterable[int], tokenizer, vocab, prompt: str = "") -> Iterator[str]:
    """Yield the text each token id adds when it follows ``prompt``.

    Word tokens are separated by single spaces, none at a line start; the ``<eos>`` boundary of
    the word and chinese-char tokenizers becomes a line end. ``prompt`` followed by the pieces
    is the generated text.
    """
    sep = "" if tokenizer.name in ("char", "chinese-char") else " "
    at_line_start = not prompt or prompt.endswith("\n")
    for idx in ids:
        tok = vocab.id_to_token(idx)
        if tokenizer.boundary == tok and tokenizer.name != "char":
            piece, at_line_start = "\n", True
        else:
            piece = tok if at_line_start or not sep else sep + tok
            at_line_start = False
        yield piece
