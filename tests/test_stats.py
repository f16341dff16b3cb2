"""Corpus statistics: n-gram counts, Zipf exponent, the plot, and `rnnkit data stats`."""

from __future__ import annotations

import json
import math
import os
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.commands.data import data
from rnnkit.errors import DataError
from rnnkit.registry.datasets import load_split_text
from rnnkit.text.corpus import build_vocab, encode_text
from rnnkit.text.stats import corpus_stats, ngram_frequencies, plot_zipf, zipf_exponent
from rnnkit.text.tokenizers import build_tokenizer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def realdata(fn):
    """Mark a test as needing the shared datasets; skip it when $RNNKIT_DATA is not set."""
    skip = pytest.mark.skipif(
        not os.environ.get("RNNKIT_DATA"), reason="RNNKIT_DATA is not set (shared datasets)"
    )
    return pytest.mark.realdata(skip(fn))


def _brute_force(ids, n: int) -> list[int]:
    grams = Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
    return sorted(grams.values(), reverse=True)


# ---- n-grams -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    vocab_size=st.integers(1, 12),
    n=st.integers(1, 4),
    data=st.data(),
)
def test_ngram_frequencies_match_counter(vocab_size, n, data):
    ids = data.draw(st.lists(st.integers(0, vocab_size - 1), max_size=80))
    got = ngram_frequencies(np.array(ids, dtype=np.int32), n, vocab_size)
    assert got.tolist() == _brute_force(ids, n)
    assert got.dtype == np.int64


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ngram_frequencies_random_large_vocab(seed):
    rng = np.random.default_rng(seed)
    vocab_size = 50_000  # bigram keys exceed int32: checks the int64 cast
    ids = rng.integers(0, 300, size=5_000).astype(np.int32)
    ids[::7] = rng.integers(0, vocab_size, size=ids[::7].size)
    for n in (1, 2, 3):
        got = ngram_frequencies(ids, n, vocab_size)
        assert got.tolist() == _brute_force(ids.tolist(), n)
        assert got.sum() == ids.size - n + 1


def test_ngram_frequencies_overflow_fallback():
    vocab_size = 2**40  # vocab_size**2 does not fit in int64
    rng = np.random.default_rng(0)
    pool = rng.integers(0, vocab_size, size=5, dtype=np.int64)
    ids = pool[rng.integers(0, 5, size=400)]
    for n in (2, 3):
        assert ngram_frequencies(ids, n, vocab_size).tolist() == _brute_force(ids.tolist(), n)


def test_ngram_frequencies_edge_cases():
    assert ngram_frequencies(np.array([1, 2]), 3, 5).size == 0
    assert ngram_frequencies(np.array([], dtype=np.int64), 1, 5).size == 0
    with pytest.raises(ValueError):
        ngram_frequencies(np.array([0, 5]), 1, 5)
    with pytest.raises(ValueError):
        ngram_frequencies(np.array([0, 1]), 0, 5)


# ---- Zipf --------------------------------------------------------------------------------------
def test_zipf_exponent_exact_power_law():
    ranks = np.arange(1, 501)
    freqs = np.round(1e6 * ranks**-1.3)
    assert zipf_exponent(freqs) == pytest.approx(1.3, abs=0.01)


@pytest.mark.parametrize("s", [0.9, 1.2])
def test_zipf_exponent_on_sampled_zipf_data(s):
    rng = np.random.default_rng(1)
    vocab_size = 5_000
    p = np.arange(1, vocab_size + 1, dtype=np.float64) ** -s
    ids = rng.choice(vocab_size, size=300_000, p=p / p.sum())
    freqs = ngram_frequencies(ids, 1, vocab_size)
    assert zipf_exponent(freqs) == pytest.approx(s, abs=0.1)


def test_zipf_exponent_degenerate():
    assert math.isnan(zipf_exponent(np.array([5])))
    assert math.isnan(zipf_exponent(np.array([])))
    assert zipf_exponent(np.array([1, 2])) == pytest.approx(1.0)  # unsorted input is sorted


