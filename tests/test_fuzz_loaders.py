"""Every loader of a user file, fed random bytes and near-valid files: it returns, or raises an
``RnnkitError`` with a one-line message, never anything else.

The targets are in ``fuzz_targets.py`` (``bench/fuzz_loaders.py`` runs them with a budget of
thousands). Each test here draws ``RNNKIT_FUZZ_EXAMPLES`` inputs (default 20): random bytes,
the target's near-valid files and its valid seeds. An ``@example`` is an input that once made a
loader crash, or accept what it must refuse, kept so that it never does again. The last tests
hold those once-accepted inputs to a refusal that says what is wrong.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_targets import SEP, TARGETS, _ngram_files, _prepared_files, outcome
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load, save

from rnnkit.errors import DataError, RnnkitError
from rnnkit.io import read_text

EXAMPLES = int(os.environ.get("RNNKIT_FUZZ_EXAMPLES", "20"))


def fuzzed(name: str):
    """Run the decorated test (which takes ``data``) on inputs for target ``name``."""
    target = TARGETS[name]
    inputs = st.binary(max_size=2000) | target.near_valid() | st.sampled_from(target.seeds())
    slow = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

    def wrap(test):
        return settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=slow)(
            given(data=inputs)(test)
        )

    return wrap


# ---- inputs of the regression examples ---------------------------------------------------------
RESERVED = ["<pad>", "<unk>", "<bos>", "<eos>"]
NGRAM_DOC = json.loads(_ngram_files()["run.json"])
PREPARED = json.loads(_prepared_files()["prepared.json"])
TABLES = load(_ngram_files()["counts.safetensors"])


def vocab_json(**changes) -> bytes:
    return json.dumps({"tokens": [*RESERVED, "a"], "reserved": RESERVED, **changes}).encode()


def ngram_json(**changes) -> bytes:
    """The n-gram run's run.json with settings (or fitted values) changed."""
    doc = json.loads(json.dumps(NGRAM_DOC))
    for key, value in changes.items():
        doc["fitted" if key in doc["fitted"] else "config"][key] = value
    return json.dumps(doc).encode()


def prepared_json(**changes) -> bytes:
    return json.dumps({**PREPARED, **changes}).encode()


def tables(**changes: np.ndarray) -> bytes:
    """The n-gram run's counts.safetensors with some arrays replaced (``keys_2`` = keys.2)."""
    return save({**TABLES, **{k.replace("_", "."): v for k, v in changes.items()}})


def split(tokens: int | float | str, name: str = "train") -> dict:
    return {name: {**PREPARED["splits"]["train"], "tokens": tokens}}


# ---- one test per target -----------------------------------------------------------------------
@fuzzed("read-text")
def test_read_text(data):
    assert outcome(TARGETS["read-text"], data) in ("accepted", "refused")


@fuzzed("split-text")
def test_split_text(data):
    assert outcome(TARGETS["split-text"], data) in ("accepted", "refused")


@fuzzed("prepare-text")
def test_prepare_text(data):
    assert outcome(TARGETS["prepare-text"], data) in ("accepted", "refused")


@example(b"[" * 100_000)  # RecursionError in json
@example(vocab_json(tokens=[*RESERVED, 5]))  # accepted; detokenizing it raised TypeError
@example(vocab_json(counts="abcde"))  # accepted as 5 counts "a".."e"; sum() raised TypeError
@example(vocab_json(counts=[1, 2]))  # accepted: 2 counts for 5 tokens
@fuzzed("vocab-json")
def test_vocab_json(data):
    assert outcome(TARGETS["vocab-json"], data) in ("accepted", "refused")


