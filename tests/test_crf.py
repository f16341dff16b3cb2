"""Linear-chain CRF: log Z and Viterbi against brute force over every path, padding, BIO
constraints, gradients, and parity with pytorch-crf on the same weights."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import one_line_error as error

from rnnkit.classify.crf import CRF, bio_constraints
from rnnkit.errors import ConfigError

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_crf(num_tags: int, seed: int = 0, tags: list[str] | None = None) -> CRF:
    """A float64 CRF with unit-scale random scores, so the best paths differ clearly."""
    torch.manual_seed(seed)
    crf = (CRF.from_bio(tags) if tags else CRF(num_tags)).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def make_batch(lengths: list[int], num_tags: int, steps: int | None = None, seed: int = 0):
    """``(emissions (N, S, T), tags (N, S), mask (N, S))`` with left-aligned valid steps."""
    g = torch.Generator().manual_seed(seed)
    S = steps or max(lengths)
    emissions = torch.randn(len(lengths), S, num_tags, generator=g, dtype=torch.float64)
    tags = torch.randint(num_tags, (len(lengths), S), generator=g)
    mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    return emissions, tags, mask


def every_path(crf: CRF, emissions: torch.Tensor, n: int, keep=None):
    """Every tag path of length ``n`` over one sentence's emissions (S, T), and its score."""
    T = emissions.size(1)
    paths = [p for p in itertools.product(range(T), repeat=n) if keep is None or keep(p)]
    em = emissions[:n].expand(len(paths), n, T)
    return paths, crf.score(em, torch.tensor(paths), torch.ones(len(paths), n, dtype=torch.bool))


@pytest.mark.parametrize("num_tags", [3, 4])
def test_log_partition_and_viterbi_match_brute_force(num_tags):
    crf = make_crf(num_tags, seed=num_tags)
    lengths = [4, 1, 3, 2]
    emissions, _, mask = make_batch(lengths, num_tags, seed=num_tags)
    log_z = crf.log_partition(emissions, mask)
    paths, scores = crf.decode(emissions, mask)
    for i, n in enumerate(lengths):
        every, s = every_path(crf, emissions[i], n)
        assert torch.allclose(log_z[i], torch.logsumexp(s, 0), atol=1e-10)
        assert paths[i] == list(every[int(s.argmax())])
        assert torch.allclose(scores[i], s.max(), atol=1e-10)


def test_nll_is_log_partition_minus_score():
    crf = make_crf(4)
    emissions, tags, mask = make_batch([4, 2, 3], 4)
    nll = crf(emissions, tags, mask, reduction="none")
    expected = crf.log_partition(emissions, mask) - crf.score(emissions, tags, mask)
    assert torch.allclose(nll, expected, atol=1e-12)
    assert (nll > 0).all()  # -log p of a proper distribution
    assert torch.allclose(crf(emissions, tags, mask), nll.mean())
    assert torch.allclose(crf(emissions, tags, mask, reduction="sum"), nll.sum())
    assert torch.allclose(crf(emissions, tags), crf(emissions, tags, torch.ones_like(mask)))


def test_padding_changes_nothing():
    crf = make_crf(3)
    emissions, tags, mask = make_batch([3, 1, 2], 3, seed=1)
    # Three more steps of random emissions and tags, all padded (the tags even out of range).
    more_em, _, _ = make_batch([3, 1, 2], 3, steps=3, seed=2)
    long_em = torch.cat([emissions, 100 * more_em], 1)
    long_tags = torch.cat([tags, torch.full((3, 3), -100)], 1)
    long_mask = torch.cat([mask, torch.zeros(3, 3, dtype=torch.bool)], 1)
    for short, long in (
        (crf.score(emissions, tags, mask), crf.score(long_em, long_tags, long_mask)),
        (crf.log_partition(emissions, mask), crf.log_partition(long_em, long_mask)),
        (crf(emissions, tags, mask, "none"), crf(long_em, long_tags, long_mask, "none")),
        (crf.decode(emissions, mask)[1], crf.decode(long_em, long_mask)[1]),
    ):
        assert torch.allclose(short, long, atol=1e-12)
    assert crf.decode(emissions, mask)[0] == crf.decode(long_em, long_mask)[0]
    # A row scores the same alone as in its batch.
    alone = crf.log_partition(emissions[1:2, :1], mask[1:2, :1])
    assert torch.allclose(alone, crf.log_partition(emissions, mask)[1:2], atol=1e-12)


