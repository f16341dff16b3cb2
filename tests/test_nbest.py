"""`rnnkit translate --n-best`: each translation of a line once."""

from __future__ import annotations

from test_unknown_input import translate


def test_n_best_translations_are_distinct(seq2seq_run, monkeypatch):
    from conftest import toy_pairs

    src, _ = toy_pairs(40, seed=3)
    out, _ = translate(
        monkeypatch, seq2seq_run[1], "\n".join(src) + "\n", "--beam", "5", "--n-best", "5"
    )
    assert len(out) == 40
    for line in out:
        hyps = line.split("\t")
        assert len(hyps) == len(set(hyps)) >= 2, line


def test_hypotheses_that_differ_only_in_sentence_marks_are_one_translation():
    from collections import Counter

    from rnnkit.decode import Hypothesis
    from rnnkit.seq2seq.translate import unique_translations
    from rnnkit.text.vocab import Vocab

    vocab = Vocab.build(Counter(["A", "B", "C"]), min_freq=1)
    a, b, c = (vocab.id_of(t) for t in "ABC")
    pad, bos, eos = (vocab.id_of(t) for t in ("<pad>", "<bos>", "<eos>"))
    hyps = [Hypothesis([a, b], -1.0), Hypothesis([bos, a, b, eos], -1.5), Hypothesis([c], -2.0)]
    hyps.append(Hypothesis([a, b, pad], -3.0))
    assert unique_translations(hyps, vocab) == ["A B", "C"]
