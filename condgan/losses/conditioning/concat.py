"""`concat`: the condition concatenated to the discriminator features (Mirza & Osindero 2014;
lecture 5), with the plain adversarial loss on the result."""

import torch
from torch import nn

from condgan.losses.conditioning.base import CONDITIONING
from condgan.losses.conditioning.unconditional import Unconditional
from condgan.nets.layers import maybe_sn


class ConcatHead(nn.Module):
    """o = ψ([h, E cnd]) with a one-hidden-layer ψ: a linear ψ would let the label add only a
    constant to the logit, so it could never interact with the image features."""

    def __init__(self, feat_dim, num_conditions, spectral_norm, embed_dim=64, hidden=256):
        super().__init__()
        self.embed = nn.Linear(num_conditions, embed_dim, bias=False)
        self.hidden = maybe_sn(nn.Linear(feat_dim + embed_dim, hidden), spectral_norm)
        self.out = maybe_sn(nn.Linear(hidden, 1), spectral_norm)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, h, cnd):
        return self.out(self.act(self.hidden(torch.cat([h, self.embed(cnd)], 1)))).squeeze(1)


@CONDITIONING.register("concat")
class Concat(Unconditional):
    """Losses as `none`; only the head differs: o = ψ([h, embed(cnd)])."""

    name = "concat"

    def heads(self, feat_dim, spectral_norm):
        return {"adv": ConcatHead(feat_dim, self.num_classes, spectral_norm)}
