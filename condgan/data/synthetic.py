"""Synthetic vector data (docs/methods.md §8): labeled Gaussian mixtures whose modes are the classes.

Samples are N×D float32 in the mixture's own coordinates, *not* scaled to [-1, 1], so plots and
mode statistics read in the units below; the `mlp` network has a linear output. Classes are
balanced exactly (sample i belongs to component i mod K), `data.num_samples` samples in all,
drawn with a generator seeded by `data.split_seed`; a stratified hold-out of
`data.test_fraction` is then cut, so train and test come from one draw and never overlap.

* `ring2d`: 8 Gaussians, means on the circle of radius 2 at angles 2πk/8, std 0.02 — the ring of
  the unrolled-GAN paper (Metz et al. 2017), the usual mode-collapse benchmark.
* `grid2d`: 25 Gaussians, means on the 5×5 grid {-4, -2, 0, 2, 4}², std 0.05 (VEEGAN / PacGAN
  grid); class 5·i + j has mean (-4 + 2i, -4 + 2j).
* `mog1d`: 3 overlapping 1-D Gaussians N(0, 1), N(3, 2²), N(6, 3²) (means 0, 3, 6, standard
  deviations 1, 2, 3). Seed 004 App. E ("Can ReACGAN approximate a mixture of Gaussians whose
  supports overlap?", Fig. A4) takes this experiment from TAC-GAN (Gong et al., NeurIPS 2019)
  without restating numbers; these are TAC-GAN's, the setting where AC-GAN's conditional-entropy
  bias is visible because the class supports overlap.
"""

from __future__ import annotations

import math

import torch

from condgan.config import DataConfig
from condgan.data.base import DATASETS, ImageData
from condgan.data.common import holdout, source_info


def gaussian_mixture(means: torch.Tensor, stds: torch.Tensor, n: int, seed: int) -> ImageData:
    """`n` samples of a K-component, D-dimensional isotropic mixture, exactly balanced."""
    k = len(means)
    labels = torch.arange(n, dtype=torch.int64) % k
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, means.shape[1], generator=g)
    samples = means[labels] + stds[labels].unsqueeze(1) * noise
    return ImageData(samples.float(), labels, [str(i) for i in range(k)])


def ring2d_params(k: int = 8, radius: float = 2.0, std: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    return means, torch.full((k,), std, dtype=torch.float64)


def grid2d_params(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    means = torch.cartesian_prod(coords, coords)  # row 5·i + j = (coords[i], coords[j])
    return means, torch.full((side * side,), std, dtype=torch.float64)


def mog1d_params() -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([[0.0], [3.0], [6.0]], dtype=torch.float64),
            torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


def _mixture_source(name: str, params, num_classes: int) -> None:
    """Register a mixture source: one generic body, parameters differ (no copy-paste)."""

    @DATASETS.register(name)
    @source_info(num_classes=num_classes, vector=True)
    def load(cfg: DataConfig, split: str) -> ImageData:
        means, stds = params()
        data = gaussian_mixture(means, stds, cfg.num_samples, cfg.split_seed)
        return holdout(data, split, cfg.test_fraction, cfg.split_seed)

    load.__name__ = load.__qualname__ = f"load_{name}"
    load.__doc__ = f"The `{name}` mixture (see the module docstring)."


_mixture_source("ring2d", ring2d_params, 8)
_mixture_source("grid2d", grid2d_params, 25)
_mixture_source("mog1d", mog1d_params, 3)