def test_bio_constraints_matrix():
    start, allowed, end = bio_constraints(["O", "B-PER", "I-PER", "I-LOC", "<pad>"])
    assert start.tolist() == [True, True, False, False, True]
    assert end.all()
    # rows: from O, B-PER, I-PER, I-LOC, <pad>; columns: to the same tags
    assert allowed.tolist() == [
        [True, True, False, False, True],
        [True, True, True, False, True],
        [True, True, True, False, True],
        [True, True, False, True, True],
        [True, True, True, True, True],
    ]
    crf = CRF.from_bio(BIO)
    assert crf.num_tags == 5 and torch.equal(crf.allowed, bio_constraints(BIO)[1])


def bio_ok(path) -> bool:
    """No I-x at the start or after anything but B-x / I-x."""
    prev = "O"
    for tag in (BIO[t] for t in path):
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def test_constrained_decoding_matches_brute_force_over_allowed_paths():
    crf = make_crf(5, seed=3, tags=BIO)
    lengths = [4, 1, 3, 4, 2]
    emissions, _, mask = make_batch(lengths, 5, seed=3)
    emissions[:, :, [2, 4]] += 3.0  # the I- tags look best everywhere, at the start too
    with torch.no_grad():
        crf.transitions[0, 2] = 3.0  # and O -> I-PER looks attractive
    free = make_crf(5)
    free.load_state_dict(dict(crf.named_parameters()), strict=False)  # no constraints
    assert not all(map(bio_ok, free.decode(emissions, mask)[0]))  # the constraints matter here

    paths, scores = crf.decode(emissions, mask)
    log_z = crf.log_partition(emissions, mask)
    for i, n in enumerate(lengths):
        assert bio_ok(paths[i]) and len(paths[i]) == n
        allowed, s = every_path(crf, emissions[i], n, keep=bio_ok)
        assert paths[i] == list(allowed[int(s.argmax())])
        assert torch.allclose(scores[i], s.max(), atol=1e-10)
        # Forbidden paths carry no probability: Z sums the allowed paths only.
        assert torch.allclose(log_z[i], torch.logsumexp(s, 0), atol=1e-10)


def test_gradients_are_finite_and_correct():
    crf = make_crf(5, tags=BIO)
    emissions, tags, mask = make_batch([3, 2], 5)
    tags[0, 0] = 2  # a gold path that starts with I-PER, which the constraints forbid
    emissions.requires_grad_(True)
    crf(emissions, tags, mask).backward()
    grads = [emissions.grad, *(p.grad for p in crf.parameters())]
    assert all(torch.isfinite(g).all() for g in grads)

    small = make_crf(3)
    emissions, tags, mask = make_batch([3, 2], 3, seed=4)
    names = [name for name, _ in small.named_parameters()]

    def nll(em, *params):
        weights = dict(zip(names, params, strict=True))
        return torch.func.functional_call(small, weights, (em, tags, mask))

    inputs = [
        emissions.requires_grad_(True),
        *(p.detach().requires_grad_(True) for p in small.parameters()),
    ]
    assert torch.autograd.gradcheck(nll, inputs)


def test_matches_pytorch_crf():
    torchcrf = pytest.importorskip("torchcrf")
    crf = make_crf(4, seed=5)
    ref = torchcrf.CRF(4, batch_first=True).double()
    with torch.no_grad():
        ref.start_transitions.copy_(crf.start)
        ref.end_transitions.copy_(crf.end)
        ref.transitions.copy_(crf.transitions)  # both score [from, to]
    emissions, tags, mask = make_batch([5, 2, 1, 4, 3], 4, seed=5)
    ours = -crf(emissions, tags, mask, reduction="none")
    assert torch.allclose(ours, ref(emissions, tags, mask, reduction="none"), atol=1e-10)
    assert crf.decode(emissions, mask)[0] == ref.decode(emissions, mask)


def test_bad_inputs_raise_typed_errors():
    crf = make_crf(3)
    emissions, tags, mask = make_batch([2, 2], 3)
    mask[1] = False
    assert "row 1" in error(ConfigError, crf, emissions, tags, mask)
    assert "row 1" in error(ConfigError, crf.decode, emissions, mask)
    emissions, tags, mask = make_batch([2, 2], 3)
    assert "(N, S, 3)" in error(ConfigError, crf.decode, emissions[..., :2], mask)
    error(ConfigError, crf, emissions, tags[:, :1], mask)
    error(ConfigError, crf.log_partition, emissions, mask[:, :1])
    error(ConfigError, crf.log_partition, emissions, mask.long())
    error(ConfigError, crf.log_partition, emissions, torch.tensor([[False, True], [True, True]]))
    error(ConfigError, crf.score, emissions, torch.full_like(tags, 3), mask)
    error(ConfigError, crf, emissions, tags, mask, reduction="max")
    error(ConfigError, CRF, 0)
    error(ConfigError, CRF, 3, torch.ones(2, 2, dtype=torch.bool))
