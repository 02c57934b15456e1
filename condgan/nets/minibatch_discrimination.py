"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2),
on D's trunk features: `model.d_minibatch_disc=B` kernels of dimension `model.d_minibatch_disc_dim=C`."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    """f(x_i) ∈ R^A ↦ [f(x_i), o(x_i)] ∈ R^{A+B}. A learned tensor T ∈ R^{A×B×C} (a bias-free
    linear map) gives M_i = f(x_i)·T ∈ R^{B×C}; for each kernel b

        c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_1),   o(x_i)_b = Σ_{j=1}^{n} c_b(x_i, x_j),

    the sum over the n samples of the batch D is called on, x_i itself included (c_b(x_i, x_i) = 1,
    as in the paper's sum). D then sees how close each sample is to the rest of its batch: a
    collapsed generator's batch has large o. Reals and fakes are separate D calls in condgan (one
    concatenated call with `loss.mixed_batch`), so each batch is compared within itself."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Linear(in_features, kernels * kernel_dim, bias=False)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = self.T(f).view(f.shape[0], self.kernels, self.kernel_dim)       # (n, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)                # (n, n, B): ‖M_i,b − M_j,b‖_1
        return torch.cat([f, torch.exp(-l1).sum(1)], dim=1)


class MinibatchDiscriminationTrunk(nn.Module):
    """A discriminator trunk followed by `MinibatchDiscrimination` on its feature vector."""

    def __init__(self, trunk: nn.Module, kernels: int, kernel_dim: int):
        super().__init__()
        self.trunk = trunk
        self.minibatch = MinibatchDiscrimination(trunk.out_dim, kernels, kernel_dim)
        self.out_dim = trunk.out_dim + kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.minibatch(self.trunk(x))
