import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.lm_batches import LMBatches, eval_batches
from rnnkit.errors import DataError

shapes = st.tuples(
    st.integers(50, 2000), st.integers(1, 8), st.integers(1, 20), st.integers(0, 5)
).filter(lambda t: t[0] > (t[1] + 1) * t[2] + 1)


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from(["random", "sequential"]))
def test_targets_are_inputs_shifted_and_positions_used_once(shape, sampling):
    n, B, T, epoch = shape
    ids = np.arange(n, dtype=np.int32)  # token value == its position
    it = LMBatches(ids, B, T, sampling, seed=7)
    seen = []
    batches = list(it.epoch(epoch))
    assert len(batches) == it.num_batches(epoch) > 0
    for x, y in batches:
        assert x.shape == y.shape == (B, T) and x.dtype == torch.int64
        assert torch.equal(y, x + 1)
        seen.extend(x.flatten().tolist())
    assert len(seen) == len(set(seen)), "a position was used twice in one epoch"


@settings(max_examples=60, deadline=None)
@given(shapes)
def test_sequential_batches_are_contiguous_streams(shape):
    n, B, T, epoch = shape
    it = LMBatches(np.arange(n, dtype=np.int32), B, T, "sequential", seed=3)
    batches = list(it.epoch(epoch))
    for (x0, _), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # row k of batch b+1 continues row k of b
    x = batches[0][0]
    if B == 1:
        return
    width = (x[1, 0] - x[0, 0]).item()
    assert all((x[r + 1, 0] - x[r, 0]).item() == width for r in range(B - 1))


def test_random_sampling_changes_offset_and_order_by_epoch_and_is_repeatable():
    ids = np.arange(5000, dtype=np.int32)
    it = LMBatches(ids, 4, 10, "random", seed=1)
    e0 = [x for x, _ in it.epoch(0)]
    e0_again = [x for x, _ in LMBatches(ids, 4, 10, "random", seed=1).epoch(0)]
    e1 = [x for x, _ in it.epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(e0, e0_again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(e0, e1, strict=False))


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_epoch_can_start_at_any_batch(sampling):
    it = LMBatches(np.arange(3000, dtype=np.int32), 3, 7, sampling, seed=5)
    full = list(it.epoch(2))
    tail = list(it.epoch(2, start=10))
    assert len(tail) == len(full) - 10
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[10:], tail, strict=True))


def test_too_short_corpus_says_what_to_lower():
    with pytest.raises(DataError, match="lower --batch-size or --seq-len"):
        LMBatches(np.arange(50, dtype=np.int32), 4, 20, "random", seed=0)


def test_works_on_memory_mapped_ids(tmp_path):
    np.save(tmp_path / "ids.npy", np.arange(500, dtype=np.int32))
    ids = np.load(tmp_path / "ids.npy", mmap_mode="r")
    x, y = next(LMBatches(ids, 2, 5, "random", seed=0).epoch(0))
    assert torch.equal(y, x + 1)


def test_eval_batches_cover_every_token_once():
    ids = np.arange(103, dtype=np.int32)
    xs = torch.cat([x.flatten() for x, _ in eval_batches(ids, 4, 7)])
    assert sorted(xs.tolist()) == list(range(100))  # 4 streams x 25 tokens, 2 left over