@example(b"1: 2\nfoo: 3\n")  # TypeError sorting int and str keys
@example(b'"a\\nb": 2\n')  # an unknown key with a line break: a two-line message
@example(b"[" * 5000)  # RecursionError in the YAML parser
@example(b"lr: " + b"1" * 5000 + b"\n")  # ValueError: int() of 5000 digits
@example(b"data: 2020-13-45\n")  # ValueError from datetime
@example(b"data: !!timestamp x\n")  # AttributeError in PyYAML's constructor
@example(b"data: !!int x\n")  # ValueError in PyYAML's constructor
@example(b"lr: 0x" + b"f" * 300 + b"\n")  # OverflowError: a 1200-bit int as a float
@example(b"data: 0x" + b"f" * 4000 + b"\n")  # ValueError: repr() of the int in the message
@example(b"clip: .nan\n")  # accepted
@example(b"lr: .inf\n")  # accepted
@fuzzed("config-yaml")
def test_config_yaml(data):
    assert outcome(TARGETS["config-yaml"], data) in ("accepted", "refused")


@example(b't,"a\nb"\n1,2\n2,3\n')  # "no value column": the columns listed over two lines
@example(b"t,x\n2020-01,1\n2020-01-01 00:00:00.123456789012345,2\n")  # OverflowError in numpy
@example(b"inf,\n1981-01-01\n")  # "the columns are inf, " (an empty name): a message ending in " "
@fuzzed("forecast-csv")
def test_forecast_csv(data):
    assert outcome(TARGETS["forecast-csv"], data) in ("accepted", "refused")


@fuzzed("seq2seq-tsv")
def test_seq2seq_tsv(data):
    assert outcome(TARGETS["seq2seq-tsv"], data) in ("accepted", "refused")


@fuzzed("seq2seq-aligned")
def test_seq2seq_aligned(data):
    assert outcome(TARGETS["seq2seq-aligned"], data) in ("accepted", "refused")


@example(b"[" * 100_000)  # RecursionError in json
@example(b"[" + b"1" * 5000 + b"]")  # ValueError: int() of 5000 digits
@fuzzed("tang-poems-json")
def test_tang_poems_json(data):
    assert outcome(TARGETS["tang-poems-json"], data) in ("accepted", "refused")


@example(b"\\data\\\nngram 1=" + b"9" * 5000 + b"\n")  # ValueError: int() of 5000 digits
@example(b"\\data\\\nngram 1=1\n\n\\" + b"1" * 5000 + b"-grams:\n")  # the same in a section
@fuzzed("arpa")
def test_arpa(data):
    assert outcome(TARGETS["arpa"], data) in ("accepted", "refused")


@example(b"a\rb\tc\n")  # csv.Error: a carriage return in an unquoted field
@example(b"play jazz\t<unk>\n")  # "vocabulary lists a token twice", of a label <unk>
@fuzzed("classify-tsv")
def test_classify_tsv(data):
    assert outcome(TARGETS["classify-tsv"], data) in ("accepted", "refused")


@example(b'"' + b"x" * 200_000 + b'",y\n')  # csv.Error: a field over csv's size limit
@example(b'play jazz,"Play\nMusic"\n')  # accepted: a label with a line break
@fuzzed("classify-csv")
def test_classify_csv(data):
    assert outcome(TARGETS["classify-csv"], data) in ("accepted", "refused")


@example(b"play <pad>\n")  # "vocabulary lists a token twice", of a tag <pad>
@fuzzed("classify-conll")
def test_classify_conll(data):
    assert outcome(TARGETS["classify-conll"], data) in ("accepted", "refused")


@fuzzed("classify-txt")
def test_classify_txt(data):
    assert outcome(TARGETS["classify-txt"], data) in ("accepted", "refused")


@example(b"play jazz\n" + SEP + b"Play\rMusic\n")  # accepted: a label with a carriage return
@fuzzed("classify-snips-folder")
def test_classify_snips_folder(data):
    assert outcome(TARGETS["classify-snips-folder"], data) in ("accepted", "refused")


@example(b"[" * 100_000)  # RecursionError in json
@example(prepared_json(splits=split(1e999)))  # OverflowError: int(inf)
@example(prepared_json(splits=split(1, name="a\nb")))  # a split named a\nb: a two-line message
@example(prepared_json(splits=split(1, name="../../x")))  # accepted: a .bin outside the folder
@example(prepared_json(source="a\nb", vocab_size=3))  # the fix names the source: two lines
@example(prepared_json(max_vocab="5\n6", vocab_size=3))  # the same with --max-vocab
@fuzzed("prepared-json")
def test_prepared_json(data):
    assert outcome(TARGETS["prepared-json"], data) in ("accepted", "refused")


