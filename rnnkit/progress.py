"""Progress bars: tqdm on stderr, as every command shows them.

A bar is off with ``--quiet`` and, as tqdm decides with ``disable=None``, when stderr is not a
terminal (a log file stays free of bar updates); ``RNNKIT_PROGRESS=1`` shows bars there too.
"""

from __future__ import annotations

import os
import sys


def progress_bar(total=None, *, enabled: bool = True, **kw):
    """A tqdm bar of ``total`` (keyword arguments as tqdm takes them); ``enabled=False`` for
    ``--quiet``."""
    from tqdm.auto import tqdm

    if not enabled:
        disable = True
    elif os.environ.get("RNNKIT_PROGRESS") == "1":
        disable = False
    else:
        disable = None  # off when stderr is not a terminal
    return tqdm(total=total, disable=disable, file=sys.stderr, dynamic_ncols=True, **kw)
