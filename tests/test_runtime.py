import subprocess
import sys

import pytest

from rnnkit.runtime import tune_allocator


def _run(env_value: str | None) -> str:
    env = {"PATH": "/usr/bin:/bin"}
    if env_value is not None:
        env["RNNKIT_ALLOCATOR"] = env_value
    code = "from rnnkit.runtime import tune_allocator; print(tune_allocator())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_tune_allocator_applies_on_linux_and_can_be_turned_off():
    assert _run(None) == "True"
    assert _run("system") == "False"


def test_tune_allocator_is_idempotent_and_memory_still_works():
    first = tune_allocator()
    assert tune_allocator() is first
    blocks = [bytearray(64 << 20) for _ in range(3)]  # large blocks, freed and reused
    del blocks
    again = bytearray(64 << 20)
    assert len(again) == 64 << 20
