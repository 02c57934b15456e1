"""`pd`: the projection discriminator (Miyato & Koyama 2018; lecture 5; seed 004)."""

from torch import nn

from condgan.losses.conditioning.base import CONDITIONING
from condgan.losses.conditioning.unconditional import Unconditional
from condgan.nets.layers import maybe_sn


class ProjectionHead(nn.Module):
    """o = ψ(h) + <e(cnd), h>, with e(cnd) = cnd E a bias-free linear map (an embedding lookup
    for one-hot conditions, a sum of attribute embeddings for multi-hot ones)."""

    def __init__(self, feat_dim, num_conditions, spectral_norm):
        super().__init__()
        self.psi = maybe_sn(nn.Linear(feat_dim, 1), spectral_norm)
        self.embed = maybe_sn(nn.Linear(num_conditions, feat_dim, bias=False), spectral_norm)

    def forward(self, h, cnd):
        return self.psi(h).squeeze(1) + (self.embed(cnd) * h).sum(1)


@CONDITIONING.register("pd")
class Projection(Unconditional):
    """Adversarial loss on the projection logit o: L_D = adv_D(o(x,y), o(x',y')), L_G = adv_G(o(x',y'))."""

    name = "pd"
    multi_label = True

    def heads(self, feat_dim, spectral_norm):
        return {"adv": ProjectionHead(feat_dim, self.num_classes, spectral_norm)}
