"""The networks of BiGAN / ALI and BigBiGAN (`model.encoder`): an encoder E: x → z and a
discriminator that scores pairs (x, z).

BiGAN's discriminator sees an image together with a latent: a real image with its encoding,
(x, E(x)), or a fake with the latent it was generated from, (G(z), z) (Donahue et al. 2017,
"Adversarial Feature Learning", §3; Dumoulin et al. 2017, "Adversarially Learned Inference", §2).
`JointDiscriminator` is condgan's `Discriminator` (trunk F(x) = h_x plus named heads) with two
more parts, as BigBiGAN's (Donahue & Simonyan 2019, "Large Scale Adversarial Representation
Learning", §2, Fig. 1):

    H(z) = h_z          an MLP on the latent
    J([h_x, h_z]) = h_xz  an MLP on the concatenated features

and two arrangements (`unary`):

* bigan (unary=False): the conditioning method's heads sit on the joint features h_xz, so the
  method's adversarial logit is D(x, z) = ψ(J(F(x), H(z))) (and class heads, e.g. a projection,
  score the pair);
* bigbigan (unary=True): the method's heads sit on h_x (the unary image score s_x, with the
  class conditioning), plus `SCORE_Z` s_z = θ_zᵀh_z and `SCORE_XZ` s_xz = θ_xzᵀh_xz.

The latent travels in D's condition argument: D is called as `D(x, pack(cnd, z))` and splits it
at `cond_dim` (the class-condition width), so every wrapper of D (DiffAugment, mixed batches)
passes it through unchanged. Called without a latent (`D(x, cnd)`, as the gradient penalties
do), the bigbigan arrangement returns the x-only heads; the bigan arrangement has none and
refuses.
"""

from __future__ import annotations

import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import Discriminator
from condgan.nets.layers import make_activation, maybe_sn

SCORE_Z, SCORE_XZ = "bigan_z", "bigan_xz"
JOINT_LAYERS = 2


def pack(cnd: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
    """D's condition argument for a pair: the class condition (if any) followed by the latent."""
    return z if cnd is None else torch.cat([cnd, z.to(cnd.dtype)], 1)


def mlp(in_dim: int, hidden: int, layers: int, activation: str, spectral_norm: bool) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [maybe_sn(nn.Linear(in_dim if i == 0 else hidden, hidden), spectral_norm), make_activation(activation)]
    return nn.Sequential(*mods)


class JointDiscriminator(Discriminator):
    """See the module docstring. `heads` are built for `trunk.out_dim` (unary) or for `hidden`
    (the joint features, bigan)."""

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module], cond_dim: int, z_dim: int, hidden: int,
                 unary: bool, activation: str = "lrelu", spectral_norm: bool = False):
        super().__init__(trunk, heads)
        self.cond_dim, self.z_dim, self.unary = cond_dim, z_dim, unary
        self.z_net = mlp(z_dim, hidden, JOINT_LAYERS, activation, spectral_norm)
        self.joint = mlp(trunk.out_dim + hidden, hidden, JOINT_LAYERS, activation, spectral_norm)
        if unary:
            self.score_z = maybe_sn(nn.Linear(hidden, 1), spectral_norm)
            self.score_xz = maybe_sn(nn.Linear(hidden, 1), spectral_norm)

    def split(self, cnd: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(class condition or None, latent or None) of D's condition argument."""
        if cnd is None or cnd.shape[1] == self.cond_dim:
            return cnd, None
        if cnd.shape[1] != self.cond_dim + self.z_dim:
            raise CondganError(f"the joint discriminator expects {self.cond_dim} condition and {self.z_dim} latent "
                               f"columns, got {cnd.shape[1]}")
        return (cnd[:, :self.cond_dim] if self.cond_dim else None), cnd[:, self.cond_dim:]

    def forward(self, x: torch.Tensor, cnd: torch.Tensor | None) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        cond, z = self.split(cnd)
        if z is None:
            if not self.unary:
                raise CondganError("model.encoder=bigan: D scores pairs (x, z) only; it has no score of x alone")
            return {name: head(h, cond) for name, head in self.heads.items()}
        h_z = self.z_net(z)
        h_xz = self.joint(torch.cat([h, h_z], 1))
        if not self.unary:
            return {name: head(h_xz, cond) for name, head in self.heads.items()}
        out = {name: head(h, cond) for name, head in self.heads.items()}
        out[SCORE_Z] = self.score_z(h_z).squeeze(1)
        out[SCORE_XZ] = self.score_xz(h_xz).squeeze(1)
        return out


class Encoder(nn.Module):
    """E(x) = W·F_E(x) + b: a trunk built like D's (its own weights) and a linear map to the
    latent space (deterministic, as BiGAN's encoder)."""

    def __init__(self, trunk: nn.Module, z_dim: int):
        super().__init__()
        self.trunk = trunk
        self.out = nn.Linear(trunk.out_dim, z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(x))


def head_features(cfg, trunk_dim: int) -> int:
    """The width of the features D's heads sit on: the trunk's, or J's for model.encoder=bigan."""
    return cfg.model.mlp_hidden if cfg.model.encoder == "bigan" else trunk_dim


def make_discriminator(cfg, trunk: nn.Module, heads: dict[str, nn.Module], cond_dim: int) -> Discriminator:
    """`Discriminator(trunk, heads)`, or the joint discriminator of model.encoder (bigan / bigbigan)
    with H and J of `model.mlp_hidden` units."""
    m = cfg.model
    if m.encoder == "none":
        return Discriminator(trunk, heads)
    return JointDiscriminator(trunk, heads, cond_dim, m.z_dim, m.mlp_hidden, unary=m.encoder == "bigbigan",
                              activation=m.d_activation, spectral_norm=m.d_spectral_norm)
