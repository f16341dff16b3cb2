"""Continuous batching (``rnnkit.decode.running``): each stream of a batch writes, token for
token, what ``generate_ids`` writes for it alone, whoever joins or leaves around it."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decode.packed import packed_step
from rnnkit.decode.running import RunningBatch, Stream, by_row, rows_addmm, step_rows
from rnnkit.errors import GenerationError
from rnnkit.infer.generate import generate_ids
from rnnkit.models.lm import LMConfig, RNNLanguageModel
from rnnkit.nn.recurrent import cat_states

V = 37
BANNED = [0, 1]


def _model(cell: str, hidden: int, backend: str = "torch") -> RNNLanguageModel:
    torch.manual_seed(0)
    model = RNNLanguageModel(LMConfig(V, cell, hidden, 2, backend=backend)).eval()
    with torch.no_grad():  # larger weights: sharper distributions, more distinct samples
        for p in model.parameters():
            p.mul_(3)
    return model


def _rows(state, i: int):
    if isinstance(state, tuple):
        return tuple(s[:, i : i + 1] for s in state)
    return state[:, i : i + 1]


# Hidden sizes that are not multiples of the vector width: the rows' tails are where a merged
# loop or an unaligned product would differ.
@pytest.mark.parametrize("cell,hidden", [("rnn", 7), ("lstm", 13), ("gru", 20), ("lstm", 64)])
def test_step_rows_is_each_row_stepped_alone_bit_for_bit(cell, hidden):
    model = _model(cell, hidden)
    n = 16
    with torch.no_grad():
        fast = packed_step(model)
        _, state = fast.step(torch.randint(0, V, (n,)), None)
        y = torch.randint(0, V, (n,))
        logits, new = step_rows(fast, y, state)
        alone = [fast.step(y[i : i + 1], _rows(state, i)) for i in range(n)]
    assert logits.shape == (n, V)
    assert torch.equal(logits, torch.cat([a[0] for a in alone]))
    for got, parts in zip(
        new if isinstance(new, tuple) else (new,),
        zip(*[a[1] if isinstance(a[1], tuple) else (a[1],) for a in alone], strict=True),
        strict=True,
    ):
        assert got.shape == (2, n, hidden)
        assert torch.equal(got, torch.cat(parts, 1))


def test_row_helpers_match_one_row_calls():
    torch.manual_seed(1)
    x, w, b = torch.randn(5, 13), torch.randn(13, 37), torch.randn(37)
    out = rows_addmm(b, x, w)
    assert out.shape == (5, 37)
    assert torch.equal(out, torch.cat([torch.addmm(b, x[i : i + 1], w) for i in range(5)]))
    assert torch.equal(rows_addmm(None, x, w), torch.cat([x[i : i + 1] @ w for i in range(5)]))
    h = torch.randn(5, 13) * 3
    got = by_row(torch.sigmoid, h)
    assert torch.equal(got, torch.cat([torch.sigmoid(h[i : i + 1]) for i in range(5)]))


SETTINGS = [
    {"temperature": 1.0},
    {"temperature": 0.7, "top_k": 5},
    {"temperature": 1.3, "top_p": 0.9},
    {"temperature": 0.0},
    {"temperature": 1.0},  # the first one's settings again: one group, two generators
]


def _streams(n: int) -> list[Stream]:
    g = torch.Generator().manual_seed(5)
    return [
        Stream(
            torch.randint(2, V, (1 + i % 4,), generator=g).tolist(),
            8 + 3 * i,
            seed=100 + i,
            **SETTINGS[i % len(SETTINGS)],
        )
        for i in range(n)
    ]


def _alone(model, s: Stream) -> list[int]:
    return list(
        generate_ids(
            model,
            s.context,
            s.length,
            s.temperature,
            s.top_k,
            s.top_p,
            seed=s.seed,
            stop_id=s.stop,
            banned=BANNED,
        )
    )


@pytest.mark.parametrize(
    "cell,hidden,backend",
    [
        ("lstm", 13, "torch"),
        ("gru", 20, "torch"),
        ("rnn", 7, "scratch"),
        ("lnlstm", 12, "scratch"),
        ("mingru", 13, "torch"),
        ("minlstm", 9, "scratch"),
    ],
)
def test_streams_joining_and_leaving_write_what_they_write_alone(cell, hidden, backend):
    model = _model(cell, hidden, backend)
    streams = _streams(11)
    streams[4].stop = _alone(model, streams[4])[3]  # a stop token ends that one early
    expected = [_alone(model, s) for s in streams]
    batch, waiting, sizes, t = RunningBatch(model, banned=BANNED), list(streams), [], 0
    while waiting or len(batch):
        if waiting and t % 3 == 0:  # two join every third step, while others leave
            for s in waiting[:2]:
                batch.join(s)
            waiting = waiting[2:]
        sizes.append(len(batch))
        batch.step()
        t += 1
    assert max(sizes) >= 5 and len(set(sizes)) > 3  # rows came and went
    for s, want in zip(streams, expected, strict=True):
        assert s.tokens == want
        assert s.error is None
    assert len(streams[4].tokens) <= 3 and streams[4].stop not in streams[4].tokens


def test_a_stream_hands_on_each_token_and_leaves_when_its_reader_fails_or_it_is_cancelled():
    model = _model("lstm", 16)
    seen: list[int] = []
    good = Stream([2, 3], 12, seed=1, on_token=seen.append)

    def broken(token: int) -> None:
        raise RuntimeError("reader gone")

    bad = Stream([2, 3], 12, seed=2, on_token=broken)
    cancelled = Stream([4], 12, seed=3)
    batch = RunningBatch(model, banned=BANNED)
    assert not batch.join(Stream([2], 0))  # nothing to write: never a row
    for s in (good, bad, cancelled):
        assert batch.join(s)
    left = batch.step()
    assert left == [bad] and isinstance(bad.error, RuntimeError) and len(batch) == 2
    cancelled.cancelled = True
    assert batch.step() == [cancelled] and len(batch) == 1
    while len(batch):
        batch.step()
    assert seen == good.tokens == _alone(model, good)


def test_bad_streams_are_refused_before_they_join():
    with pytest.raises(GenerationError, match="context"):
        Stream([], 5)
    with pytest.raises(GenerationError, match="top_p|top-p"):
        Stream([1], 5, top_p=0.0)


def test_cat_states_puts_rows_side_by_side():
    a, b = torch.zeros(2, 1, 4), torch.ones(2, 3, 4)
    assert cat_states([a, b]).shape == (2, 4, 4)
    pair = cat_states([(a, a), (b, b)])
    assert isinstance(pair, tuple) and pair[1].shape == (2, 4, 4) and pair[1][:, 0].sum() == 0
