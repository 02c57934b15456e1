"""The domain classifier network and its feature-extractor view.

`DomainClassifier` is a small CNN; `DomainExtractor` wraps a trained one so that evaluation
reads its 128-d penultimate layer (FID, KID, precision/recall, ...) and its logits (`C(x)`: IS,
AM Score, conditional accuracy) through the extractor interface of condgan.features.base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from condgan.features.base import adapt_channels

NUM_FEATURES = 128
WIDTH = 24  # channels of the first block (then 2×, 4×): Fashion-MNIST > 90 % in 3 epochs


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DomainClassifier(nn.Module):
    """Three conv-BN-ReLU blocks + a 128-d feature layer + a K-way head.

    Size-agnostic (8..64 px and beyond): a 2× max pool follows a block only while the map is
    large enough, and an adaptive 3×3 max pool feeds the feature layer (max, not average:
    +1 point on Fashion-MNIST at the same cost). `forward` returns
    (features, logits); features are the post-ReLU penultimate activations.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = WIDTH, num_features: int = NUM_FEATURES):
        super().__init__()
        self.block1 = _conv_bn_relu(in_channels, width)
        self.block2 = _conv_bn_relu(width, 2 * width)
        self.block3 = _conv_bn_relu(2 * width, 4 * width)
        self.pool = nn.AdaptiveMaxPool2d(3)
        self.embed = nn.Linear(4 * width * 9, num_features)
        self.head = nn.Linear(num_features, num_classes)
        # channels-last convolutions are 2-4× faster on CPU for these small maps
        self.to(memory_format=torch.channels_last)

    @staticmethod
    def _downsample(h: torch.Tensor, min_size: int) -> torch.Tensor:
        return F.max_pool2d(h, 2) if min(h.shape[-2:]) >= min_size else h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        h = self._downsample(self.block1(x), 16)  # 28 → 14, 8 stays 8
        h = self._downsample(self.block2(h), 8)  # 14 → 7, 8 → 4
        h = self.pool(self.block3(h))
        features = F.relu(self.embed(h.flatten(1)))
        return features, self.head(features)

    @classmethod
    def from_info(cls, info: dict) -> "DomainClassifier":
        """An untrained network of the shape recorded in a classifier's info dict."""
        return cls(info["in_channels"], info["num_classes"], info["width"], info["num_features"])


class DomainExtractor(nn.Module):
    """Feature-extractor view of a DomainClassifier (see condgan.features.base).

    Images of another size are resized (bilinear) to the training size and gray/RGB channels
    are adapted, so generated images of any layout can be scored. `weights_sha256` names the
    exact weights (the SHA-256 of their safetensors file; None for an unsaved model), `source`
    says where they came from: "shipped" (pinned, package data), "cache" or "trained".
    """

    def __init__(self, model: DomainClassifier, info: dict, id: str = "domain-untracked",
                 cache_path: Optional[Path] = None, from_cache: bool = False,
                 weights_sha256: Optional[str] = None, source: str = "trained"):
        super().__init__()
        self.model = model
        self.info = info
        self.id = id
        self.cache_path = cache_path
        self.from_cache = from_cache
        self.weights_sha256 = weights_sha256
        self.source = source
        self.num_features = model.embed.out_features
        self.num_classes = model.head.out_features
        self.in_channels = model.block1[0].in_channels
        self.image_size = tuple(info["image_size"])

    @property
    def test_accuracy(self) -> Optional[float]:
        return self.info.get("test_accuracy")

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = adapt_channels(images, self.in_channels)
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        features, logits = self.model(x)
        return {"features": features, "logits": logits}
