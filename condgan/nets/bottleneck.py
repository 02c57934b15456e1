"""The variational discriminator bottleneck (Peng et al. 2019, "Variational Discriminator
Bottleneck: Improving Imitation Learning, Inverse RL, and GANs by Constraining Information
Flow": the bottleneck of the discriminator, used for GANs as "VGAN"): a stochastic encoder between D's trunk and its heads. The KL constraint and
its adaptive weight β are trained by `condgan.training.extensions.bottleneck`."""

from __future__ import annotations

import torch
from torch import nn

from condgan.nets.base import Discriminator
from condgan.nets.layers import maybe_sn

KL_KEY = "vdb_kl"
"""The output key of the per-sample KL(E(z|x) ‖ N(0, I))."""


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per row: ½ Σ_d (μ_d² + σ_d² − 2 log σ_d − 1)."""
    return 0.5 * (mu.square() + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(1)


class VariationalDiscriminator(Discriminator):
    """`Discriminator` with a bottleneck: the trunk's features h give the encoder
    E(z|x) = N(μ(h), diag σ(h)²) (one linear layer to [μ, log σ], `dim` each); the heads read
    z = μ + σ ⊙ ε, ε ~ N(0, I), in training mode (the reparameterization: gradients reach the
    encoder) and z = μ in eval mode. `forward` also returns the per-sample KL(E(z|x) ‖ N(0, I))
    under `KL_KEY`. ε is drawn from `noise` (the run's per-rank noise stream, set by the
    trainer; the global RNG when None)."""

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module], dim: int, spectral_norm: bool = False):
        super().__init__(trunk, heads)
        self.encoder = maybe_sn(nn.Linear(trunk.out_dim, 2 * dim), spectral_norm)
        self.noise: torch.Generator | None = None

    def forward(self, x: torch.Tensor, cnd: torch.Tensor | None) -> dict[str, torch.Tensor]:
        mu, log_sigma = self.encoder(self.trunk(x)).chunk(2, dim=1)
        z = mu
        if self.training:
            eps = torch.randn(mu.shape, generator=self.noise, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(log_sigma) * eps
        out = {name: head(z, cnd) for name, head in self.heads.items()}
        out[KL_KEY] = gaussian_kl(mu, log_sigma)
        return out
