"""Adaptive pseudo augmentation, APA (Jiang et al. 2021, "Deceive D: Adaptive Pseudo Augmentation
for GAN Training with Limited Data", §3.2, Eq. 3).

In D's step each real image is replaced, with probability p, by a generated one that D is told
is real:  x̃ = x' (a fake) with probability p, else x. p is adapted by the same overfitting
heuristic as ADA (`condgan.adaptive.heuristic`, target 0.6). Deceiving D with its own fakes
smooths its decision boundary when it starts to overfit a small training set.

Conditional runs: a replaced row takes the fake's target label along with the image (the pair
(x', y') is what G claims is a real image of class y'); a label part the fakes do not have (fakes
labeled after generation) keeps the real's. The fakes come from the current G, freshly drawn
for the whole batch whenever p > 0 (DeceiveD reuses the previous G step's batch; the
distribution is the same, and fresh draws keep nothing to checkpoint and every process's random
stream in step).
"""

from __future__ import annotations

from typing import Callable

import torch

from condgan.losses.conditioning.base import Labels

FakeBatch = Callable[[int], tuple[torch.Tensor, Labels]]


def pseudo_augment(real: torch.Tensor, labels: Labels, p: float, fakes: FakeBatch,
                   generator: torch.Generator) -> tuple[torch.Tensor, Labels, torch.Tensor]:
    """(x̃, ỹ, fraction replaced). `fakes(n)` gives n generated samples and their labels (called
    without gradient, only when p > 0); the rows to replace are Bernoulli(p) draws from
    `generator`."""
    n = real.shape[0]
    if p <= 0:
        return real, labels, torch.zeros((), device=real.device)
    with torch.no_grad():
        fake, fake_labels = fakes(n)
    rows = torch.rand(n, device=real.device, generator=generator) < p
    mask = rows.reshape((n,) + (1,) * (real.dim() - 1))
    mixed = torch.where(mask, fake.detach().to(real.dtype), real)

    def swap(a, b):
        if a is None or b is None:
            return a
        return torch.where(rows.reshape((n,) + (1,) * (a.dim() - 1)), b.to(a.dtype), a)

    return mixed, Labels(swap(labels.y, fake_labels.y), swap(labels.cnd, fake_labels.cnd)), rows.float().mean()
