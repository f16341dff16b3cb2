"""Classifier and tagger models: padding never changes a prediction, backends agree, heads."""

from __future__ import annotations

import pytest
import torch
from conftest import one_line_error

from rnnkit.classify.models import SequenceModel, SequenceModelConfig, build_model
from rnnkit.errors import ConfigError

TAGS = ("<pad>", "<unk>", "B-a", "I-a", "B-b", "I-b", "O")


def tiny(**kw) -> SequenceModel:
    torch.manual_seed(0)
    cfg = dict(vocab=20, num_labels=4, tags=TAGS, chars=12, embed=6, hidden=5, dropout=0.0)
    cfg.update(kw)
    return build_model(cfg).double().eval()


def batch(lengths, extra=0, seed=0, width=4):
    """Random words / chars for sentences of ``lengths``, padded to max + ``extra``."""
    g = torch.Generator().manual_seed(seed)
    S = max(lengths) + extra
    words = torch.randint(2, 20, (len(lengths), S), generator=g)
    chars = torch.randint(2, 12, (len(lengths), S, width), generator=g)
    chars[..., -1] = 0  # every word has some character padding
    lengths = torch.tensor(lengths)
    pad = torch.arange(S)[None, :] >= lengths[:, None]
    return words.masked_fill(pad, 0), lengths, chars.masked_fill(pad[..., None], 0)


CASES = [
    (cell, backend, pooling, bi)
    for cell in ("rnn", "lstm", "gru")
    for backend in ("torch", "scratch")
    for pooling in ("last", "mean", "max", "attention")
    for bi in (True, False)
]


@pytest.mark.parametrize("cell, backend, pooling, bi", CASES)
def test_padding_never_changes_a_prediction(cell, backend, pooling, bi):
    model = tiny(cell=cell, backend=backend, pooling=pooling, bidirectional=bi, char_embed=3)
    words, lengths, chars = batch([5, 2, 4, 1], extra=3)
    logits, emissions = model(words, lengths, chars)
    assert logits.shape == (4, 4) and emissions.shape == (4, 8, len(TAGS))
    for i, n in enumerate(lengths.tolist()):  # each sentence alone, without any padding
        alone_l, alone_e = model(words[i : i + 1, :n], lengths[i : i + 1], chars[i : i + 1, :n])
        torch.testing.assert_close(logits[i], alone_l[0])
        torch.testing.assert_close(emissions[i, :n], alone_e[0])
        assert emissions[i, n:].eq(0).all()
    # Garbage in the padded positions changes nothing either.
    noisy = words.clone()
    noisy[noisy == 0] = 7
    torch.testing.assert_close(model(noisy, lengths, chars)[0], logits)


def test_scratch_and_torch_backends_share_weights():
    for cell in ("rnn", "lstm", "gru"):
        a = tiny(cell=cell, backend="torch", layers=2, char_embed=3)
        b = tiny(cell=cell, backend="scratch", layers=2, char_embed=3)
        b.load_state_dict(a.state_dict())
        words, lengths, chars = batch([4, 3, 1], extra=1)
        la, ea = a(words, lengths, chars)
        lb, eb = b(words, lengths, chars)
        torch.testing.assert_close(la, lb)
        torch.testing.assert_close(ea, eb)


def test_heads_and_losses():
    words, lengths, chars = batch([3, 2], seed=1)
    intent_only = tiny(tags=())
    logits, emissions = intent_only(words, lengths)
    assert emissions is None and logits.shape == (2, 4)
    tagger = tiny(num_labels=0, crf=True)
    logits, emissions = tagger(words, lengths)
    assert logits is None
    mask = words != 0
    gold = torch.tensor([[2, 3, 6], [6, 4, 0]])
    loss = tagger.tag_loss(emissions, gold, mask)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in tagger.parameters() if p.grad is not None)


@pytest.mark.parametrize("crf", [True, False])
def test_reserved_tags_are_never_predicted(crf):
    model = tiny(num_labels=0, crf=crf)
    words, lengths, _ = batch([6, 3, 5], seed=2)
    _, emissions = model(words, lengths)
    emissions = emissions.detach().clone()
    emissions[..., :2] += 50.0  # the model "prefers" <pad> and <unk> everywhere
    mask = torch.arange(words.size(1))[None] < lengths[:, None]
    paths = model.decode_tags(emissions * mask[..., None], mask)
    assert [len(p) for p in paths] == lengths.tolist()
    assert all(t >= 2 for p in paths for t in p)
    if crf:  # and the BIO rules hold: no I-x after O or at the start
        for p in paths:
            names = [TAGS[t] for t in p]
            assert not names[0].startswith("I-")
            for prev, cur in zip(names, names[1:], strict=False):
                if cur.startswith("I-"):
                    assert prev in (f"B-{cur[2:]}", cur)


def test_char_cnn_ignores_character_padding():
    model = tiny(char_embed=4)
    words, lengths, chars = batch([3], width=3)
    wider = torch.cat([chars, torch.zeros(1, 3, 4, dtype=chars.dtype)], dim=-1)
    torch.testing.assert_close(model(words, lengths, chars)[0], model(words, lengths, wider)[0])


def test_config_errors_are_one_line():
    assert "labels, tags or both" in one_line_error(
        ConfigError, SequenceModelConfig, vocab=10, num_labels=0
    )
    assert "unknown pooling" in one_line_error(
        ConfigError, SequenceModelConfig, vocab=10, num_labels=3, pooling="sum"
    )
    assert "unknown cell" in one_line_error(
        ConfigError, SequenceModelConfig, vocab=10, num_labels=3, cell="lnlstm"
    )
    cfg = SequenceModelConfig(vocab=10, num_labels=3, tags=TAGS, crf=True)
    assert SequenceModelConfig.from_dict(cfg.to_dict()) == cfg
