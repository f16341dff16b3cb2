"""`rnnkit data use DIR`: the data folder is saved once and every later command finds it."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, tiny_lines


@pytest.fixture
def home(tmp_path) -> dict:
    """A fresh user: its own config folder and an empty download cache."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "RNNKIT_CACHE": str(tmp_path / "cache")}


@pytest.fixture
def folder(tmp_path):
    """A data folder holding a (small) copy of tinyshakespeare where the registry looks."""
    root = tmp_path / "data"
    (root / "tinyshakespeare").mkdir(parents=True)
    (root / "tinyshakespeare" / "input.txt").write_text("\n".join(tiny_lines(400)) + "\n")
    return root


def test_a_saved_data_folder_is_found_by_later_commands(tmp_path, home, folder):
    code, out, err = run_cli(["data", "use", folder], env=home)
    assert code == 0, err
    assert str(folder) in out and "tinyshakespeare" in out
    saved = json.loads((tmp_path / "config" / "rnnkit" / "settings.json").read_text())
    assert saved == {"data": str(folder)}
    # A new process without RNNKIT_DATA: the listing names the folder, training reads it.
    code, out, err = run_cli(["data", "list"], env=home)
    assert code == 0, err
    assert f"tinyshakespeare  train,valid       char       {folder / 'tinyshakespeare'}" in out
    assert "set by `rnnkit data use`" in out
    run = tmp_path / "run"
    args = ["train", "--data", "tinyshakespeare", "--hidden-size", "8", "--num-layers", "1"]
    args += ["--seq-len", "8", "--batch-size", "4", "--max-steps", "2", "--quiet", "--out", run]
    code, _, err = run_cli(args, env=home)
    assert code == 0, err
    assert not (tmp_path / "cache").exists()  # nothing was downloaded
    code, out, _ = run_cli(["data", "use"], env=home)
    assert str(folder) in out


def test_rnnkit_data_wins_over_the_saved_folder(tmp_path, home, folder):
    assert run_cli(["data", "use", folder], env=home)[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    code, out, _ = run_cli(["data", "list"], env={**home, "RNNKIT_DATA": str(other)})
    assert code == 0 and f"Data folder {other} (RNNKIT_DATA)" in out


def test_clear_forgets_the_folder(home, folder):
    assert run_cli(["data", "use", folder], env=home)[0] == 0
    code, out, err = run_cli(["data", "use", "--clear"], env=home)
    assert code == 0, err
    code, out, _ = run_cli(["data", "list"], env=home)
    assert "No data folder is set" in out and "download on first use" in out


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda t: t / "nowhere", "is not a folder"),
        (lambda t: t, "holds none of the registered datasets"),
    ],
)
def test_a_folder_without_datasets_is_refused(tmp_path, home, make, needle):
    code, out, err = run_cli(["data", "use", make(tmp_path)], env=home)
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "config" / "rnnkit" / "settings.json").exists()


def test_a_damaged_settings_file_says_how_to_reset_it(tmp_path, home, folder):
    settings = tmp_path / "config" / "rnnkit" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("{not json")
    code, _, err = run_cli(["data", "list"], env=home)
    assert code == 2 and str(settings) in err and "rnnkit data use --clear" in err, err
    assert run_cli(["data", "use", "--clear"], env=home)[0] == 0
    code, _, err = run_cli(["data", "use", folder], env=home)
    assert code == 0, err
