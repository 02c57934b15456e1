"""`digits`: scikit-learn's 1,797 8×8 handwritten digits (docs/methods.md §8), values 0..16.

Resized to `data.image_size` by the common options; no official test split, so a stratified
hold-out of `data.test_fraction` is cut, deterministic by `data.split_seed`.
"""

from __future__ import annotations

import functools

import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import DIGIT_ATTRIBUTES, DIGIT_NAMES, holdout, source_info, to_unit_range


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = to_unit_range(bunch.images, max_value=16.0).view(-1, 1, 8, 8)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


@DATASETS.register("digits")
@source_info(num_classes=10, attributes=DIGIT_ATTRIBUTES)
def load_digits(cfg: DataConfig, split: str) -> ImageData:
    images, labels = _digits()
    return holdout(ImageData(images, labels, DIGIT_NAMES), split, cfg.test_fraction, cfg.split_seed)
