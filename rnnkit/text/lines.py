"""Text as lines, the way every reader and tokenizer of rnnkit cuts it.

Only ``\\n`` ends a line: ``str.splitlines`` would also cut at form feeds, U+2028 and the like,
which would shift one side of a parallel corpus against the other.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.io import read_text


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their ``\\n``; a final newline ends the last line, it does
    not start a new one."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, without line ends (``\\n`` or ``\\r\\n``) or a BOM.

    Raises:
        DataError: a missing, empty or non-UTF-8 file (``read_text``).
    """
    text = read_text(path).removeprefix("\ufeff")
    return [line.removesuffix("\r") for line in split_lines(text)]
