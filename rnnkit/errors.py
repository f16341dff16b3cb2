"""Typed errors. Every message is one line that names the problem and the fix.

The CLI prints ``error: <message>`` and exits with code 2 for any ``RnnkitError``.
"""


class RnnkitError(Exception):
    """Base class of every error rnnkit raises on bad input."""


class DataError(RnnkitError):
    """A dataset or text file cannot be used (missing, empty, not UTF-8, too short)."""


class DownloadError(DataError):
    """A dataset could not be fetched or failed its sha256 check."""


class ConfigError(RnnkitError):
    """A configuration value is out of range or of the wrong type."""


def check_choice(name: str, value, choices) -> None:
    """Raise ``ConfigError`` unless ``value`` is one of ``choices`` (strings)."""
    if value not in choices:
        raise ConfigError(f"unknown {name} {show_value(value)}: choose one of {', '.join(choices)}")


class VocabError(RnnkitError):
    """A vocabulary file is malformed or does not match what it is used with."""


class RunDirError(RnnkitError):
    """A run directory is missing, incomplete, or does not fit the request."""


class StorageError(RnnkitError):
    """A file cannot be written (disk full, read-only, no permission); the old one is kept."""


class TrainingError(RnnkitError):
    """Training cannot go on (for example the loss became non-finite)."""


class GenerationError(RnnkitError):
    """A prompt or sampling setting cannot be used."""


class ExportError(RnnkitError):
    """A model cannot be written in the asked format, or the written file does not reproduce it."""


class RnnkitWarning(UserWarning):
    """Something worked, but not the way asked (a fallback was used); the CLI prints one line."""


def first_line(e: BaseException) -> str:
    """The first line of ``e``'s message, cut to 200 characters (its type's name when empty),
    for a one-line message about an error from elsewhere."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def show_value(value) -> str:
    """``repr(value)`` for a one-line message, cut to 60 characters. Python refuses the str()
    of an int of over 4300 digits, so a huge integer is shown by its size."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit integer"
    try:
        text = repr(value)
    except ValueError:
        text = f"a {type(value).__name__} holding a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."
