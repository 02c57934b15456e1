"""`mnist5k-pairs` (100 classes of two MNIST-5k digits side by side): sizes and class balance,
that every half is a pooled digit of the class its label names, that train and test pairs are
built from disjoint digit images, determinism by data.split_seed, and the common data options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condgan.config import DataConfig
from condgan.data import load_dataset, validate_data_config
from condgan.data.digit_pairs import PER_CLASS, TOP
from condgan.errors import CondganError


def load(split, **kw):
    return load_dataset(DataConfig(name="mnist5k-pairs", **kw), split)


def pooled_digits(split, **kw):
    digits = load_dataset(DataConfig(name="mnist5k", **kw), split)
    return F.avg_pool2d(digits.images, 2).flatten(1), digits.labels


def matches(halves, pooled):
    """For each half (n×196), the indices of the pooled digits it equals exactly (or -1)."""
    dist = torch.cdist(halves.double(), pooled.double(), compute_mode="donot_use_mm_for_euclid_dist")
    best = dist.argmin(1)
    return torch.where(dist.gather(1, best[:, None]).squeeze(1) < 1e-9, best, torch.full_like(best, -1))


def halves(images):
    left = images[:, 0, TOP:TOP + 14, :14].flatten(1)
    right = images[:, 0, TOP:TOP + 14, 14:].flatten(1)
    return left, right


@pytest.fixture(scope="module")
def splits():
    return load("train"), load("test")


def test_sizes_classes_and_background(splits):
    train, test = splits
    assert train.images.shape == (100 * PER_CLASS["train"], 1, 28, 28)
    assert test.images.shape == (100 * PER_CLASS["test"], 1, 28, 28)
    assert train.class_names == [f"{a}{b}" for a in range(10) for b in range(10)] and train.num_classes == 100
    assert torch.bincount(train.labels, minlength=100).tolist() == [PER_CLASS["train"]] * 100
    assert torch.bincount(test.labels, minlength=100).tolist() == [PER_CLASS["test"]] * 100
    assert train.images.min() == -1 and train.images.max() <= 1
    outside = torch.cat([train.images[:, :, :TOP], train.images[:, :, TOP + 14:]], 2)
    assert (outside == -1).all()


@pytest.mark.parametrize("split", ["train", "test"])
def test_each_half_is_a_digit_of_the_labelled_class_from_its_own_split(splits, split):
    data = splits[split == "test"]
    pick = torch.arange(0, len(data), 37)   # a spread of every class
    left, right = halves(data.images[pick])
    own, own_labels = pooled_digits(split)
    other, _ = pooled_digits("test" if split == "train" else "train")
    for half, digit in ((left, data.labels[pick] // 10), (right, data.labels[pick] % 10)):
        found = matches(half, own)
        assert (found >= 0).all()
        assert torch.equal(own_labels[found], digit)
        assert (matches(half, other) == -1).all()   # never a digit image of the other split


def test_deterministic_and_seeded(splits):
    again = load("train")
    assert torch.equal(again.images, splits[0].images) and torch.equal(again.labels, splits[0].labels)
    assert not torch.equal(load("train", split_seed=1).images, splits[0].images)
    again.images.zero_()   # a caller's edit must not reach the cached set
    assert torch.equal(load("train").images, splits[0].images)


def test_common_options_apply():
    sub = load("test", classes=[99, 7])
    assert sub.class_names == ["99", "07"] and torch.bincount(sub.labels).tolist() == [PER_CLASS["test"]] * 2
    assert load("test", classes=[3], image_size=14).images.shape == (PER_CLASS["test"], 1, 14, 14)
    with pytest.raises(CondganError, match="class 100 out of range"):
        validate_data_config(DataConfig(name="mnist5k-pairs", classes=[100]))
