"""DCGAN-style convolutional generator and discriminator trunk (Radford 2016) for 8–64 px.

Resolution schedule: the image side is `s0 · 2^n` with `s0 ∈ [3, 7]` (28 = 7·2², 32 = 4·2³,
64 = 4·2⁴, 8 = 4·2¹), so G starts from an `s0 × s0` map and doubles n times; D mirrors it.
"""

from __future__ import annotations

import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import NETWORKS, LabelInput, image_shape
from condgan.nets.layers import Codebook, ConditionalNorm, MinibatchStdDev, make_activation, make_norm, maybe_sn


def resolution_schedule(image_size: int) -> tuple[int, int]:
    """(s0, number of doublings) with image_size = s0 · 2^n."""
    s0, n = image_size, 0
    while s0 > 7 and s0 % 2 == 0:
        s0, n = s0 // 2, n + 1
    if not 3 <= s0 <= 7 or n == 0:
        raise CondganError(
            f"data.image_size={image_size} is not supported by the dcgan nets: it must be s0·2^n "
            "with 3 ≤ s0 ≤ 7 and n ≥ 1 (e.g. 8, 16, 28, 32, 64)"
        )
    return s0, n


class DCGANGenerator(nn.Module):
    """z (+ condition) → linear → s0×s0 map → n × [ConvT 4×4 stride 2, norm, act, depth × conv3×3]
    → conv3×3 → tanh. With `cbn`, every norm is conditional batch norm."""

    def __init__(self, z_dim, channels, image_size, width=64, depth=0, norm="batch",
                 activation="relu", spectral_norm=False, num_conditions=0,
                 conditioning="concat", label_embedding="embedding", embed_dim=32,
                 codebook_groups=1, codebook_dim=16):
        super().__init__()
        s0, n = resolution_schedule(image_size)
        self.s0 = s0
        self.label_input = LabelInput(label_embedding if conditioning == "concat" else "none",
                                      num_conditions, embed_dim)
        cbn_conditions = num_conditions if conditioning == "cbn" else 0
        widths = [width * 2 ** (n - i) for i in range(n + 1)]  # e.g. [256, 128, 64] for n=2
        self.codebook = Codebook.for_generator(conditioning, num_conditions, codebook_groups, codebook_dim, s0)
        extra = self.codebook.channels if self.codebook is not None else 0
        self.fc = maybe_sn(nn.Linear(z_dim + self.label_input.out_dim, widths[0] * s0 * s0), spectral_norm)
        self.fc_norm = ConditionalNorm(norm, widths[0], cbn_conditions)
        self.act = make_activation(activation)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n):
            c_in = widths[i] + (extra if i == 0 else 0)
            self.convs.append(maybe_sn(nn.ConvTranspose2d(c_in, widths[i + 1], 4, 2, 1), spectral_norm))
            self.norms.append(ConditionalNorm(norm, widths[i + 1], cbn_conditions))
            for _ in range(depth):
                self.convs.append(maybe_sn(nn.Conv2d(widths[i + 1], widths[i + 1], 3, 1, 1), spectral_norm))
                self.norms.append(ConditionalNorm(norm, widths[i + 1], cbn_conditions))
        self.to_image = maybe_sn(nn.Conv2d(widths[-1], channels, 3, 1, 1), spectral_norm)

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        x = self.fc(self.label_input(z, cnd)).view(z.shape[0], -1, self.s0, self.s0)
        x = self.act(self.fc_norm(x, cnd))
        if self.codebook is not None:
            x = torch.cat([x, self.codebook(cnd)], dim=1)
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(norm(conv(x), cnd))
        return torch.tanh(self.to_image(x))


class DCGANTrunk(nn.Module):
    """x → n × [conv 4×4 stride 2 (no norm on the first, as in DCGAN), norm, act,
    depth × conv3×3] → flatten: the feature vector h of dimension `out_dim`."""

    def __init__(self, channels, image_size, width=64, depth=0, norm="none", activation="lrelu",
                 spectral_norm=False, minibatch_std: int = 0):
        super().__init__()
        s0, n = resolution_schedule(image_size)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(n):
            c_out = width * 2 ** i
            layers.append(maybe_sn(nn.Conv2d(c_in, c_out, 4, 2, 1), spectral_norm))
            if i > 0:
                layers.append(make_norm(norm, c_out))
            layers.append(make_activation(activation))
            for _ in range(depth):
                layers += [maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral_norm),
                           make_norm(norm, c_out), make_activation(activation)]
            c_in = c_out
        if minibatch_std:
            layers.append(MinibatchStdDev(minibatch_std))
            c_in += 1
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.out_dim = c_in * s0 * s0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@NETWORKS.register("dcgan")
def build_dcgan(cfg, sample_shape, num_conditions):
    channels, size = image_shape(cfg, sample_shape)
    m = cfg.model
    g = DCGANGenerator(m.z_dim, channels, size, m.g_width, m.g_depth, m.g_norm, m.g_activation,
                       m.g_spectral_norm, num_conditions, m.g_conditioning, m.g_label_embedding,
                       m.embed_dim, m.codebook_groups, m.codebook_dim)
    d = DCGANTrunk(channels, size, m.d_width, m.d_depth, m.d_norm, m.d_activation, m.d_spectral_norm,
                   m.d_minibatch_std)
    return g, d
