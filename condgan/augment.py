"""Differentiable augmentation of discriminator inputs (DiffAugment; Zhao et al. 2020,
"Differentiable Augmentation for Data-Efficient GAN Training", §3), registry `AUGMENTATIONS`.

Each policy is `fn(x, generator) -> x_aug` on images in [-1, 1], with one random draw per sample
from `generator` (so a seeded run stays reproducible and a resumed run bit-identical). Every
operation is differentiable with respect to `x` — it is a composition of additions,
multiplications and indexing — so the generator receives gradient through the augmentation
(seed 004 Table 4 trains with it). `DiffAugment` applies the chosen policies in order:

- `color`: brightness `x + (u - 1/2)`, saturation `m_c + (x - m_c) · 2u`, contrast
  `m + (x - m) · (u + 1/2)`, with `u ~ U[0, 1)` per sample, `m_c` the per-pixel channel mean and
  `m` the per-image mean (saturation is the identity on one-channel images).
- `translation`: shift by an integer in `[-r·H, r·H] × [-r·W, r·W]` (r = 1/8), the uncovered
  border filled with 0 (mid-gray in [-1, 1]).
- `cutout`: set a square of side `s = H/2 × W/2` to 0 (clipped at the border), its centre row
  uniform in `[0, H − (s mod 2)]` (and likewise the column): for an even side the centre may sit
  one past the last row, as in the authors' code (data-efficient-gans, `rand_cutout`).

`consistency_transform` is the transform T of consistency regularization (CR / bCR,
`condgan.losses.regularizers`): a random horizontal flip and a translation with reflect padding.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from condgan.registry import Registry

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
AUGMENTATIONS: Registry[Augmentation] = Registry("DiffAugment policy")

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One U[0, 1) draw per sample, shaped to broadcast over (C, H, W)."""
    return torch.rand((x.shape[0], 1, 1, 1), device=x.device, dtype=x.dtype, generator=generator)


def _offsets(n: int, low: int, high: int, device, generator: torch.Generator) -> torch.Tensor:
    """n integers uniform in [low, high] (inclusive)."""
    return torch.randint(low, high + 1, (n,), device=device, generator=generator)


@AUGMENTATIONS.register("color")
def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)
    channel_mean = x.mean(dim=1, keepdim=True)
    x = channel_mean + (x - channel_mean) * (2 * _uniform(x, generator))
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return image_mean + (x - image_mean) * (_uniform(x, generator) + 0.5)


@AUGMENTATIONS.register("translation")
def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = TRANSLATION_RATIO,
                padding: str = "constant") -> torch.Tensor:
    """`padding`: what the uncovered border shows — `constant` 0 (DiffAugment) or `reflect` the
    image mirrored at its edge (consistency regularization)."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _offsets(n, -sh, sh, x.device, generator)
    dx = _offsets(n, -sw, sw, x.device, generator)
    # Pad by the largest shift, then read pixel (i - dy, j - dx) of the padded image for output
    # (i, j): one gather, differentiable in x.
    padded = torch.nn.functional.pad(x, (sw, sw, sh, sh), mode=padding)
    rows = torch.arange(h, device=x.device)[None, :] - dy[:, None] + sh          # (n, h)
    cols = torch.arange(w, device=x.device)[None, :] - dx[:, None] + sw          # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return shifted.permute(0, 3, 1, 2)


@AUGMENTATIONS.register("cutout")
def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _offsets(n, 0, h - ch % 2, x.device, generator)
    cx = _offsets(n, 0, w - cw % 2, x.device, generator)
    top, left = cy - ch // 2, cx - cw // 2
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + ch)[:, None])             # (n, h)
    in_cols = (cols >= left[:, None]) & (cols < (left + cw)[:, None])           # (n, w)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.dtype)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability `p` (one draw per sample)."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def consistency_transform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """T of consistency regularization (Zhang et al. 2020, "Consistency Regularization for GANs",
    §3; Zhao et al. 2021, bCR, §3.1): a random horizontal flip (p = ½), then a translation by up
    to 1/8 of the side in each direction with the uncovered border reflect-padded — the
    augmentation of the CR papers and of PyTorch-StudioGAN's CR / bCR. Vector data passes through."""
    if x.dim() != 4:
        return x
    return translation(horizontal_flip(x, generator), generator, padding="reflect")


class DiffAugment:
    """The policies named in `train.diffaugment`, applied in order to every discriminator input
    (reals and fakes, in the D and the G step, and the inputs of the gradient penalties)."""

    def __init__(self, policies: Sequence[str], generator: torch.Generator):
        self.policies = [AUGMENTATIONS.get(name) for name in policies]
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:  # vector data (mlp nets): nothing spatial to augment
            return x
        for policy in self.policies:
            x = policy(x, self.generator)
        return x


class AugmentedDiscriminator:
    """`D(aug(x), cnd)`: a callable with the discriminator's signature, so the training step and
    the gradient penalties see the same augmented inputs. Not an `nn.Module`, so the
    discriminator's state dict (and old checkpoints) stay as they are."""

    def __init__(self, discriminator: torch.nn.Module, augment: DiffAugment):
        self.discriminator = discriminator
        self.augment = augment

    def __call__(self, x: torch.Tensor, cnd: torch.Tensor | None):
        return self.discriminator(self.augment(x), cnd)
