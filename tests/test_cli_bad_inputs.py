"""Bad input on every command: exit code 2, one stderr line ``error: ...`` that names the
problem, no traceback, nothing on stdout, and no file of an existing run changed.

Each case of the table is an id, the argv (written as one shell-quoted string) with
``{name}`` placeholders, and a word the message must contain. Placeholders are the shared
runs of ``conftest.py`` and small bad inputs made on first use (``MAKERS``); runs a command
might write into are copies. Cases run ``rnnkit.cli.main`` in this process (``call_cli``),
a few in a real ``python -m rnnkit`` process.
"""

from __future__ import annotations

import io
import shlex
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from conftest import call_cli, run_cli, toy_pairs

from rnnkit.bounds import BOUNDS, numeric
from rnnkit.cli import cli


@dataclass(frozen=True)
class Case:
    argv: list[str]
    needle: str  # a word the error line must contain: it shows the message names the problem
    stdin: bytes | None = None  # for the commands that read stdin
    process: bool = False  # run in a subprocess


def case(id: str, command: str, needle: str, **kw):
    return pytest.param(Case(shlex.split(command), needle, **kw), id=id)


NOT_UTF8 = b"\xff\xfe caf\xe9 na\xefve\n" * 50


# ---- bad inputs, made only for the cases that name them ----------------------------------------
def _write(name: str, data: bytes):
    def make(tmp: Path, places: dict) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _folder(tmp: Path, places: dict) -> Path:
    (tmp / "empty-dir").mkdir()
    return tmp / "empty-dir"


def _copy(key: str, damage: dict[str, str] | None = None):
    """A copy of the run ``places[key]``, with the files in ``damage`` overwritten."""

    def make(tmp: Path, places: dict) -> Path:
        run = Path(shutil.copytree(places[key], tmp / f"copy-of-{key}"))
        for name, text in (damage or {}).items():
            (run / name).write_text(text, encoding="utf-8")
        return run

    return make


