"""Small file helpers: atomic writes, UTF-8 reading with clear errors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from rnnkit.errors import DataError, StorageError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temp file over ``path``.

    The rename is atomic on POSIX, so a reader (or a crash) sees either the old file or the new
    one, never half of one. A failed write (disk full, read-only file system, no permission)
    removes the temp file, leaves ``path`` as it was and raises ``StorageError``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise storage_error(path, e) from e
        raise


def storage_error(path: str | Path, e: OSError) -> StorageError:
    """The one-line error for a file that could not be written."""
    what = e.strerror or type(e).__name__
    kept = "the previous file is kept" if Path(path).exists() else "nothing was written"
    return StorageError(
        f"cannot write {path} ({what}); {kept}; free disk space or choose a writable directory"
    )


_UMASK = os.umask(0)  # the only way to read it is to set it; done once, at import
os.umask(_UMASK)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; missing, unreadable, empty or non-UTF-8 files raise ``DataError``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}; check the path or the dataset name")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a text file or a registered dataset name")
    try:
        raw = path.read_bytes()
    except OSError as e:  # no permission, a broken mount, ...
        raise DataError(
            f"cannot read {path} ({e.strerror or type(e).__name__}); check that it is a "
            "readable file"
        ) from e
    if not raw.strip():
        raise DataError(f"{path} is empty; give a text file with some content")
    return decode_utf8(raw, 0, path)


def decode_utf8(data: bytes, offset: int, path: str | Path) -> str:
    """UTF-8 ``data`` read at byte ``offset`` of ``path``; bad bytes raise ``DataError``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 (bad byte at offset {offset + e.start}); convert it, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from e
