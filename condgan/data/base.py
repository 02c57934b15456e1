"""The in-memory data set every source produces, and the source registry.

Small image data sets (MNIST-5k, Fashion-MNIST, digits, CIFAR-10) fit in memory as one float
tensor, so training samples batches by indexing it: no per-item Python in the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from condgan.registry import Registry


@dataclass
class ImageData:
    """A whole split held as tensors.

    images: float32, N×C×H×W in [-1, 1] for images, N×D for vector (synthetic) data.
    labels: int64 N class indices, or float32 N×M multi-hot attribute vectors, or None (unlabeled).
    class_names: K class names (or M attribute names when `multi_label`).
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    multi_label: bool = False

    @property
    def num_classes(self) -> int:
        """K for single-label data, M (attributes) for multi-hot data, 0 when unlabeled."""
        return len(self.class_names)

    @property
    def is_image(self) -> bool:
        return self.images.dim() == 4

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def class_frequencies(self) -> torch.Tensor:
        """Empirical class prior (K,) of single-label data; attribute rates (M,) of multi-hot."""
        if self.labels is None:
            raise ValueError("unlabeled data has no class frequencies")
        if self.multi_label:
            return self.labels.float().mean(0)
        return torch.bincount(self.labels, minlength=self.num_classes).float() / len(self)


# A source is `fn(cfg: DataConfig, split: str) -> ImageData`, split in {"train", "test"}.
DATASETS: Registry[Callable] = Registry("data set")