def _pairs_tsv(tmp: Path, places: dict) -> Path:
    src, tgt = toy_pairs()
    (tmp / "toy.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in zip(src, tgt, strict=True)))
    return tmp / "toy.tsv"


MAKERS = {
    "copy": _copy("lm"),
    "s2s_copy": _copy("s2s"),
    "intent_copy": _copy("intent"),
    "fc_copy": _copy("fc"),
    "ngram_copy": _copy("ngram"),
    "damaged": _copy("lm", {"run.json": '{"format": 1, "kind": "lm", "config": [32'}),
    "badvocab": _copy("lm", {"vocab.json": '{"tokens": ["a", '}),
    "bad_s2s": _copy("s2s", {"run.json": "{not json"}),
    "bad_intent": _copy("intent", {"run.json": '{"kind": "classify", "config": 3}'}),
    "bad_fc": _copy("fc", {"run.json": ""}),
    "bad_ngram": _copy("ngram", {"run.json": "[1, 2"}),
    "bad_lean": _copy("ngram", {"backoff.safetensors": "not safetensors"}),
    "dir": _folder,
    "prepared_dir": lambda tmp, places: _write("prepared.json", b"{}")(tmp, places).parent,
    "latin": _write("latin.txt", NOT_UTF8),
    "empty": _write("empty.txt", b""),
    "blank": _write("blank.txt", b" \n\n  \n"),
    "file": _write("notes.txt", b"just a note\n"),
    "badyaml": _write("bad.yaml", b"lr: [0.1\n  seq_len: 3\n"),
    "unknownkey": _write("unknown.yaml", b"hidden_units: 32\n"),
    "s2s_tsv": _pairs_tsv,
    "badtsv": _write("pairs.tsv", b"ein hund\ta dog\nkein tab hier\n"),
    "short_src": _write("short.src", b"a b\nc d\n"),
    "long_tgt": _write("long.tgt", b"B A\nD C\nE F\n"),
    "tsv3": _write("three.tsv", b"play halo\tMusic\textra\nrain in rome\tWeather\n"),
    "newlabel": _write("new.tsv", b"play yellow\tMusic\nset an alarm\tAlarm\n"),
    "conll_bad": _write("m.conll", b"play O\nhalo\n\nrome B-city\n"),
    "bad_arpa": _write(
        "bad.arpa", b"\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t</s>\nx\t<s>\n\\end\\\n"
    ),
    "good_arpa": _write(
        "ok.arpa", b"\\data\\\nngram 1=2\n\n\\1-grams:\n-99\t<s>\n0\t</s>\n\\end\\\n"
    ),
    "kenlm_bin": _write("lm.bin", b"mmap lm http://kheafield.com/code format version 5\n\0junk"),
    "csv_text": _write("bad.csv", b"day,sales\n2020-01-01,1\n2020-01-02,abc\n2020-01-03,3\n"),
}

# ---- the table ---------------------------------------------------------------------------------
TRAIN = "train --data {text} --out {tmp}/o"
NGRAM = "ngram train --data {text} --out {tmp}/n"
FC = "forecast train --csv {csv} --target sales --out {tmp}/f"
S2S = "seq2seq train --tsv {s2s_tsv} --out {tmp}/s"
CLS = "classify train --data {intent_tsv} --out {tmp}/c"
CASES = [
    case("unknown-command", "trian", "No such command"),
    case("unknown-global-option", "--bogus", "--bogus"),
    # train
    case("train-hidden-size-abc", "train --hidden-size abc", "--hidden-size"),
    case("train-hidden-size-without-value", "train --hidden-size", "rnnkit train --help"),
    case("train-unknown-model", "train --model transformer", "--model"),
    case("train-unknown-option", "train --hiden-size 3", "--hiden-size"),
    case("train-without-out", "train --data {text}", "--out"),
    case("train-missing-file", "train --data {tmp}/missing.txt --out {tmp}/o", "missing.txt"),
    case("train-unknown-dataset", "train --data tinyshakespear --out {tmp}/o", "tinyshakespear"),
    case("train-empty-file", "train --data {empty} --out {tmp}/o", "empty"),
    case("train-not-utf8", "train --data {latin} --out {tmp}/o", "UTF-8"),
    case("train-folder-without-train-txt", "train --data {dir} --out {tmp}/o", "train.txt"),
    case("train-batch-size-0", TRAIN + " --batch-size 0", "--batch-size"),
    case("train-seq-len-negative", TRAIN + " --seq-len -4", "--seq-len"),
    case("train-max-vocab-1", TRAIN + " --max-vocab 1", "--max-vocab"),
    case("train-unknown-device", TRAIN + " --device tpu", "--device"),
    case("train-missing-gpu", TRAIN + " --device cuda:99", "cuda:99"),
    case("train-fp16-on-cpu", TRAIN + " --precision fp16 --device cpu", "--precision bf16"),
    case("train-out-is-a-file", "train --data {text} --out {file}", "is a file"),
    case("train-out-holds-a-run", "train --data {text} --out {copy}", "--overwrite"),
    case("train-out-holds-seq2seq-run", "train --data {text} --out {s2s_copy}", "translation"),
    case("train-out-is-a-prepared-corpus", "train --data {text} --out {prepared_dir}", "prepared"),
    case("train-resume-of-a-non-run", "train --resume {dir}", "run.json"),
    case("train-resume-of-a-file", "train --resume {file}", "notes.txt"),
    case("train-resume-missing", "train --resume {tmp}/nowhere", "nowhere"),
    case("train-resume-changes-model", "train --resume {copy} --hidden-size 64", "--hidden-size"),
    case("train-resume-damaged-config", "train --resume {damaged}", "run.json"),
    case("train-config-missing", "train --config {tmp}/none.yaml --out {tmp}/o", "none.yaml"),
    case("train-config-not-yaml", "train --config {badyaml} --out {tmp}/o", "bad.yaml"),
    case("train-config-unknown-key", "train --config {unknownkey} --out {tmp}/o", "hidden_units"),
    # generate
    case("generate-missing-run", "generate {tmp}/nowhere", "nowhere"),
    case("generate-run-is-a-file", "generate {file}", "notes.txt"),
    case("generate-not-a-run", "generate {dir}", "run.json"),
    case("generate-temperature-negative", "generate {lm} --temperature -1", "--temperature"),
    case("generate-temperature-nan", "generate {lm} --temperature nan", "--temperature"),
    case("generate-top-p-0", "generate {lm} --top-p 0", "--top-p"),
    case("generate-top-k-negative", "generate {lm} --top-k -3", "--top-k"),
    case("generate-length-negative", "generate {lm} --length -5", "--length"),
    case("generate-length-not-a-number", "generate {lm} --length many", "--length"),
    case("generate-unknown-checkpoint", "generate {lm} --checkpoint middle", "--checkpoint"),
    case("generate-unknown-stop-token", "generate {lm} --stop QQQ", "--stop 'QQQ'"),
    case("generate-prompt-of-unknown-tokens", "generate {lm} --prompt \u0416\u0416", "<unk>"),
    case("generate-damaged-config", "generate {damaged}", "run.json"),
    case("generate-damaged-vocab", "generate {badvocab}", "vocab.json"),
    case("generate-seq2seq-run", "generate {s2s}", "rnnkit translate"),
    case("generate-ngram-run", "generate {ngram}", "rnnkit ngram generate"),
    case("generate-unknown-device", "generate {lm} --device tpu", "--device"),
    case("generate-missing-gpu", "generate {lm} --device cuda:99", "cuda:99"),
    case("generate-beam-0", "generate {lm} --beam 0", "--beam"),
    case("generate-beam-not-a-number", "generate {lm} --beam wide", "--beam"),
    case("generate-beam-with-temperature", "generate {lm} --beam 3 --temperature 0.7", "--temp"),
    case("generate-beam-with-top-k", "generate {lm} --beam 3 --top-k 5", "--top-k"),
    # eval
    case("eval-missing-run", "eval {tmp}/nowhere", "nowhere"),
    case("eval-unknown-split", "eval {lm} --split dev", "--split"),
    case("eval-batch-size-0", "eval {lm} --batch-size 0", "--batch-size"),
    case("eval-test-split-of-a-file", "eval {lm} --split test", "no test split"),
    case("eval-missing-data", "eval {lm} --data {tmp}/gone.txt", "gone.txt"),
    case("eval-data-not-utf8", "eval {lm} --data {latin}", "UTF-8"),
    case("eval-classify-run", "eval {intent}", "rnnkit classify"),
    case("eval-forecast-run", "eval {fc}", "rnnkit forecast"),
    case("eval-damaged-ngram-run", "eval {bad_ngram}", "run.json"),
    # score
    case("score-without-file", "score {lm}", "--file"),
    case("score-missing-file", "score {lm} --file {tmp}/lines.txt", "lines.txt"),
    case("score-file-is-a-folder", "score {lm} --file {dir}", "is a directory"),
    case("score-not-utf8", "score {lm} --file {latin}", "UTF-8"),
    case("score-blank-lines", "score {lm} --file {blank}", "blank.txt"),
    case("score-seq2seq-run", "score {s2s} --file {text}", "translation run"),
    case("score-ngram-run-file-missing", "score {ngram} --file {tmp}/x.txt", "x.txt"),
    # demo (every case is refused before training starts)
    case("demo-minutes-0", "demo --minutes 0 --out {tmp}/demo", "--minutes"),
    case("demo-minutes-abc", "demo --minutes abc", "--minutes"),
    case("demo-length-negative", "demo --length -1 --out {tmp}/demo", "--length"),
    case("demo-out-is-a-file", "demo --out {file}", "is a file"),
    case("demo-out-holds-another-run", "demo --out {copy}", "not a demo"),
    case("demo-out-holds-seq2seq-run", "demo --out {s2s_copy} --overwrite", "translation"),
    # data
    case("data-unknown-subcommand", "data lst", "No such command"),
    case("data-list-unknown-option", "data list --json", "--json"),
    case("data-use-missing-folder", "data use {tmp}/nowhere", "is not a folder"),
    case("data-use-folder-without-datasets", "data use {dir}", "holds none of the registered"),
    case("data-use-folder-and-clear", "data use {dir} --clear", "not both"),
    case("data-stats-missing-file", "data stats {tmp}/corpus.txt", "corpus.txt"),
    case("data-stats-unknown-dataset", "data stats wikitext-3", "wikitext-3"),
    case("data-stats-top-0", "data stats {text} --top 0", "--top"),
    case("data-stats-top-without-value", "data stats {text} --top", "rnnkit data stats --help"),
    case("data-stats-unknown-tokenizer", "data stats {text} --tokenizer bpe", "--tokenizer"),
    case("data-stats-not-utf8", "data stats {latin}", "UTF-8"),
    case("data-stats-empty-file", "data stats {empty}", "empty"),
    case("data-stats-unknown-split", "data stats {text} --split test", "no test split"),
    case("data-stats-plot-is-a-folder", "data stats {text} --plot {dir}", "--plot"),
    case("data-prepare-missing-file", "data prepare {tmp}/big.txt --out {tmp}/p", "big.txt"),
    case("data-prepare-not-utf8", "data prepare {latin} --out {tmp}/p", "UTF-8"),
    case("data-prepare-tokenizer", "data prepare {text} --tokenizer bpe --out {tmp}/p", "bpe"),
    case("data-prepare-chunk-0", "data prepare {text} --chunk-mb 0 --out {tmp}/p", "--chunk-mb"),
    case("data-prepare-min-freq-0", "data prepare {text} --min-freq 0 --out {tmp}/p", "--min-freq"),
    case("data-prepare-out-is-a-file", "data prepare {text} --out {file}", "notes.txt"),
    case("data-prepare-out-holds-a-run", "data prepare {text} --out {copy}", "language-model run"),
    # ngram
    case("ngram-unknown-subcommand", "ngram export {ngram}", "No such command"),
    case("ngram-train-order-0", NGRAM + " --order 0", "--order"),
    case("ngram-train-unknown-smoothing", NGRAM + " --smoothing katz", "--smoothing"),
    case("ngram-train-k-negative", NGRAM + " --smoothing addk --k -1", "--k"),
    case("ngram-train-discount-2", NGRAM + " --discount 2", "--discount"),
    case("ngram-train-kenlm-style-mle", NGRAM + " --smoothing mle --bos-style kenlm", "padded"),
    case("ngram-train-unknown-bos-style", NGRAM + " --bos-style nltk", "--bos-style"),
    case("ngram-train-missing-data", "ngram train --data {tmp}/c.txt --out {tmp}/n", "c.txt"),
    case("ngram-train-not-utf8", "ngram train --data {latin} --out {tmp}/n", "UTF-8"),
    case("ngram-train-out-holds-lm-run", "ngram train --data {text} --out {copy}", "language"),
    case(
        "ngram-train-out-holds-a-run", "ngram train --data {text} --out {ngram_copy}", "--overwrite"
    ),
    case("ngram-eval-lm-run", "ngram eval {lm}", "n-gram"),
    case("ngram-eval-missing-run", "ngram eval {tmp}/nowhere", "nowhere"),
    case("ngram-eval-unknown-split", "ngram eval {ngram} --split dev", "--split"),
    case("ngram-eval-damaged-run", "ngram eval {bad_ngram}", "run.json"),
    case("ngram-eval-broken-arpa", "ngram eval {bad_arpa}", "line 6"),
    case("ngram-eval-damaged-lean-store", "ngram eval {bad_lean}", "backoff.safetensors"),
    case("ngram-eval-arpa-without-data", "ngram eval {good_arpa}", "--data"),
    case("ngram-eval-not-a-model-file", "ngram eval {file} --data {text}", "ARPA"),
    case("ngram-eval-broken-kenlm-binary", "ngram eval {kenlm_bin} --data {text}", "lm.bin"),
    case("ngram-eval-tokenizer-of-a-run", "ngram eval {ngram} --tokenizer char", "--tokenizer"),
    case("ngram-score-missing-file", "ngram score {ngram} --file {tmp}/x.txt", "x.txt"),
    case("ngram-score-broken-arpa", "ngram score {bad_arpa} --file {text}", "not a log10"),
    case("ngram-generate-broken-arpa", "ngram generate {bad_arpa}", "bad.arpa"),
    case("eval-broken-arpa", "eval {bad_arpa} --data {text}", "bad.arpa"),
    case("ngram-generate-length-negative", "ngram generate {ngram} --length -2", "--length"),
    case(
        "ngram-generate-temperature-neg", "ngram generate {ngram} --temperature -1", "--temperature"
    ),
    case("ngram-generate-temperature-nan", "ngram generate {ngram} --temperature nan", "--temp"),
    case("ngram-generate-unknown-prompt", "ngram generate {ngram} --prompt \u0416", "<unk>"),
    case("ngram-export-arpa-to-a-folder", "ngram export-arpa {ngram} {dir}", "is a directory"),
    case("ngram-export-arpa-lm-run", "ngram export-arpa {lm} {tmp}/lm.arpa", "n-gram"),
    # forecast
    case("forecast-train-unknown-series", "forecast train --data airline --out {tmp}/f", "airline"),
    case("forecast-train-missing-csv", "forecast train --csv {tmp}/s.csv --out {tmp}/f", "s.csv"),
    case("forecast-train-csv-is-a-folder", "forecast train --csv {dir} --out {tmp}/f", "empty-dir"),
    case("forecast-train-csv-not-utf8", "forecast train --csv {latin} --out {tmp}/f", "UTF-8"),
    case("forecast-train-empty-csv", "forecast train --csv {empty} --out {tmp}/f", "empty"),
    case("forecast-train-unknown-column", FC + " --features rain", "rain"),
    case("forecast-train-old-hidden", FC + " --hidden 8", "--hidden is now --hidden-size"),
    case("forecast-train-patience-negative", FC + " --patience -2", "--patience must be >= 0"),
    case("forecast-train-non-numeric-cell", FC + " --csv {csv_text}", "--fill"),
    case("forecast-train-horizon-0", FC + " --horizon 0", "--horizon"),
    case("forecast-train-tau-negative", FC + " --tau -1", "--tau"),
    case("forecast-train-tau-too-long", FC + " --tau 500", "tau"),
    case("forecast-train-period-0", FC + " --period 0", "--period"),
    case("forecast-train-batch-size-0", FC + " --batch-size 0", "--batch-size"),
    case("forecast-train-lr-0", FC + " --lr 0", "--lr"),
    case("forecast-train-dropout-1", FC + " --dropout 1", "--dropout"),
    case("forecast-train-unknown-time-column", FC + " --time-col date", "'date'"),
    case(
        "forecast-train-recursive-features", FC + " --features temp --strategy recursive", "direct"
    ),
    case("forecast-train-data-and-csv", FC + " --data sine", "exactly one"),
    case("forecast-train-unknown-model", FC + " --model arima", "--model"),
    case("forecast-train-split-not-numbers", FC + " --split 0.7;0.3", "--split"),
    case("forecast-train-split-not-one", FC + " --split 0.7,0.2,0.2", "add up to 1"),
    case(
        "forecast-train-split-registered",
        "forecast train --data sine --split 0.5,0.5 --out {tmp}/f",
        "--csv",
    ),
    case("forecast-train-test-from-not-a-date", FC + " --test-from soon", "--test-from"),
    case("forecast-train-test-from-after-the-end", FC + " --test-from 2031-01-01", "no test rows"),
    case("forecast-train-unknown-skip", FC + " --skip cubic", "--skip"),
    case("forecast-train-residual-with-skip", FC + " --residual", "--skip none"),
    case("forecast-train-unknown-device", FC + " --device tpu", "--device"),
    case(
        "forecast-train-out-holds-a-run",
        "forecast train --data sine --out {fc_copy}",
        "--overwrite",
    ),
    case("forecast-train-out-holds-lm-run", "forecast train --data sine --out {copy}", "language"),
    case("forecast-predict-horizon-0", "forecast predict {fc} --horizon 0", "--horizon"),
    case("forecast-predict-without-horizon", "forecast predict {fc}", "--horizon"),
    case("forecast-predict-lm-run", "forecast predict {lm} --horizon 3", "not a forecasting run"),
    case(
        "forecast-predict-missing-csv",
        "forecast predict {fc} --horizon 3 --csv {tmp}/n.csv",
        "n.csv",
    ),
    case(
        "forecast-predict-out-is-a-folder", "forecast predict {fc} --horizon 3 --out {dir}", "--out"
    ),
    case("forecast-eval-missing-run", "forecast eval {tmp}/nowhere", "nowhere"),
    case("forecast-eval-unknown-split", "forecast eval {fc} --split train", "--split"),
    case("forecast-eval-damaged-run", "forecast eval {bad_fc}", "run.json"),
    case("forecast-plot-without-out", "forecast plot {fc}", "--out"),
    case("forecast-plot-seq2seq-run", "forecast plot {s2s} --out {tmp}/p.png", "not a forecasting"),
    case("forecast-demo-out-is-a-file", "forecast demo --out {file}", "notes.txt"),
    # seq2seq
    case("seq2seq-train-src-without-tgt", "seq2seq train --src {short_src} --out {tmp}/s", "--tgt"),
    case(
        "seq2seq-train-line-counts-differ",
        "seq2seq train --src {short_src} --tgt {long_tgt} --out {tmp}/s",
        "has 3",
    ),
    case("seq2seq-train-tsv-without-tab", "seq2seq train --tsv {badtsv} --out {tmp}/s", "line 2"),
    case("seq2seq-train-missing-tsv", "seq2seq train --tsv {tmp}/p.tsv --out {tmp}/s", "p.tsv"),
    case("seq2seq-train-tsv-not-utf8", "seq2seq train --tsv {latin} --out {tmp}/s", "UTF-8"),
    case("seq2seq-train-unknown-corpus", "seq2seq train --data multi31k --out {tmp}/s", "multi31k"),
    case("seq2seq-train-tsv-and-src", S2S + " --src {short_src} --tgt {long_tgt}", "exactly one"),
    case("seq2seq-train-unknown-attention", S2S + " --attention luong", "--attention"),
    case("seq2seq-train-hidden-0", S2S + " --hidden-size 0", "--hidden-size"),
    case("seq2seq-train-embed-0", S2S + " --embed-size 0", "--embed-size"),
    case("seq2seq-train-old-hidden", S2S + " --hidden 32", "--hidden is now --hidden-size"),
    case("seq2seq-train-old-embed", S2S + " --embed 32", "--embed is now --embed-size"),
    case("seq2seq-train-old-layers", S2S + " --layers 2", "--layers is now --num-layers"),
    case("seq2seq-train-clip-negative", S2S + " --clip -1", "--clip must be >= 0"),
    case("seq2seq-train-resume-missing", "seq2seq train --resume {tmp}/nothing", "not found"),
    case(
        "train-resume-translation-run-with-lm-flag",
        "train --resume {s2s_copy} --seq-len 5",
        "--seq-len is not a setting of this run",
    ),
    case("seq2seq-train-dropout-1.5", S2S + " --dropout 1.5", "--dropout"),
    case("seq2seq-train-max-len-0", S2S + " --max-len 0", "--max-len"),
    case("seq2seq-train-teacher-forcing-2", S2S + " --teacher-forcing 2", "--teacher-forcing"),
    case("seq2seq-train-missing-gpu", S2S + " --device cuda:99", "cuda:99"),
    case(
        "seq2seq-train-out-holds-a-run",
        "seq2seq train --tsv {s2s_tsv} --out {s2s_copy}",
        "--overwrite",
    ),
    case(
        "seq2seq-train-out-holds-lm-run", "seq2seq train --tsv {s2s_tsv} --out {copy}", "language"
    ),
    case("seq2seq-eval-lm-run", "seq2seq eval {lm}", "not a translation run"),
    case("seq2seq-eval-beam-0", "seq2seq eval {s2s} --beam 0", "--beam"),
    case("seq2seq-eval-no-test-split", "seq2seq eval {s2s} --split test", "no test split"),
    case("seq2seq-eval-damaged-run", "seq2seq eval {bad_s2s}", "run.json"),
    case(
        "seq2seq-attention-empty-sentence",
        "seq2seq attention {s2s} --sentence '  ' --out {tmp}/a.png",
        "--sentence",
    ),
    case(
        "seq2seq-attention-out-is-a-folder",
        "seq2seq attention {s2s} --sentence 'a b' --out {dir}",
        "--out",
    ),
    # translate
    case("translate-lm-run", "translate {lm}", "not a translation run"),
    case("translate-missing-run", "translate {tmp}/nowhere", "nowhere"),
    case("translate-damaged-run", "translate {bad_s2s}", "run.json"),
    case("translate-beam-0", "translate {s2s} --beam 0", "--beam"),
    case("translate-n-best-above-beam", "translate {s2s} --beam 2 --n-best 3", "--n-best"),
    case("translate-unknown-device", "translate {s2s} --device tpu", "--device"),
    case("translate-stdin-not-utf8", "translate {s2s}", "UTF-8", stdin=NOT_UTF8),
    case("translate-beam-with-temperature", "translate {s2s} --beam 3 --temperature 1", "--beam"),
    case("translate-beam-with-top-p", "translate {s2s} --beam 2 --top-p 0.9", "--top-p"),
    case("translate-temperature-nan", "translate {s2s} --temperature nan", "--temperature"),
    case("translate-top-k-negative", "translate {s2s} --top-k -1", "--top-k"),
    case("translate-top-p-0", "translate {s2s} --top-p 0", "--top-p"),
    case("translate-n-best-with-sampling", "translate {s2s} --top-k 5 --n-best 2", "--n-best"),
    # poem (`rnnkit poem RUN_DIR` is `rnnkit poem write RUN_DIR`)
    case("poem-write-lm-run", "poem {lm}", "poem"),
    case("poem-write-missing-run", "poem write {tmp}/nowhere", "nowhere"),
    case("poem-write-num-0", "poem {lm} --num 0", "--num"),
    case("poem-write-empty-start", "poem {lm} --start '  '", "--start"),
    case("poem-write-unknown-form", "poem {lm} --form sonnet", "--form"),
    case("poem-write-unknown-device", "poem {lm} --device tpu", "--device"),
    case("poem-write-beam-0", "poem {lm} --beam 0", "--beam"),
    case("poem-write-beam-with-top-p", "poem {lm} --beam 4 --top-p 0.5", "--top-p"),
    case("poem-write-num-above-beam", "poem {lm} --beam 2 --num 3", "--num"),
    case("poem-train-unknown-corpus", "poem train --data song-poetry --out {tmp}/p", "song-poetry"),
    case("poem-train-unknown-preset", "poem train --preset huge --out {tmp}/p", "--preset"),
    case("poem-train-out-holds-a-run", "poem train --out {copy}", "--overwrite"),
    case("poem-train-out-holds-seq2seq-run", "poem train --out {s2s_copy}", "translation run"),
    # classify
    case("classify-train-missing-data", "classify train --data {tmp}/i.tsv --out {tmp}/c", "i.tsv"),
    case("classify-train-not-utf8", "classify train --data {latin} --out {tmp}/c", "UTF-8"),
    case("classify-train-empty-file", "classify train --data {empty} --out {tmp}/c", "empty"),
    case("classify-train-three-fields", "classify train --data {tsv3} --out {tmp}/c", "line 1"),
    case("classify-train-unknown-task", CLS + " --task ner", "--task"),
    case("classify-train-holdout-2", CLS + " --holdout 2", "--holdout"),
    case("classify-train-hidden-0", CLS + " --hidden-size 0", "--hidden-size"),
    case("classify-train-old-hidden", CLS + " --hidden 16", "--hidden is now --hidden-size"),
    case("classify-train-old-embed", CLS + " --embed 16", "--embed is now --embed-size"),
    case(
        "tag-train-old-layers", "tag train --layers 2 --out {tmp}/t", "--layers is now --num-layers"
    ),
    case("classify-train-clip-negative", CLS + " --clip -1", "--clip must be >= 0"),
    case("classify-train-char-embed-negative", CLS + " --char-embed -1", "--char-embed"),
    case("classify-train-dropout-1", CLS + " --dropout 1", "--dropout"),
    case("classify-train-slots-from-tsv", CLS + " --task slots", "--task intent"),
    case("classify-train-unknown-device", CLS + " --device tpu", "--device"),
    case("classify-train-out-holds-a-run", "classify train --out {intent_copy}", "--overwrite"),
    case("classify-train-out-holds-lm-run", "classify train --out {copy}", "language"),
    case("classify-predict-lm-run", "classify predict {lm}", "not a classification"),
    case("classify-predict-top-0", "classify predict {intent} --top 0", "--top"),
    case("classify-predict-damaged-run", "classify predict {bad_intent}", "damaged"),
    case("classify-predict-stdin-not-utf8", "classify predict {intent}", "UTF-8", stdin=NOT_UTF8),
    case("classify-eval-unseen-label", "classify eval {intent} --data {newlabel}", "Alarm"),
    case("classify-eval-no-test-split", "classify eval {intent} --split test", "--data"),
    # tag
    case("tag-train-line-without-tag", "tag train --data {conll_bad} --out {tmp}/t", "line 2"),
    case(
        "tag-train-batch-size-0",
        "tag train --data {joint_conll} --batch-size 0 --out {tmp}/t",
        "--batch-size",
    ),
    case("tag-predict-classify-run", "tag predict {intent}", "rnnkit classify"),
    case("tag-predict-seq2seq-run", "tag predict {s2s}", "not a classification or tagging"),
    case("tag-predict-stdin-not-utf8", "tag predict {joint}", "UTF-8", stdin=NOT_UTF8),
    case("tag-eval-missing-data", "tag eval {joint} --data {tmp}/d.conll", "d.conll"),
    case("tag-eval-forecast-run", "tag eval {fc}", "not a classification or tagging"),
    # serve
    case("serve-port-70000", "serve {lm} --port 70000", "--port"),
    case("serve-host-without-value", "serve {lm} --host", "rnnkit serve --help"),
    case("serve-no-run", "serve", "RUN_DIR"),
    case("serve-missing-run", "serve {tmp}/nowhere", "nowhere"),
    case("serve-not-a-run", "serve {dir}", "not a run"),
    case("serve-max-concurrent-0", "serve {lm} --max-concurrent 0", "--max-concurrent"),
    case("serve-max-tokens-negative", "serve {lm} --max-tokens -1", "--max-tokens"),
    case("serve-max-batch-0", "serve {lm} --max-batch 0", "--max-batch"),
    case("serve-max-wait-negative", "serve {lm} --max-wait -1", "--max-wait"),
    case("serve-max-wait-not-a-number", "serve {lm} --max-wait soon", "--max-wait"),
    case("serve-unknown-device", "serve {lm} --device tpu", "--device"),
    # export
    case("export-unknown-format", "export {lm} --format pdf --out {tmp}/m.pdf", "pdf"),
    case("export-without-format", "export {lm} --out {tmp}/m.onnx", "--format"),
    case("export-missing-run", "export {tmp}/nowhere --format onnx --out {tmp}/m.onnx", "nowhere"),
    case("export-seq2seq-torchscript", "export {s2s} --format torchscript --out {tmp}/m", "pt2"),
    case("export-seq2seq-out-is-a-file", "export {s2s} --format pt2 --out {file}", "is a file"),
    case("export-ngram-run", "export {ngram} --format onnx --out {tmp}/m.onnx", "n-gram"),
    case("export-opset-3", "export {lm} --format onnx --opset 3 --out {tmp}/m.onnx", "--opset"),
    case("export-out-is-a-folder", "export {lm} --format onnx --out {dir}", "--out"),
    case("export-unknown-which", "export {lm} --format onnx --which mid --out {tmp}/m", "--which"),
    # info
    case("info-missing-run", "info {tmp}/nowhere", "nowhere"),
    case("info-empty-folder", "info {dir}", "not an rnnkit run directory"),
    case("info-file", "info {file}", "notes.txt"),
    case("info-damaged-config", "info {damaged}", "run.json"),
    case("info-damaged-seq2seq-run", "info {bad_s2s}", "damaged"),
    # grad-flow
    case("grad-flow-seq-len-0", "grad-flow --seq-len 0", "--seq-len"),
    case("grad-flow-unknown-model", "grad-flow --model transformer", "--model"),
    case("grad-flow-unknown-backend", "grad-flow --backend cuda", "--backend"),
    case("grad-flow-out-is-a-folder", "grad-flow --out {dir}", "--out"),
    case("grad-flow-missing-run", "grad-flow --run {tmp}/nowhere", "nowhere"),
    case("grad-flow-seq2seq-run", "grad-flow --run {s2s}", "translation run"),
    case("grad-flow-seq-len-beyond-text", "grad-flow --run {lm} --seq-len 100000", "--seq-len"),
    # the same in a real process
    case("process-usage-error", "train --batch-size 1.5", "--batch-size", process=True),
    case("process-missing-run", "generate {tmp}/nowhere", "nowhere", process=True),
]


# ---- every numeric option out of its range -------------------------------------------------------
# A valid invocation of each command that has numeric options; each option is then given a value
# just outside its range in ``rnnkit.bounds.BOUNDS`` (below the low end, above the high end).
VALID = {
    "train": TRAIN,
    "eval": "eval {lm}",
    "generate": "generate {lm}",
    "demo": "demo --out {tmp}/demo",
    "grad-flow": "grad-flow --run {lm}",
    "data prepare": "data prepare {text} --out {tmp}/p",
    "data stats": "data stats {text}",
    "ngram train": NGRAM,
    "ngram generate": "ngram generate {ngram}",
    "forecast train": FC,
    "forecast predict": "forecast predict {fc} --horizon 2",
    "forecast plot": "forecast plot {fc} --out {tmp}/p.png",
    "forecast demo": "forecast demo --out {tmp}/fd",
    "seq2seq train": S2S,
    "seq2seq eval": "seq2seq eval {s2s}",
    "translate": "translate {s2s}",
    "poem train": "poem train --data {text} --out {tmp}/p",
    "poem write": "poem write {lm}",
    "classify train": CLS,
    "classify predict": "classify predict {intent}",
    "tag train": "tag train --data {joint_conll} --out {tmp}/t",
    "serve": "serve {lm}",
    "export": "export {lm} --out {tmp}/e",
}


def _leaves():
    """(command name, click command) for every command that runs."""
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            yield from ((f"{name} {sub}", c) for sub, c in command.commands.items())
        else:
            yield name, command


def _numeric_options():
    for name, command in _leaves():
        for param in command.params:
            if isinstance(param, click.Option) and numeric(param):
                yield name, param


def _outside(bound, integer: bool) -> list[str]:
    """Values just outside ``bound``: below its low end and above its high end."""
    step = 1 if integer else 0.5
    values = []
    if bound.low is not None:
        values.append(bound.low if bound.low_open else bound.low - step)
    if bound.high is not None:
        values.append(bound.high if bound.high_open else bound.high + step)
    if not values:
        values.append("inf")  # only a finite number is a setting
    return [str(int(v)) if integer and v != "inf" else str(v) for v in values]


def _range_cases():
    for command, param in _numeric_options():
        integer = isinstance(param.type, click.types.IntParamType)
        flag = max(param.opts, key=len)
        for value in _outside(BOUNDS[param.name], integer):
            argv = f"{VALID[command]} {flag} {value}"
            yield case(f"{command.replace(' ', '-')}{flag}={value}", argv, flag)


def test_every_numeric_option_has_a_range():
    unbounded = {f"{c} --{p.name}" for c, p in _numeric_options() if p.name not in BOUNDS}
    assert unbounded == set(), "add these to rnnkit.bounds.BOUNDS"
    assert {c for c, _ in _numeric_options()} <= set(VALID), "add a valid invocation to VALID"


RANGE_CASES = list(_range_cases()) if all(p.name in BOUNDS for _, p in _numeric_options()) else []


def _command(argv: list[str]) -> str:
    """The command a case runs: ``train``, ``data stats``, ... (``poem RUN_DIR`` is ``poem``)."""
    group = cli.commands.get(argv[0]) if argv else None
    if isinstance(group, click.Group) and len(argv) > 1 and argv[1] in group.commands:
        return f"{argv[0]} {argv[1]}"
    return argv[0]


def test_the_table_covers_every_command():
    commands = {_command(p.values[0].argv) for p in CASES}
    assert len(CASES) >= 40 and len(commands) >= 12
    leaves = {
        f"{name} {sub}" if isinstance(command, click.Group) else name
        for name, command in cli.commands.items()
        for sub in (command.commands if isinstance(command, click.Group) else [None])
    }
    assert leaves - commands == set(), "commands without a bad-input case"


# ---- running a case ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory, trained_run):
    out = tmp_path_factory.mktemp("ngram") / "run"
    code, _, err = call_cli(["ngram", "train", "--data", trained_run.text, "--out", out])
    assert code == 0, err
    return out


@pytest.fixture
def places(tmp_path, trained_run, seq2seq_run, intent_run, joint_run, forecast_run, ngram_run):
    """Placeholder -> path: the shared runs and their inputs (``MAKERS`` add the others)."""
    _, s2s, _, _ = seq2seq_run
    intent_root, intent = intent_run
    joint_root, joint, _ = joint_run
    csv, fc, _ = forecast_run
    return {
        "tmp": tmp_path,
        "lm": trained_run.dir,
        "text": trained_run.text,
        "s2s": s2s,
        "intent": intent,
        "intent_tsv": intent_root / "train.tsv",
        "joint": joint,
        "joint_conll": joint_root / "train.conll",
        "fc": fc,
        "csv": csv,
        "ngram": ngram_run,
    }


def _fill(value: str, places: dict) -> str:
    for _, name, _, _ in string.Formatter().parse(value):
        if name and name not in places:
            places[name] = MAKERS[name](places["tmp"], places)
    return value.format(**places)


def _files(places: dict) -> dict[Path, bytes]:
    """Every file of the runs and inputs in ``places`` (all small), by path."""
    found = {}
    for path in places.values():
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            if p.is_file():
                found[p] = p.read_bytes()
    return found


@pytest.mark.parametrize("bad", CASES + RANGE_CASES)
def test_bad_input_is_one_line_naming_the_problem(bad, places, monkeypatch, tmp_path):
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))  # nothing to find, no download
    monkeypatch.chdir(tmp_path)  # where default output files would go
    places = dict(places)
    argv = [_fill(a, places) for a in bad.argv]
    before = _files({k: v for k, v in places.items() if k != "tmp"})
    if bad.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bad.stdin), "utf-8"))
    code, out, err = (run_cli if bad.process else call_cli)(argv)
    assert "Traceback" not in err, err
    assert code == 2, f"exit code {code}, stderr:\n{err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert bad.needle in lines[0], f"{bad.needle!r} not in {lines[0]!r}"
    assert out == "", f"stdout of a refused command:\n{out}"
    after = _files({k: v for k, v in places.items() if k != "tmp"})
    assert {p: after.get(p) for p in before} == before, "a file of an existing run changed"
