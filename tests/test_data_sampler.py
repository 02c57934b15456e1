"""BatchSampler: epoch permutations, dropped tails, bit-identical resume."""

import io

import pytest
import torch

from condgan.data.sampler import BatchSampler
from condgan.errors import CondganError


def _sampler(n=10, batch_size=4, seed=0):
    return BatchSampler(n, batch_size, torch.Generator().manual_seed(seed))


def test_batches_are_distinct_within_an_epoch_and_the_tail_is_dropped():
    s = _sampler(n=10, batch_size=4)
    for _ in range(3):  # 10 // 4 = 2 full batches per epoch, 2 indices left out each time
        a, b = s.next_indices(), s.next_indices()
        assert a.dtype == torch.int64 and a.shape == (4,)
        both = torch.cat([a, b])
        assert len(set(both.tolist())) == 8 and int(both.max()) < 10
    assert s.epoch == 3


def test_batch_size_equal_to_n_gives_whole_permutations():
    s = _sampler(n=5, batch_size=5)
    assert sorted(s.next_indices().tolist()) == [0, 1, 2, 3, 4]
    assert sorted(s.next_indices().tolist()) == [0, 1, 2, 3, 4]


def test_batch_size_larger_than_n_is_an_error():
    with pytest.raises(CondganError, match="batch_size"):
        _sampler(n=3, batch_size=4)


def test_resume_draws_identical_indices():
    reference = _sampler(n=23, batch_size=5, seed=7)
    for _ in range(6):  # stop mid-epoch (4 batches per epoch)
        reference.next_indices()
    state = reference.state_dict()
    # Through a checkpoint exactly as training saves it (weights_only loading).
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored_state = torch.load(buffer, weights_only=True)
    expected = [reference.next_indices().tolist() for _ in range(11)]

    resumed = _sampler(n=23, batch_size=5, seed=12345)  # a differently seeded generator
    resumed.load_state_dict(restored_state)
    assert [resumed.next_indices().tolist() for _ in range(11)] == expected


def test_resume_before_the_first_batch():
    fresh = _sampler(n=9, batch_size=3, seed=1)
    state = fresh.state_dict()
    expected = [fresh.next_indices().tolist() for _ in range(4)]
    other = _sampler(n=9, batch_size=3, seed=2)
    other.load_state_dict(state)
    assert [other.next_indices().tolist() for _ in range(4)] == expected


def test_state_for_other_sizes_is_rejected():
    state = _sampler(n=10, batch_size=4).state_dict()
    with pytest.raises(CondganError, match="batch_size|batches of"):
        _sampler(n=10, batch_size=2).load_state_dict(state)