@example(b"[" * 100_000)  # RecursionError in json
@example(ngram_json(**{"a\nb": 1}))  # NGramMeta's TypeError names the key: two lines
@example(ngram_json(boundary=[]))  # TypeError: unhashable list as a token
@example(ngram_json(train_tokens="many"))  # accepted
@fuzzed("ngram-meta-json")
def test_ngram_meta_json(data):
    assert outcome(TARGETS["ngram-meta-json"], data) in ("accepted", "refused")


@example(tables(suffix_2=TABLES["suffix.2"] + 1000))  # ValueError: shapes do not broadcast
@example(tables(keys_2=TABLES["keys.2"].astype(np.float64)))  # TypeError in bincount
@example(tables(keys_2=TABLES["keys.2"][::-1].copy()))  # accepted: keys out of order
@example(tables(keys_3=TABLES["keys.3"] * 1000))  # accepted: contexts out of range
@example(tables(counts_2=-TABLES["counts.2"]))  # accepted: negative counts
@example(tables(keys_1=TABLES["keys.1"][::-1].copy()))  # accepted: unigrams out of order
@fuzzed("ngram-counts-safetensors")
def test_ngram_counts_safetensors(data):
    assert outcome(TARGETS["ngram-counts-safetensors"], data) in ("accepted", "refused")


def test_every_target_has_a_test():
    tested = {name.removeprefix("test_").replace("_", "-") for name in globals()}
    assert set(TARGETS) <= tested


# ---- once accepted, now refused with a reason ---------------------------------------------------
def refusal(name: str, data: bytes) -> str:
    """The message of the ``RnnkitError`` target ``name`` raises on ``data``."""
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(RnnkitError) as info:
        TARGETS[name].run(data, Path(tmp))
    return str(info.value)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("vocab-json", vocab_json(tokens=[*RESERVED, 5]), "token is a number, not a string"),
        ("vocab-json", vocab_json(counts=[1, 2]), "counts must be 5 integers"),
        ("config-yaml", b"clip: .nan\n", "--clip must be a finite number"),
        ("config-yaml", b"lr: .inf\n", "--lr must be a finite number"),
        ("config-yaml", b"lr: 0x" + b"f" * 300 + b"\n", "--lr is out of range (a 1200-bit"),
        ("classify-csv", b'jazz,"Play\nMusic"\n', "label with a line break ('Play\\nMusic')"),
        ("classify-tsv", b"jazz\t<unk>\n", "the label '<unk>', a name rnnkit reserves"),
        ("prepared-json", prepared_json(splits=split(1, name="../x")), "unknown split '../x'"),
        ("ngram-meta-json", ngram_json(train_tokens="many"), "train_tokens is str, not int"),
        ("ngram-counts-safetensors", tables(counts_2=-TABLES["counts.2"]), "order 2 is damaged"),
        ("arpa", b"\\data\\\nngram 1=" + b"9" * 30 + b"\n", "count of over 18 digits"),
        ("classify-snips-folder", b"jazz\n" + SEP + b"Play\rMusic\n", "label with a line break"),
        ("classify-conll", b"play <pad>\n", "the tag '<pad>', a name rnnkit reserves"),
        (
            "forecast-csv",
            b"t,x\n2020-01,1\n2020-01-01 00:00:00.123456789012345,2\n",
            "mixes precisions no one time unit holds",
        ),
    ],
)
def test_wrong_values_are_refused_with_a_reason(name, data, reason):
    assert reason in refusal(name, data)


def test_unreadable_file_is_a_data_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.txt"
    path.write_text("some text\n", encoding="utf-8")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DataError, match=r"cannot read .*locked.txt \(Permission denied\)"):
        read_text(path)
