"""ARPA and KenLM files as models: ``BackoffLM`` against ``NGramLM`` (the model the file was
written from), against ``ArpaLM`` (the word-level view, padded) and ``kenlm.Model``; the
streaming reader's blocks and errors; the commands on files; no torch in n-gram commands."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import call_cli, cli_env
from test_ngram_arpa import BROKEN, _good_text

import rnnkit.ngram.backoff as backoff
from rnnkit.errors import DataError
from rnnkit.ngram import NGramLM
from rnnkit.ngram.arpa import read_arpa, write_arpa
from rnnkit.ngram.backoff import read_backoff
from rnnkit.ngram.load import guess_tokenizer, load_model
from rnnkit.registry.datasets import load_split_text
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.tokenizers import build_tokenizer


def _zipf_text(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(60)] + ["<s>", "x\\s", "1\\/2"])
    p = 1.0 / np.arange(1, len(words) + 1)
    lines = [" ".join(rng.choice(words, rng.integers(1, 9), p=p / p.sum())) for _ in range(n)]
    return "\n".join(lines) + "\n"


TRAIN, HELD = _zipf_text(300, 0), _zipf_text(30, 1) + "w0 zzz w3\nzzz\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A kenlm-style trigram mkn fitted here and its ARPA file."""
    tok = build_tokenizer("word")
    vocab = build_vocab(TRAIN, tok, 1, None)
    lm = NGramLM(3, "mkn").fit_vocab(encode_text(TRAIN, tok, vocab), vocab, tok.boundary)
    path = tmp_path_factory.mktemp("arpa") / "lm.arpa"
    write_arpa(lm, vocab, path)
    return tok, vocab, lm, path


def test_arrays_are_compact_and_scores_match_the_fitted_model(written):
    tok, vocab, lm, path = written
    model = read_backoff(path)
    assert model.order == 3 and model.counts == [len(vocab) - 1, *lm.sizes[1:]]
    assert all(p.dtype == np.float32 for p in model.prob)
    assert all(b.dtype == np.float32 for b in model.backoff)
    assert all(k.dtype == np.int64 and (np.diff(k) > 0).all() for k in model.keys)
    want, sent = lm.token_logprobs(encode_text(HELD, tok, vocab))
    got, got_sent = model.token_logprobs(model.encode(tok.tokenize(HELD), tok.boundary))
    np.testing.assert_array_equal(got_sent, sent)
    np.testing.assert_allclose(got, want, atol=3e-6)  # float32 log10 values
    assert model.nbytes() < lm.nbytes() / 2


def test_scores_match_the_reference_reader_and_kenlm(written):
    tok, _, _, path = written
    model = read_backoff(path)
    reference = read_arpa(path)
    tokens = tok.tokenize(HELD)
    got, _ = model.token_logprobs(model.encode(tokens, tok.boundary))
    from rnnkit.ngram.arpa import escape_token

    # ArpaLM reads a literal "<s>" as the symbol: compare where the text has none
    plain = np.array([t != "<s>" for t in tokens])
    words = ["</s>" if t == tok.boundary else t for t in tokens]
    np.testing.assert_allclose(got[plain], reference.token_logprobs(words)[plain], atol=3e-6)
    kenlm = pytest.importorskip("kenlm")
    k = kenlm.Model(str(path))
    theirs = [
        s
        for line in HELD.splitlines()
        for s, _, _ in k.full_scores(" ".join(escape_token(t) for t in line.split()))
    ]
    np.testing.assert_allclose(got / math.log(10), theirs, atol=1e-6)


