"""`mnist5k-pairs`: 100 classes of two MNIST-5k digits side by side, built from the embedded
digits — a many-class data set on hand for seed 004's claim that AC-GAN collapses early in
training when the classes are many (Kang 2021, §1 and §3).

An image of class 10·a + b (named "ab", e.g. "07") shows a digit a on the left and a digit b on
the right: each 28×28 `mnist5k` digit is reduced to 14×14 by 2×2 average pooling, the two are
placed side by side in rows 7–20 of a 28×28 image, and the rest is background (-1).

The digits come from `mnist5k`'s own stratified hold-out (`data.test_fraction`,
`data.split_seed`): train pairs are drawn from the train digits and test pairs from the test
digits only, so no digit image is in both splits. Each class holds PER_CLASS[split] pairs (train
200, test 100: 20,000 and 10,000 images), each digit drawn uniformly with replacement among its
class's digits by a generator seeded with `data.split_seed` and the split, so a split is the same
on every machine. The left and right digits of a pair are drawn independently: there are far more
pairs than images (405 × 405 per class in train), so the set is a sample of them.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import check_split, source_info
from condgan.data.mnist import load_mnist5k

PER_CLASS = {"train": 200, "test": 100}
NUM_DIGITS = 10
CLASS_NAMES = [f"{a}{b}" for a in range(NUM_DIGITS) for b in range(NUM_DIGITS)]
# Rows of the 28-pixel canvas the 14-pixel digits occupy (vertically centred).
TOP = 7


def compose_pairs(images: torch.Tensor, labels: torch.Tensor, per_class: int, seed: int) -> ImageData:
    """`per_class` pair images of every class 10·a + b from single digits (N×1×28×28 in [-1, 1],
    labels 0..9): left digit of class a, right digit of class b, each drawn with replacement."""
    g = torch.Generator().manual_seed(seed)
    small = F.avg_pool2d(images, 2)  # N×1×14×14; the background stays -1
    by_digit = [torch.nonzero(labels == d).flatten() for d in range(NUM_DIGITS)]
    draw = lambda d: by_digit[d][torch.randint(len(by_digit[d]), (per_class,), generator=g)]  # noqa: E731
    left, right = [], []
    for a in range(NUM_DIGITS):
        for b in range(NUM_DIGITS):
            left.append(draw(a))
            right.append(draw(b))
    left, right = torch.cat(left), torch.cat(right)
    side = small.shape[-1]
    out = torch.full((len(left), 1, images.shape[-2], 2 * side), -1.0)
    out[:, :, TOP:TOP + side, :side] = small[left]
    out[:, :, TOP:TOP + side, side:] = small[right]
    y = torch.arange(NUM_DIGITS * NUM_DIGITS).repeat_interleave(per_class)
    return ImageData(out, y, list(CLASS_NAMES))


@functools.lru_cache(maxsize=4)
def _pairs(split: str, test_fraction: float, split_seed: int) -> ImageData:
    digits = load_mnist5k(DataConfig(name="mnist5k", test_fraction=test_fraction, split_seed=split_seed), split)
    # One stream per (split_seed, split): the two splits never share draws.
    return compose_pairs(digits.images, digits.labels, PER_CLASS[split], 2 * split_seed + (split == "test"))


@DATASETS.register("mnist5k-pairs")
@source_info(num_classes=len(CLASS_NAMES))
def load_mnist5k_pairs(cfg: DataConfig, split: str) -> ImageData:
    check_split(split)
    data = _pairs(split, cfg.test_fraction, cfg.split_seed)
    # Copies: callers (class subsets, resizing) must never alias the cached tensors.
    return dataclasses.replace(data, images=data.images.clone(), labels=data.labels.clone(),
                               class_names=list(data.class_names))
