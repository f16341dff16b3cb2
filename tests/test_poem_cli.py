"""`rnnkit poem train` and `rnnkit poem RUN_DIR ...` (the generation modes) end to end."""

from __future__ import annotations

import json

import pytest
from conftest import call_cli, realdata

from rnnkit.poetry.decoding import check_form, rhymes


def test_a_run_not_trained_on_poems_is_refused(trained_run):
    code, _, stderr = call_cli(["poem", trained_run.dir, "--form", "wujue"])
    assert code == 2 and "not trained on poems" in stderr


def test_poem_help_lists_the_modes():
    code, stdout, _ = call_cli(["poem", "write", "--help"])
    assert code == 0
    for flag in ("--form", "--start", "--acrostic", "--style", "--rhyme", "--num", "--script"):
        assert flag in stdout


@pytest.fixture(scope="module")
def poem_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("poem") / "run"
    args = ["poem", "train", "--form", "jueju", "--preset", "small", "--max-steps", "20"]
    code, _, stderr = call_cli([*args, "--quiet", "--out", out])
    assert code == 0, stderr
    return out, stderr


@realdata
def test_train_prepares_the_corpus_and_reports_counts(poem_run):
    out, stderr = poem_run
    meta = json.loads((out / "poem.json").read_text(encoding="utf-8"))
    assert meta["poems"]["total"] == 57_607
    assert meta["held_out_poems"] > 0 and "poems kept" in stderr
    assert (out / "corpus" / "train.txt").exists() and (out / "model.safetensors").exists()
    code, stdout, _ = call_cli(["eval", out, "--split", "valid"])
    assert code == 0 and stdout.startswith("perplexity: ")


@realdata
@pytest.mark.parametrize("form", ["wujue", "qijue", "wulv", "qilv"])
def test_every_form_is_well_formed_and_rhymes_on_request(poem_run, form):
    out, _ = poem_run
    code, stdout, stderr = call_cli(["poem", out, "--form", form, "--rhyme", "--num", "3"])
    assert code == 0, stderr
    poems = stdout.strip().splitlines()
    assert len(poems) == 3
    assert all(check_form(p, form) and rhymes(p, form) for p in poems)


@realdata
def test_acrostic_start_style_and_script(poem_run):
    out, _ = poem_run
    code, stdout, _ = call_cli(["poem", out, "--acrostic", "春，夏？秋！冬", "--form", "qijue"])
    assert code == 0
    lines = stdout.strip().replace("，", "\n").replace("。", "\n").split()
    assert [line[0] for line in lines] == list("春夏秋冬")
    code, stdout, _ = call_cli(["poem", out, "--start", "床前明月光", "--form", "wujue"])
    assert code == 0 and stdout.startswith("床前明月光，")
    code, stdout, _ = call_cli(["poem", out, "--style", "白日依山盡", "--seed", "1"])
    assert code == 0 and not stdout.startswith("白日依山盡")
    code, stdout, _ = call_cli(["poem", out, "--start", "举头", "--script", "simplified"])
    assert code == 0 and stdout.startswith("举头")


@realdata
@pytest.mark.parametrize(
    "args,message",
    [
        (["--start", "  "], "--start is empty"),
        (["--acrostic", "春夏秋冬夜", "--form", "wujue"], "4"),
        (["--start", "床前", "--acrostic", "春夏秋冬"], "acrostic"),
        (["--rhyme"], "rhyme"),
        (["--start", "♞♞"], "♞"),
    ],
)
def test_bad_input_is_one_line(poem_run, args, message):
    out, _ = poem_run
    code, _, stderr = call_cli(["poem", out, *args])
    assert code == 2 and stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert message in stderr


@realdata
@pytest.mark.parametrize("form", ["wujue", "qijue"])
def test_beam_poems_keep_form_acrostic_and_rhyme(poem_run, form):
    out, _ = poem_run
    args = ["poem", out, "--form", form, "--acrostic", "春夏秋冬", "--rhyme", "--beam", "4"]
    code, stdout, stderr = call_cli([*args, "--num", "3"])
    assert code == 0, stderr
    poems = stdout.strip().splitlines()
    assert len(poems) == 3 and len(set(poems)) == 3
    for poem in poems:
        assert check_form(poem, form) and rhymes(poem, form), poem
        heads = [line[0] for line in poem.replace("。", "，").split("，") if line]
        assert heads == list("春夏秋冬")
    assert call_cli([*args, "--num", "3", "--seed", "5"])[1] == stdout  # nothing is drawn