# ---- corpus stats and plot ---------------------------------------------------------------------
def test_corpus_stats_small_text():
    tok = build_tokenizer("word")
    text = "the cat sat\nthe dog sat\nthe end\n"
    vocab = build_vocab(text, tok)
    ids = encode_text(text, tok, vocab)
    s = corpus_stats(ids, vocab, top=3)
    assert s["num_tokens"] == 11
    assert s["vocab_size"] == len(vocab)
    assert s["distinct_tokens"] == 6  # the cat sat dog end <eos>
    assert s["top_tokens"] == [
        {"token": "<eos>", "count": 3},
        {"token": "the", "count": 3},
        {"token": "sat", "count": 2},
    ]
    assert s["distinct_bigrams"] == len(_brute_force(ids.tolist(), 2))
    assert s["distinct_trigrams"] == len(_brute_force(ids.tolist(), 3))
    assert isinstance(s["zipf_exponent"], float)
    json.dumps(s)  # JSON-ready


def test_plot_zipf_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=3_000)
    out = plot_zipf(ids, 50, tmp_path / "sub" / "zipf.png", title="random")
    assert out == tmp_path / "sub" / "zipf.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in out.parent.iterdir()] == ["zipf.png"]  # no temp file left


def test_plot_zipf_writes_png_under_a_name_matplotlib_has_no_format_for(tmp_path):
    # the suffix picks the format where matplotlib has one (.svg), PNG otherwise
    ids = np.random.default_rng(0).integers(0, 50, size=3_000)
    assert plot_zipf(ids, 50, tmp_path / "zipf.dat").read_bytes()[:8] == PNG_MAGIC
    assert plot_zipf(ids, 50, tmp_path / "zipf.svg").read_bytes().startswith(b"<?xml")


# ---- CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def corpus(tmp_path):
    text = "".join(f"the {w} sat on the mat\n" for w in ["cat", "dog", "bird", "cow"] * 30)
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_stats_text(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(data, ["stats", str(corpus), "--tokenizer", "word", "--top", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tokens:" in out and "Zipf exponent:" in out and '"the"' in out
    assert "top 3 tokens:" in out
    assert (tmp_path / "zipf-corpus.png").read_bytes()[:8] == PNG_MAGIC
    assert str(tmp_path / "zipf-corpus.png") in out


def test_cli_stats_json(corpus, tmp_path):
    plot = tmp_path / "plots" / "z.png"
    result = CliRunner().invoke(data, ["stats", str(corpus), "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    text = corpus.read_text(encoding="utf-8")
    cut = text.index("\n", int(0.9 * len(text))) + 1
    assert out["tokenizer"] == "char" and out["split"] == "train"
    assert out["num_tokens"] == cut
    assert out["top_tokens"][0]["token"] == " "
    assert len(out["top_tokens"]) == 10
    assert out["plot"] == str(plot.resolve()) and plot.is_file()


def test_cli_stats_valid_split_and_lowercase(corpus, tmp_path):
    corpus.write_text(corpus.read_text(encoding="utf-8").upper(), encoding="utf-8")
    args = ["stats", str(corpus), "--tokenizer", "word", "--lowercase", "--split", "valid"]
    result = CliRunner().invoke(data, [*args, "--json", "--plot", str(tmp_path / "v.png")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["split"] == "valid" and out["lowercase"] is True
    valid_lines = load_split_text(str(corpus), "valid").count("\n")
    assert out["top_tokens"][0] == {"token": "the", "count": 2 * valid_lines}


def test_cli_stats_errors(corpus, tmp_path):
    runner = CliRunner()
    result = runner.invoke(data, ["stats", str(corpus), "--split", "test"])
    assert isinstance(result.exception, DataError)
    result = runner.invoke(data, ["stats", str(tmp_path / "missing.txt")])
    assert isinstance(result.exception, DataError)
    result = runner.invoke(data, ["stats", str(corpus), "--tokenizer", "bpe"])
    assert result.exit_code != 0


def test_cli_help_shows_defaults():
    result = CliRunner().invoke(data, ["stats", "--help"])
    assert result.exit_code == 0
    assert result.output.count("[default:") == 6


# ---- real data ---------------------------------------------------------------------------------
@realdata
def test_real_tinyshakespeare_stats(tmp_path):
    result = CliRunner().invoke(
        data, ["stats", "tinyshakespeare", "--json", "--plot", str(tmp_path / "ts.png")]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["distinct_tokens"] == 65
    valid = load_split_text("tinyshakespeare", "valid")
    assert out["num_tokens"] + len(valid) == 1_115_394
