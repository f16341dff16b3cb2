"""Settings kept between commands, in the user's config folder.

``rnnkit data use DIR`` records where the datasets are, so that every later command finds them
without ``$RNNKIT_DATA`` in its environment. The file is ``$XDG_CONFIG_HOME/rnnkit/
settings.json`` (default ``~/.config/rnnkit/settings.json``): JSON, read, never executed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rnnkit.errors import ConfigError, first_line
from rnnkit.io import atomic_write_text

KEYS = ("data",)  # the settings there are


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (
        (Path(base).expanduser() if base else Path.home() / ".config") / "rnnkit" / "settings.json"
    )


def read_settings() -> dict:
    """The saved settings (``{}`` when none were saved).

    Raises:
        ConfigError: the file is not a JSON object of known settings; the message says how to
            reset it.
    """
    path = settings_path()
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not set(doc) <= set(KEYS):
            raise ValueError(f"not an object with the keys {', '.join(KEYS)}")
        if not all(isinstance(v, str) for v in doc.values()):
            raise ValueError("a setting that is not text")
    except (ValueError, OSError, RecursionError) as e:
        raise ConfigError(
            f"{path} is damaged ({first_line(e)}); reset it with `rnnkit data use --clear`"
        ) from e
    return doc


def save_setting(key: str, value: str | None) -> Path:
    """Set ``key`` to ``value`` (``None`` removes it); returns the settings file."""
    path = settings_path()
    doc = read_settings()
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path