def _reference_logprobs(model, ids) -> list[float]:
    """The ARPA backoff rule token by token over tuples of ids (one ``<s>``, kenlm style), the
    backoffs of the contexts longer than the listed n-gram added shortest first."""
    V, grams = model.V, [{(i,): i for i in range(model.V)}]
    for keys in model.keys[1:]:
        rows = {r: g for g, r in grams[-1].items()}
        grams.append({(*rows[int(key) // V], int(key) % V): r for r, key in enumerate(keys)})
    out, ctx = [], (model.bos,)
    for t in ids:
        t = model.unk if t == model.bos else int(t)
        m = max(k for k in range(1, len(ctx) + 2) if (*ctx[len(ctx) - k + 1 :], t) in grams[k - 1])
        bo = 0.0
        for k in range(m, len(ctx) + 1):  # contexts of k words
            row = grams[k - 1].get(ctx[len(ctx) - k :])
            bo += float(model.backoff[k - 1][row]) if row is not None else 0.0
        gram = (*ctx[len(ctx) - m + 1 :], t)
        out.append((float(model.prob[m - 1][grams[m - 1][gram]]) + bo) * math.log(10))
        ctx = (model.bos,) if t == model.eos else (*ctx, t)[-(model.order - 1) :]
    return out


def test_scores_equal_the_backoff_rule_to_the_last_bit(written):
    tok, _, _, path = written
    model = read_backoff(path)
    ids = model.encode(tok.tokenize(HELD), tok.boundary)
    got, _ = model.token_logprobs(ids)
    np.testing.assert_array_equal(got, _reference_logprobs(model, ids))


def test_ids_outside_the_vocabulary_are_refused(written):
    model = read_backoff(written[3])
    for bad in ([0, model.V], [-1, 0]):
        with pytest.raises(DataError, match=f"must lie in \\[0, {model.V}\\)"):
            model.token_logprobs(np.array(bad))


# a 4-gram whose context "<s> a b" is listed while its suffix "a b" is not
GAPPED = """\\data\\
ngram 1=5
ngram 2=1
ngram 3=1
ngram 4=1

\\1-grams:
-99\t<s>\t-0.5
-1.0\t</s>
-2.0\t<unk>
-0.6\ta\t-0.2
-0.8\tb\t-0.1

\\2-grams:
-0.3\t<s> a\t-0.25

\\3-grams:
-0.2\t<s> a b\t-0.15

\\4-grams:
-0.05\t<s> a b </s>

\\end\\
"""


def test_an_unlisted_context_between_listed_ones(tmp_path):
    path = tmp_path / "gapped.arpa"
    path.write_text(GAPPED, encoding="utf-8")
    model = read_backoff(path)
    ids = model.encode(["a", "b", "</s>", "b", "a", "</s>"], "</s>")
    lp, _ = model.token_logprobs(ids)
    np.testing.assert_array_equal(lp, _reference_logprobs(model, ids))
    assert lp[2] / math.log(10) == pytest.approx(-0.05)  # the 4-gram, past the gap
    for i, w in enumerate(ids):
        start = 0 if i < 3 else 3
        assert math.log(model.distribution(ids[start:i])[w]) == pytest.approx(lp[i], abs=1e-9)
    arpa = read_arpa(path)  # a context shorter than n-1 words is taken whole
    assert arpa.logprob10("b", ["<s>", "a"]) == pytest.approx(-0.2)
    assert arpa.logprob10("b", ["a"]) == pytest.approx(-0.2 - 0.8)


def test_distribution_sums_to_one_and_agrees_with_scoring(written):
    tok, _, _, path = written
    model = read_backoff(path)
    sentence = model.encode(tok.tokenize("w1 w0 w2 zzz w1\n"), tok.boundary)
    lp, _ = model.token_logprobs(sentence)
    for i, w in enumerate(sentence):
        p = model.distribution(sentence[:i])
        assert p[model.bos] == 0 and p.sum() == pytest.approx(1.0, abs=1e-5)
        assert math.log(p[w]) == pytest.approx(lp[i], abs=1e-9)
    a = model.generate(30, [], seed=3)
    assert a == model.generate(30, [], seed=3) and model.bos not in a


def test_small_blocks_and_tolerated_variations(written, tmp_path, monkeypatch):
    tok, _, _, path = written
    whole = read_backoff(path)
    text = path.read_text(encoding="utf-8")
    # a free-form header, spaces for tabs, CRLF, no final line break, blocks of a few lines
    varied = "made by hand\n" + text.replace("\t", "  ").replace("\n", "\r\n").rstrip()
    (tmp_path / "v.arpa").write_text(varied, encoding="utf-8", newline="")
    monkeypatch.setattr(backoff, "_BLOCK_BYTES", 97)
    small = read_backoff(tmp_path / "v.arpa")
    for a, b in zip(
        whole.prob + whole.backoff + whole.keys,
        small.prob + small.backoff + small.keys,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert small.words == whole.words


def test_missing_unk_is_added_as_kenlm_does(tmp_path):
    text = _good_text().replace("ngram 1=5", "ngram 1=4")
    text = "\n".join(line for line in text.split("\n") if not line.endswith("\t<unk>"))
    (tmp_path / "no-unk.arpa").write_text(text, encoding="utf-8")
    model = read_backoff(tmp_path / "no-unk.arpa")
    lp, _ = model.token_logprobs(model.encode(["zzz", "<eos>"], "<eos>"))
    # after <s>: its backoff times KenLM's p(<unk>) = 10^-100
    assert lp[0] / math.log(10) == pytest.approx(-100.0 + model.backoff[0][model.bos])


@pytest.mark.parametrize("name,breaks,lineno", BROKEN, ids=[b[0] for b in BROKEN])
def test_malformed_files_name_their_line(tmp_path, name, breaks, lineno):
    path = tmp_path / "bad.arpa"
    path.write_text(breaks(_good_text()), encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_backoff(path)
    message = str(err.value)
    assert f"{path}, line {lineno}:" in message and "\n" not in message  # as read_arpa says


@pytest.mark.parametrize(
    "breaks,needle",
    [
        (lambda t: t.replace("\ta b", "\tq b"), "'q' is not in"),
        (lambda t: t.replace("ngram 2=4", "ngram 2=4\nngram 3=1") + "", "\\3-grams:"),
        (lambda t: t.replace("\t</s>\n", "\t<unk>\n", 1), "twice"),
    ],
)
def test_files_this_reader_refuses(tmp_path, breaks, needle):
    path = tmp_path / "bad.arpa"
    path.write_text(breaks(_good_text()), encoding="utf-8")
    with pytest.raises(DataError, match="line") as err:
        read_backoff(path)
    assert needle in str(err.value)


def test_guess_tokenizer():
    assert guess_tokenizer(["<s>", "</s>", "<unk>", "<eos>", "a", "\\s", "\\u00a0"]) == "char"
    assert guess_tokenizer(["<s>", "</s>", "<unk>", "a", "ab"]) == "word"


def test_commands_take_an_arpa_file(written, tmp_path):
    tok, vocab, lm, path = written
    held = tmp_path / "held.txt"
    held.write_text(HELD, encoding="utf-8")
    text = load_split_text(str(held), "train")  # a file's train split, as the commands read it
    want = math.exp(-lm.token_logprobs(encode_text(text, tok, vocab))[0].mean())
    code, stdout, err = call_cli(
        ["ngram", "eval", path, "--data", held, "--split", "train", "--json"]
    )
    assert code == 0, err
    row = json.loads(stdout)
    assert row["perplexity"] == pytest.approx(want, rel=1e-5) and row["model"] == "3-gram ARPA file"
    code, stdout, _ = call_cli(["eval", path, "--data", held, "--split", "train"])
    assert code == 0 and float(stdout.split()[1]) == pytest.approx(want, rel=1e-4)
    code, stdout, err = call_cli(["ngram", "score", path, "--file", held, "--json"])
    assert code == 0, err
    total = json.loads(stdout)["total"]
    full = math.exp(-lm.token_logprobs(encode_text(HELD, tok, vocab))[0].mean())
    assert total["perplexity"] == pytest.approx(full, rel=1e-5) and total["unknown"] == 2
    code, stdout, err = call_cli(
        ["ngram", "generate", path, "--prompt", "w0", "--length", "9", "--seed", "1"]
    )
    assert code == 0, err
    assert stdout.startswith("w0 ")
    assert load_model(path).tokenizer.name == "word"


def test_ngram_commands_do_not_import_torch(written, tmp_path):
    _, _, _, path = written
    held = tmp_path / "held.txt"
    held.write_text(HELD, encoding="utf-8")
    run = tmp_path / "run"
    script = (
        "import sys\nfrom rnnkit.cli import main\n"
        "for args in sys.argv[1:]:\n"
        "    try:\n        main(args.split('|'))\n    except SystemExit as e:\n"
        "        assert not e.code, args\n"
        "print('torch' in sys.modules)\n"
    )
    commands = [
        f"ngram|train|--data|{held}|--tokenizer|word|--order|2|--out|{run}",
        f"ngram|eval|{run}|--split|train",
        f"ngram|score|{path}|--file|{held}",
        f"ngram|generate|{run}|--length|5|--seed|0",
        f"ngram|export-arpa|{run}|{tmp_path / 'x.arpa'}",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", script, *commands],
        capture_output=True,
        text=True,
        env=cli_env(False, None),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------ the lean store of a run
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Trigram runs of TRAIN: kn and mkn in both sentence-start styles, and one stupid."""
    root = tmp_path_factory.mktemp("runs")
    text = root / "train.txt"
    text.write_text(TRAIN, encoding="utf-8")
    out = {}
    for smoothing, style in [
        ("kn", "kenlm"),
        ("mkn", "kenlm"),
        ("kn", "padded"),
        ("mkn", "padded"),
        ("stupid", None),
    ]:
        run = root / f"{smoothing}-{style}"
        args = ["ngram", "train", "--data", text, "--tokenizer", "word", "--smoothing", smoothing]
        code, _, err = call_cli([*args, *(["--bos-style", style] if style else []), "--out", run])
        assert code == 0, err
        out[smoothing, style] = run
    return out


def _mapped(a: np.ndarray) -> bool:
    """Whether ``a`` views a memory-mapped file (not a copy in memory)."""
    import mmap

    while a is not None and not isinstance(a, mmap.mmap):
        a = a.base
    return a is not None


@pytest.mark.parametrize("smoothing", ["kn", "mkn"])
@pytest.mark.parametrize("style", ["kenlm", "padded"])
def test_lean_store_scores_as_the_counts_do(runs, smoothing, style):
    from rnnkit.ngram.store import load_lean, load_ngram

    meta, tok, vocab, lean = load_lean(runs[smoothing, style])
    _, _, _, lm = load_ngram(runs[smoothing, style])
    assert lean.bos_style == lm.bos_style == style
    assert all(_mapped(a) for a in lean.prob + lean.keys[1:])
    assert all(p.dtype == np.float32 for p in lean.prob)
    ids = encode_text(HELD, tok, vocab)
    want, sent = lm.token_logprobs(ids)
    got, got_sent = lean.token_logprobs(ids)
    np.testing.assert_array_equal(got_sent, sent)
    np.testing.assert_allclose(got, want, atol=3e-6)
    for ctx in ([], ids[:1], ids[:2]):
        np.testing.assert_allclose(lean.distribution(ctx), lm.distribution(ctx), atol=1e-6)
    assert lean.nbytes() < lm.nbytes() / 2


def test_runs_without_a_lean_store_read_their_counts(runs, tmp_path):
    import shutil

    from rnnkit.ngram.store import load_lean

    assert load_lean(runs["stupid", None]) is None
    assert not (runs["stupid", None] / "backoff.safetensors").exists()
    old = Path(shutil.copytree(runs["kn", "kenlm"], tmp_path / "old"))
    (old / "backoff.safetensors").unlink()  # as written before the lean store existed
    held = tmp_path / "held.txt"
    held.write_text(HELD, encoding="utf-8")
    results = []
    for run in (runs["kn", "kenlm"], old):
        code, stdout, err = call_cli(["ngram", "eval", run, "--data", held, "--split", "train"])
        assert code == 0, err
        results.append(float(stdout.split()[1]))
    assert results[0] == pytest.approx(results[1], rel=1e-5)


def test_a_damaged_lean_store_is_refused(runs, tmp_path):
    import shutil

    run = Path(shutil.copytree(runs["mkn", "kenlm"], tmp_path / "damaged"))
    data = bytearray((run / "backoff.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (run / "backoff.safetensors").write_bytes(bytes(data))
    code, _, err = call_cli(["ngram", "eval", run, "--data", run / "vocab.json"])
    assert code == 2 and "backoff.safetensors is damaged" in err and err.count("\n") == 1
