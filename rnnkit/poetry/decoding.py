"""Constrained decoding of classical Chinese poems from a character language model.

A poem model is an ``RNNLanguageModel`` trained on a stream where each poem is one line of
characters closed by ``<eos>``, so ``<eos>`` both ends a poem and opens the next: generation
starts from the context ``[<eos>]``.

``PoemDecoder`` samples one character at a time (or searches with a beam, through
``rnnkit.decode``) under a form, an acrostic, a rhyme, an opening and a mood (see
``PoemDecoder.generate``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

import torch

from rnnkit.bounds import check
from rnnkit.decode import (
    BanTokens,
    ForceTokens,
    LanguageModelStepper,
    SameGroup,
    reserved_ids,
    search,
    search_settings,
)
from rnnkit.errors import ConfigError, GenerationError
from rnnkit.poetry.data import FORMS, to_simplified, to_traditional
from rnnkit.text.tokenizers import ChineseCharTokenizer
from rnnkit.text.vocab import EOS

COMMA, PERIOD = "，", "。"
ACROSTIC_LINE_CHARS = 5
"""Characters per line of an acrostic poem when no form is given."""

# Users type ASCII marks as often as full-width ones; the poems use the full-width marks.
_ASCII_MARKS = str.maketrans({",": "，", ".": "。", "?": "？", "!": "！", ";": "；", ":": "："})
_TOKENIZER = ChineseCharTokenizer()

# CJK Unified Ideographs, Extension A and Extensions B..H (not the compatibility block, not
# the CJK symbols such as 〇 or the marks).
_HAN_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x323AF))

# Standard pinyin final -> rhyme group. See ``rhyme_group`` for the rules behind the table.
_RHYME_OF_FINAL = {
    "a": "a", "ia": "a", "ua": "a",
    "o": "e", "e": "e", "uo": "e",
    "ie": "ie", "ve": "ie", "ê": "ie",
    "ai": "ai", "uai": "ai",
    "ei": "ei", "uei": "ei",
    "ao": "ao", "iao": "ao",
    "ou": "ou", "iou": "ou",
    "an": "an", "ian": "an", "uan": "an", "van": "an",
    "en": "en", "in": "en", "uen": "en", "vn": "en",
    "ang": "ang", "iang": "ang", "uang": "ang",
    "eng": "eng", "ing": "eng", "ueng": "eng", "ong": "eng", "iong": "eng",
    "i": "i", "er": "i",
    "u": "u",
    "v": "v",
}  # fmt: skip


def is_han(token: str) -> bool:
    """True for a single Chinese character (a CJK unified ideograph)."""
    return len(token) == 1 and any(lo <= ord(token) <= hi for lo, hi in _HAN_RANGES)


def _is_mark(ch: str) -> bool:
    """Punctuation, white space or a symbol (one character): what ``acrostic`` ignores."""
    return len(ch) == 1 and (ch.isspace() or unicodedata.category(ch)[0] in "PZS")


@functools.lru_cache(maxsize=65536)
def rhyme_group(char: str) -> str | None:
    """The rhyme group of a Chinese character, or ``None`` for anything else.

    The group comes from the character's pinyin final (pypinyin, ``Style.FINALS``, heteronyms
    off, so the first, most common reading), with two steps:

    - the medial i / u / ü is removed when a rhyme remains: iang, uang, ang -> ``ang``;
      ian, uan, üan, an -> ``an``; ia, ua, a -> ``a``; iao -> ``ao``; iou -> ``ou``;
      uai -> ``ai``; uei -> ``ei``; uen -> ``en``; ueng, iong -> ``eng`` / ``ong``.
      When the "medial" is the vowel itself (i, in, ing, ü, ün) nothing is removed.
    - finals that rhyme in practice are merged: o / e / uo -> ``e``; ie / üe -> ``ie``
      (ê is not the e of 歌); en / in / un / ün -> ``en``; eng / ing / ong / iong -> ``eng``;
      i (with the apical i of 知 思 時) and er -> ``i``; ü stays apart from i as ``v``;
      u is ``u``.

    This is the grouping of the modern Chinese New Rhymes (中華新韻), with ü kept apart: a
    modern-Mandarin approximation of the classical rhyme books (平水韻). It does not know the
    entering tone (入聲) or the level / oblique tones, so some rhymes of Tang poems that
    pronunciation has since split are lost, and some modern rhymes are accepted that a Tang
    poet would not have used.
    """
    if not is_han(char):
        return None
    from pypinyin import Style, pinyin

    final = pinyin(char, style=Style.FINALS, heteronym=False, errors=lambda s: [""])[0][0]
    if not final:  # no reading known, or a syllabic nasal such as 嗯
        return None
    return _RHYME_OF_FINAL.get(final, final)


def _form(form: str) -> tuple[int, int]:
    if form not in FORMS:
        raise ConfigError(f"unknown form {form!r}: choose one of {', '.join(FORMS)}")
    return FORMS[form]


def _mark_after(line: int, lines: int) -> str:
    """The mark closing 0-based ``line``: "，" after lines 1, 3, ..., "。" after 2, 4, ... and the
    last."""
    return PERIOD if line % 2 == 1 or line == lines - 1 else COMMA


def _lines_of(text: str, form: str) -> list[str] | None:
    """The lines of ``text`` (characters only) if it is exactly a poem of ``form``, else None."""
    lines, n = _form(form)
    text = "".join(text.split())
    if len(text) != lines * (n + 1):
        return None
    out = []
    for i in range(lines):
        seg = text[i * (n + 1) : (i + 1) * (n + 1)]
        if seg[-1] != _mark_after(i, lines) or not all(is_han(c) for c in seg[:-1]):
            return None
        out.append(seg[:-1])
    return out


def check_form(text: str, form: str) -> bool:
    """True if ``text`` is a well-formed poem of ``form``: the right number of lines, each of
    the right number of Chinese characters, closed by "，" (odd lines) or "。" (even lines).
    White space is ignored."""
    return _lines_of(text, form) is not None


def rhymes(text: str, form: str) -> bool:
    """True if ``text`` is well formed for ``form`` and its even lines end in one rhyme group."""
    lines = _lines_of(text, form)
    if lines is None:
        return False
    groups = {rhyme_group(line[-1]) for line in lines[1::2]}
    return len(groups) == 1 and None not in groups


class PoemDecoder:
    """Samples poems from a poem language model, optionally under a form, acrostic or rhyme.

    Args:
        model: an ``RNNLanguageModel`` over ``vocab``, trained on poems closed by ``<eos>``.
        vocab: its ``Vocab``; it must hold ``<eos>``, "，" and "。".
        device: where ``model`` lives.

    The constraints are logits processors (``rnnkit.decode.processors``) that read a poem's
    positions from its history, so sampling and beam search keep them alike. Every step feeds
    one token and carries the recurrent state, under ``no_grad`` and in eval mode.
    """

    def __init__(self, model, vocab, *, device="cpu"):
        self.model = model
        self.vocab = vocab
        self.device = torch.device(device)
        for token, what in ((EOS, "poem end"), (COMMA, "comma"), (PERIOD, "full stop")):
            if token not in vocab:
                raise ConfigError(
                    f"the vocabulary has no {token!r} ({what}); a poem model must be trained on "
                    "poems punctuated with ，/。, one per line"
                )
        self.eos_id = vocab.token_to_id(EOS)
        self.han = torch.tensor([is_han(t) for t in vocab.itos], dtype=torch.bool)
        if not self.han.any():
            raise ConfigError(
                "the vocabulary has no Chinese character; use a model trained on Chinese poems"
            )
        # Free mode may end the poem but never emits <pad>, <unk> or <bos>.
        self.free = BanTokens(reserved_ids(vocab, keep=[EOS]))
        self.group_of: list[str | None] = [rhyme_group(t) for t in vocab.itos]

    # ---- user text -> tokens ------------------------------------------------------------------
    def _known(self, tokens, text: str, what: str) -> list[str]:
        """Tokens of ``text`` (``tokens(text)``), all in the vocabulary.

        When some are not, the text is converted to the other script (OpenCC t2s / s2t) if that
        makes every token known, else character by character; what stays unknown is an error.
        """
        vocab = self.vocab
        toks = tokens(text)
        if all(t in vocab for t in toks):
            return toks
        for converted in (to_simplified(text), to_traditional(text)):
            alt = tokens(converted)
            # Equal length: a conversion must not change how many lines an acrostic gives.
            if len(alt) == len(toks) and all(t in vocab for t in alt):
                return alt
        fixed, missing = [], []
        for t in toks:
            alt = [t] + ([to_simplified(t), to_traditional(t)] if len(t) == 1 else [])
            known = [a for a in alt if a in vocab]
            if known:
                fixed.append(known[0])
            elif t not in missing:
                missing.append(t)
        if missing:
            shown = ", ".join(repr(t) for t in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise GenerationError(
                f"{what}: {shown} not in the model's {len(vocab)}-token vocabulary, in either "
                "simplified or traditional script; use other characters"
            )
        return fixed

    def _start_tokens(self, start: str) -> list[str]:
        if not start.strip():
            raise GenerationError("--start is empty; give the opening characters or leave it out")
        text = "".join(start.translate(_ASCII_MARKS).split())  # a poem is one line: no breaks
        return self._known(lambda t: _TOKENIZER.tokenize(t)[:-1], text, "--start")

    def _style_tokens(self, style: str) -> list[str]:
        # Each line of the mood text is read as one poem, closed by <eos> like the training text;
        # marks the model never saw carry no mood and are dropped.
        def tokens(text: str) -> list[str]:
            return [t for t in _TOKENIZER.tokenize(text) if t in self.vocab or not _is_mark(t)]

        toks = self._known(tokens, style.translate(_ASCII_MARKS), "--style")
        if all(t == EOS or _is_mark(t) for t in toks):
            raise GenerationError("--style is empty; give a poem whose mood to follow")
        return toks

    def _acrostic_chars(self, acrostic: str) -> list[str]:
        chars = [c for c in acrostic if not _is_mark(c)]  # marks would break the line count
        if not chars:
            raise GenerationError("--acrostic has no character; give one per line, e.g. 春夏秋冬")
        bad = [c for c in chars if not is_han(c)]
        if bad:
            raise GenerationError(
                f"--acrostic takes Chinese characters, one per line; {bad[0]!r} is not one"
            )
        return self._known(list, "".join(chars), "--acrostic")

    def _place_start(
        self, tokens: list[str], lines: int, n: int, acrostic: list[str] | None, form: str | None
    ) -> list[str]:
        """``tokens`` laid on the template of ``lines`` x ``n``: the marks a line end needs are
        inserted when left out; anything else that does not fit is an error."""
        what = f"a {form}" if form else "this acrostic poem"
        chars = sum(is_han(t) for t in tokens)
        if chars > lines * n:
            raise GenerationError(
                f"--start has {chars} characters; {what} holds at most {lines * n} "
                f"({lines} lines of {n}): shorten it"
            )
        placed: list[str] = []
        for tok in tokens:
            line, pos = divmod(len(placed), n + 1)
            if pos == n and line < lines:
                mark = _mark_after(line, lines)
                if tok == mark:
                    placed.append(tok)
                    continue
                if not is_han(tok):
                    raise GenerationError(
                        f"--start: line {line + 1} of {what} ends with {mark!r}, not {tok!r}"
                    )
                placed.append(mark)  # the mark was left out: the next line begins
                line, pos = line + 1, 0
            if line >= lines:
                raise GenerationError(f"--start goes past the end of {what}: drop {tok!r}")
            if not is_han(tok):
                raise GenerationError(
                    f"--start: line {line + 1} of {what} has {n} Chinese characters before its "
                    f"mark; {tok!r} comes after {pos}"
                )
            if acrostic and pos == 0 and tok != acrostic[line]:
                raise GenerationError(
                    f"--start and --acrostic disagree: line {line + 1} would begin with {tok!r} "
                    f"and with {acrostic[line]!r}; make the start follow the acrostic"
                )
            placed.append(tok)
        return placed

    # ---- decoding ---------------------------------------------------------------------------
    def generate(self, *, seed: int | None = None, **settings) -> str:
        """One poem, as one line of text (``start`` included, ``style`` not).

        Args:
            form: ``wujue``, ``qijue``, ``wulv`` or ``qilv`` (see ``FORMS``): the poem has
                exactly that many lines of that many characters, "，" after odd lines and "。"
                after even ones. ``None``: free, the model decides, up to ``<eos>``.
            start: the opening of the poem, fed through the model and printed. With a form (or
                acrostic) it must fit the template; line-end marks may be left out.
            acrostic: one character per line opening it; marks and spaces in it are ignored.
                Without a form, lines of ``ACROSTIC_LINE_CHARS`` characters.
            style: a poem (or a few, one per line) read through the model before the poem, so
                the state carries its mood; not printed.
            rhyme: the even lines end in characters of one rhyme group (``rhyme_group``), the
                group of the first even line's last character, with no rhyme character used
                twice while the group offers another. Needs a form or an acrostic.
            temperature, top_k, top_p: sampling settings (``rnnkit.infer.settings``);
                temperature 0 is greedy; ``None``: temperature 1, top-k and top-p off.
            beam: above 1, beam search for the most likely poem under the same constraints
                (no sampling settings then).
            seed: seeds the sampler; the same seed gives the same poem.
            max_chars: free mode only: at most this many tokens after ``start``.
        """
        return self.generate_batch(1, seed=seed, **settings)[0]

    def generate_each(
        self, n: int, *, seed: int | None = None, beam: int = 1, **settings
    ) -> Iterator[str]:
        """``n`` poems one after another, as ``rnnkit poem --num n`` writes them.

        Poem ``i`` is ``generate(seed=seed + i, **settings)``, so any one of them can be written
        again on its own; ``seed=None`` draws a fresh seed for each. Unlike ``generate_batch``,
        the model runs once per poem. With ``beam > 1`` the poems are the ``n`` best distinct
        ones of one search (``n <= beam``).
        """
        check("num", n, label="--num", error=GenerationError)
        if beam > 1:
            yield from self.generate_batch(n, beam=beam, **settings)
            return
        for i in range(n):
            yield self.generate(seed=None if seed is None else seed + i, **settings)

    def generate_batch(
        self,
        n: int,
        *,
        form: str | None = None,
        start: str = "",
        acrostic: str | None = None,
        style: str | None = None,
        rhyme: bool = False,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        beam: int = 1,
        seed: int | None = None,
        max_chars: int = 128,
    ) -> list[str]:
        """``n`` poems decoded side by side (one model call per step for all of them).

        Same settings as ``generate``; sampled poems differ by their samples. With ``beam > 1``
        one search runs and the poems are its ``n`` best distinct ones (``n <= beam``; fewer
        when the constraints leave fewer). ``generate`` is ``generate_batch(1, ...)[0]``.
        """
        check("num", n, label="--num", error=GenerationError)
        beam, sampling = search_settings(beam, temperature, top_k, top_p)
        if beam > 1 and n > beam:
            raise GenerationError(
                f"--num {n} asks for more poems than --beam {beam} keeps; give --num <= --beam"
            )
        if max_chars < 1:
            raise GenerationError(f"--max-chars must be >= 1, got {max_chars}")
        layout = self._layout(form, acrostic)
        if rhyme and layout is None:
            raise ConfigError("--rhyme needs the lines to be known: add --form or --acrostic")
        start_toks = self._start_tokens(start) if start else []
        if layout is None:
            plan = dict(max_len=max_chars, eos=self.eos_id, processors=[self.free])
        else:
            lines, chars, acro = layout
            start_toks = self._place_start(start_toks, lines, chars, acro, form)
            plan = dict(
                max_len=lines * (chars + 1) - len(start_toks),
                processors=self._template(lines, chars, acro, rhyme),
            )
        style_toks = self._style_tokens(style) if style is not None else []
        ids = torch.tensor(self.vocab.encode([EOS, *style_toks, *start_toks]), device=self.device)
        rows = 1 if beam > 1 else n
        stepper = LanguageModelStepper(self.model, ids.expand(rows, -1))
        prefix = ids[len(ids) - len(start_toks) :].expand(rows, -1)  # what the processors see
        n_best = n if beam > 1 else 1
        hyps = search(
            stepper, **plan, prefix=prefix, beam=beam, n_best=n_best, seed=seed, **sampling
        )
        itos = self.vocab.itos
        return ["".join(start_toks + [itos[i] for i in h.tokens]) for item in hyps for h in item]

    def _layout(self, form: str | None, acrostic: str | None):
        """``(lines, characters per line, acrostic characters or None)``, or ``None`` (free)."""
        acro = self._acrostic_chars(acrostic) if acrostic is not None else None
        if form is None:
            return None if acro is None else (len(acro), ACROSTIC_LINE_CHARS, acro)
        lines, chars = _form(form)
        if acro is not None and len(acro) != lines:
            raise GenerationError(
                f"--acrostic has {len(acro)} characters but a {form} has {lines} lines; "
                f"give exactly {lines}, one per line"
            )
        return lines, chars, acro

    def _template(self, lines: int, n: int, acrostic: list[str] | None, rhyme: bool) -> list:
        """The processors of a poem of ``lines`` x (``n`` characters + mark), by position from
        the poem's first character: marks at line ends, acrostic heads, Chinese characters
        elsewhere, and the even lines' last characters in one rhyme group."""
        forced = {}
        for line in range(lines):
            forced[line * (n + 1) + n] = self.vocab.token_to_id(_mark_after(line, lines))
            if acrostic:
                forced[line * (n + 1)] = self.vocab.token_to_id(acrostic[line])
        processors = [ForceTokens(forced, len(self.vocab), default=self.han)]
        if rhyme:
            ends = [line * (n + 1) + n - 1 for line in range(1, lines, 2)]
            processors.append(SameGroup(ends, self.group_of, fallback=self.han))
        return processors
