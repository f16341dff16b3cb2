"""The README's quick start, copied line by line into a fresh shell, runs without an error.

Budgets are made small (every training stops after a few steps); everything else is the
README's text. The shell is a new user's: no $RNNKIT_DATA, no saved settings, an empty cache.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import realdata

ROOT = Path(__file__).resolve().parents[1]


def quick_start_lines() -> list[str]:
    """The commands of the first bash block under "## Quick start"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def small_budget(line: str) -> str:
    """``line`` with a training budget of a few steps instead of minutes or epochs."""
    if not line.startswith("rnnkit train"):
        return line
    line = re.sub(r"--max-minutes \S+", "", line)
    return re.sub(r"(\s+#.*)?$", " --max-steps 3 --eval-every 3", line, count=1)


def test_the_quick_start_has_the_set_up_and_every_command():
    lines = quick_start_lines()
    assert lines[0].split("#")[0].strip() == "source .venv/bin/activate"
    assert lines[1].startswith("rnnkit data use ../shared/data")
    assert sum(ln.startswith("rnnkit train") for ln in lines) == 3


@realdata
def test_the_quick_start_runs_in_a_fresh_shell(tmp_path):
    shared = Path(os.environ["RNNKIT_DATA"]).resolve().parent
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "shared").symlink_to(shared)
    for name in (".venv", "configs"):
        (checkout / name).symlink_to(ROOT / name)
    script = "set -e\n" + "\n".join(small_budget(ln) for ln in quick_start_lines()) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNKIT_", "VIRTUAL_ENV"))}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "RNNKIT_CACHE": str(tmp_path / "cache")}
    env |= {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "perplexity: " in proc.stdout
    assert not (tmp_path / "cache").exists()  # every dataset came from the data folder
    assert (checkout / "runs" / "ptb-small" / "run.json").is_file()
