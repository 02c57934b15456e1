"""BigGAN-deep residual nets (`model.net=biggan_deep`; Brock et al. 2019, "Large Scale GAN
Training for High Fidelity Natural Image Synthesis", §4.2 and App. B, Fig. 16, Table 5(b)).

The resnet family (condgan.nets.resnet: resolution schedule, widths, conditioning, attention)
with BigGAN-deep's blocks and arrangement:

* bottleneck blocks: a 1×1 convolution reduces the channels to a quarter, two 3×3 convolutions
  work at that width, a 1×1 convolution restores them;
* G's block (Fig. 16 a), with a conditional norm before every convolution:

      h = conv1(act(CBN(conv3(act(CBN(conv3(up(act(CBN(conv1(act(CBN(x, c))), c)))), c))), c)))
      y = h + up(x[:, :C_out])               (the skip drops the channels G no longer needs)

* D's block (Fig. 16 b), normalization `model.d_norm` after each inner convolution:

      h = conv1(pool(act(conv3(act(conv3(act(conv1(act(x)))))))))
      y = h + [pool(x), conv1(pool(x))]      (the skip keeps x and adds C_out − C_in learned channels)

* two blocks per resolution (`model.g_depth` / `model.d_depth` add more): in G a block at the
  stage's width, then the up-block; in D the down-block, then one at its width;
* G's norms are conditioned on [e(y), z] — the whole latent in every block (BigGAN-deep drops
  the hierarchical split of z) — so `model.hierarchical_z` does not apply.

Not from the paper: D has no separate 3×3 input convolution (its first block starts on the image,
without the pre-activation, like the resnet trunk's first block); widths follow the resnet
family's doubling schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from condgan.nets.base import NETWORKS, image_shape
from condgan.nets.layers import ConditionalNorm, make_activation, make_norm, maybe_sn
from condgan.nets.resnet import ResNetGenerator, ResNetTrunk, check_attention

BOTTLENECK = 4


class DeepGBlock(nn.Module):
    """BigGAN-deep's G block (module docstring); upsamples 2× when `up`; needs c_out ≤ c_in."""

    def __init__(self, c_in, c_out, norm, activation, spectral_norm, cond_dim, up=True):
        super().__init__()
        if c_out > c_in:
            raise ValueError(f"BigGAN-deep's G block drops channels in its skip: c_out {c_out} > c_in {c_in}")
        mid = max(1, c_in // BOTTLENECK)
        self.up, self.c_out = up, c_out
        widths = [(c_in, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, c_out, 1)]
        self.norms = nn.ModuleList(ConditionalNorm(norm, a, cond_dim) for a, _, _ in widths)
        self.convs = nn.ModuleList(maybe_sn(nn.Conv2d(a, b, k, 1, k // 2), spectral_norm) for a, b, k in widths)
        self.act = make_activation(activation)

    def _up(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else x

    def forward(self, x, c):
        h = x
        for i, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            h = self.act(norm(h, c))
            h = conv(self._up(h) if i == 1 else h)
        return h + self._up(x[:, :self.c_out])


class DeepDBlock(nn.Module):
    """BigGAN-deep's D block (module docstring); 2× average pooling when `down`; c_out ≥ c_in.
    The `first` block skips the pre-activation of the raw image."""

    def __init__(self, c_in, c_out, norm, activation, spectral_norm, down=True, first=False):
        super().__init__()
        if c_out < c_in:
            raise ValueError(f"BigGAN-deep's D block adds channels in its skip: c_out {c_out} < c_in {c_in}")
        mid = max(1, c_out // BOTTLENECK)
        self.down, self.first = down, first
        widths = [(c_in, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, c_out, 1)]
        self.convs = nn.ModuleList(maybe_sn(nn.Conv2d(a, b, k, 1, k // 2), spectral_norm) for a, b, k in widths)
        self.norms = nn.ModuleList(make_norm(norm, b) for _, b, _ in widths[:3])
        self.act = make_activation(activation)
        self.extra = maybe_sn(nn.Conv2d(c_in, c_out - c_in, 1), spectral_norm) if c_out > c_in else None

    def _down(self, x):
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x):
        h = x if self.first else self.act(x)
        for conv, norm in zip(self.convs[:3], self.norms):
            h = self.act(norm(conv(h)))
        h = self.convs[3](self._down(h))
        skip = self._down(x)
        if self.extra is not None:
            skip = torch.cat([skip, self.extra(skip)], 1)
        return h + skip


@NETWORKS.register("biggan_deep")
def build_biggan_deep(cfg, sample_shape, num_conditions):
    channels, size = image_shape(cfg, sample_shape)
    m = cfg.model
    g = ResNetGenerator(m.z_dim, channels, size, m.g_width, 1 + m.g_depth, m.g_norm, m.g_activation,
                        m.g_spectral_norm, num_conditions, m.g_conditioning, m.g_label_embedding,
                        m.embed_dim, m.codebook_groups, m.codebook_dim, False, m.attention,
                        block=DeepGBlock, up_last=True, z_in_blocks=True)
    d = ResNetTrunk(channels, size, m.d_width, 1 + m.d_depth, m.d_norm, m.d_activation, m.d_spectral_norm,
                    m.d_minibatch_std, m.attention, block=DeepDBlock)
    return g, d


build_biggan_deep.check_attention = check_attention  # config-time check (condgan.validation)
