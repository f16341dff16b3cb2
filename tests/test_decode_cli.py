"""The decoding flags of the commands: `generate --beam`, `poem --beam` (see test_poem_cli),
`translate --temperature/--top-k/--top-p --seed`."""

from __future__ import annotations

import io

from conftest import call_cli

PROMPT = "the "


def test_generate_beam_is_deterministic(trained_run):
    args = ["generate", trained_run.dir, "--prompt", PROMPT, "--length", 30, "--beam", 3]
    code, first, stderr = call_cli(args)
    assert code == 0, stderr
    assert first.startswith(PROMPT) and len(first.rstrip("\n")) > len(PROMPT)
    assert call_cli(args)[1] == first
    assert call_cli([*args, "--seed", "3"])[1] == first  # nothing is drawn


def test_generate_help_names_the_beam(cli):
    code, out, _ = cli(["generate", "--help"])
    assert code == 0 and "--beam" in out and "most likely continuation" in " ".join(out.split())


def translate(run, stdin: str, *args) -> tuple[int, str, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return call_cli(["translate", run, *args])
    finally:
        sys.stdin = old


TEXT = "a b c\nd e f g\nh b\nc c a e\n" * 4


def test_sampled_translations_repeat_with_a_seed(seq2seq_run):
    _, out, _, _ = seq2seq_run
    flags = ["--temperature", "3", "--top-k", "0"]
    a = translate(out, TEXT, *flags, "--seed", "1")
    assert a[0] == 0, a[2]
    assert translate(out, TEXT, *flags, "--seed", "1")[1] == a[1]
    assert translate(out, TEXT, *flags, "--seed", "2")[1] != a[1]
    assert len(a[1].splitlines()) == 16


def test_translate_defaults_to_beam_search_and_greedy_at_temperature_0(seq2seq_run):
    _, out, _, _ = seq2seq_run
    beam = translate(out, TEXT)[1]
    assert beam == translate(out, TEXT, "--beam", "5")[1]
    greedy = translate(out, TEXT, "--beam", "1")[1]
    assert translate(out, TEXT, "--temperature", "0")[1] == greedy
