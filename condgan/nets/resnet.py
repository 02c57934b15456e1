"""SNGAN / BigGAN-style residual generator and discriminator trunk (`model.net=resnet`) for
8–128 px images, with optional SAGAN self-attention (`model.attention`).

Resolution schedule: as the dcgan nets, the image side is `s0 · 2^n` (28 = 7·2², 32 = 4·2³,
64 = 4·2⁴, 128 = 4·2⁵), see `condgan.nets.dcgan.resolution_schedule`.

Generator (Miyato 2018 "Spectral Normalization", App. B.4; Brock 2019 "BigGAN", App. B, Fig. 15):
z → linear → s0×s0×C₀ map → n up-blocks → norm, act, conv3×3 → tanh. An up-block is

    y = conv3×3(act(CBN(conv3×3(up(act(CBN(x, c))))), c)) + conv1×1(up(x)),   up = nearest 2×,

with `g_depth` extra non-resampling blocks after each up-block. Channels: Cᵢ = g_width ·
min(2^(n−i), 16) (BigGAN's 128-px G is g_width·[16, 16, 8, 4, 2, 1]).

G conditioning (`model.g_conditioning`): `cbn` gives every norm a gain and bias that are linear
in the block's conditioning vector c = [e(y), zᵢ] (BigGAN §3: a *shared* class embedding
e(y) = W_e·onehot(y) of size `model.embed_dim`, gain 1 + W_γ c, bias W_β c); `concat` feeds
[z, e(y)] to the first linear layer; `codebook` concatenates the codebook map at s0 × s0;
`none` is unconditional. `model.hierarchical_z` (BigGAN §3, "skip-z") splits z into n + 1
near-equal chunks: z₀ feeds the linear layer, zᵢ joins c of up-block i (so the norms are
conditional even without class labels).

Discriminator trunk (SNGAN App. B.4, BigGAN Fig. 15): n down-blocks, the first "optimized"
(no activation on the raw image):

    y = avgpool(conv3×3(act(conv3×3(act(x))))) + avgpool(conv1×1(x)),

with `d_depth` extra non-resampling blocks after each, then act and global *sum* pooling:
h ∈ R^{C}, C = d_width · min(2^(n−1), 16). Spectral norm on every layer with
`model.d_spectral_norm` (and on G's with `model.g_spectral_norm`, as BigGAN does).

Self-attention (Zhang 2019 "SAGAN", §3) at each resolution r in `model.attention`: in G after
the block that outputs r × r maps (r = s0: after the linear layer), in D after the block that
outputs r × r maps. Valid resolutions are s0 · 2^i for i = 0 … n−1 (the maps both G and D have,
below the image size): 7 and 14 for 28 px, 4, 8, 16 for 32 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import NETWORKS, LabelInput, image_shape
from condgan.nets.dcgan import resolution_schedule
from condgan.nets.layers import (Codebook, ConditionalNorm, MinibatchStdDev, SelfAttention, make_activation,
                                 make_norm, maybe_sn)

MAX_MULTIPLIER = 16


def channel_multipliers(n: int) -> list[int]:
    """G's channel multipliers from s0 to the image: min(2^(n−i), 16) for i = 0 … n."""
    return [min(2 ** (n - i), MAX_MULTIPLIER) for i in range(n + 1)]


def attention_resolutions(image_size: int) -> list[int]:
    """The resolutions `model.attention` may name for this image size: s0 · 2^i, i < n."""
    s0, n = resolution_schedule(image_size)
    return [s0 * 2 ** i for i in range(n)]


def check_attention(attention, image_size: int) -> None:
    """One-line error naming the valid resolutions when one is not among them."""
    valid = attention_resolutions(image_size)
    bad = [r for r in attention if r not in valid]
    if bad:
        raise CondganError(
            f"model.attention={list(attention)}: resolution {bad[0]} does not exist in the resnet nets at "
            f"data.image_size={image_size}; valid resolutions: {', '.join(map(str, valid))}")


class GBlock(nn.Module):
    """Pre-activation residual block of G (BigGAN Fig. 15 (b)); upsamples 2× when `up`."""

    def __init__(self, c_in, c_out, norm, activation, spectral_norm, cond_dim, up=True):
        super().__init__()
        self.up = up
        self.norm1 = ConditionalNorm(norm, c_in, cond_dim)
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral_norm)
        self.norm2 = ConditionalNorm(norm, c_out, cond_dim)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral_norm)
        self.act = make_activation(activation)
        self.shortcut = (maybe_sn(nn.Conv2d(c_in, c_out, 1), spectral_norm)
                         if c_in != c_out or up else nn.Identity())

    def _up(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else x

    def forward(self, x, c):
        h = self.conv1(self._up(self.act(self.norm1(x, c))))
        h = self.conv2(self.act(self.norm2(h, c)))
        return h + self.shortcut(self._up(x))


class DBlock(nn.Module):
    """Residual block of D (SNGAN App. B.4); 2× average-pool downsampling when `down`. The
    `first` block skips the pre-activation (the raw image) and pools before its 1×1 shortcut."""

    def __init__(self, c_in, c_out, norm, activation, spectral_norm, down=True, first=False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral_norm)
        self.norm1 = make_norm(norm, c_out)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral_norm)
        self.norm2 = make_norm(norm, c_out)
        self.act = make_activation(activation)
        self.shortcut = (maybe_sn(nn.Conv2d(c_in, c_out, 1), spectral_norm)
                         if c_in != c_out or down else nn.Identity())

    def _down(self, x):
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x):
        h = x if self.first else self.act(x)
        h = self.conv2(self.act(self.norm1(self.conv1(h))))
        h = self._down(self.norm2(h))
        skip = self.shortcut(self._down(x)) if self.first else self._down(self.shortcut(x))
        return h + skip


class ResNetGenerator(nn.Module):
    """See the module docstring. `forward(z, cnd)`: cnd is the one-hot / multi-hot condition."""

    def __init__(self, z_dim, channels, image_size, width=64, depth=0, norm="batch", activation="relu",
                 spectral_norm=False, num_conditions=0, conditioning="cbn", label_embedding="embedding",
                 embed_dim=32, codebook_groups=1, codebook_dim=16, hierarchical_z=False, attention=(),
                 block=None, up_last=False, z_in_blocks=False):
        """`block`, `up_last`, `z_in_blocks`: the BigGAN-deep arrangement (condgan.nets.biggan_deep):
        the block class (default GBlock), the up-block last in its stage instead of first, and
        the whole z in every block's conditioning vector."""
        super().__init__()
        block = block or GBlock
        s0, n = resolution_schedule(image_size)
        check_attention(attention, image_size)
        self.s0 = s0
        widths = [width * m for m in channel_multipliers(n)]
        # z chunks: z₀ for the linear layer, zᵢ for up-block i (BigGAN hierarchical latent).
        if hierarchical_z and z_dim < n + 1:
            raise CondganError(f"model.hierarchical_z splits z into {n + 1} chunks at data.image_size="
                               f"{image_size}; model.z_dim={z_dim} is too small (use ≥ {n + 1})")
        self.chunks = n + 1 if hierarchical_z else 1
        self.z_in_blocks = z_in_blocks
        sizes = [len(c) for c in torch.arange(z_dim).tensor_split(self.chunks)]
        # The shared class embedding (cbn) is part of every block's conditioning vector.
        self.shared = (nn.Linear(num_conditions, embed_dim, bias=False)
                       if conditioning == "cbn" and num_conditions else None)
        shared_dim = embed_dim if self.shared is not None else 0
        self.label_input = LabelInput(label_embedding if conditioning == "concat" else "none",
                                      num_conditions, embed_dim)
        self.codebook = Codebook.for_generator(conditioning, num_conditions, codebook_groups, codebook_dim, s0)
        extra = self.codebook.channels if self.codebook is not None else 0
        self.fc = maybe_sn(nn.Linear(sizes[0] + self.label_input.out_dim, widths[0] * s0 * s0), spectral_norm)
        self.attention = nn.ModuleDict()
        if s0 in attention:
            self.attention[str(s0)] = SelfAttention(widths[0] + extra, spectral_norm)
        self.stages = nn.ModuleList()  # one stage per resolution: an up-block + depth blocks
        c_in = widths[0] + extra
        for i in range(n):
            cond_dim = shared_dim + (sizes[i + 1] if hierarchical_z else z_dim if z_in_blocks else 0)
            stage = nn.ModuleList()
            for up in ([False] * depth + [True] if up_last else [True] + [False] * depth):
                c_out = widths[i + 1] if up or not up_last else widths[i]
                stage.append(block(c_in, c_out, norm, activation, spectral_norm, cond_dim, up))
                c_in = c_out
            self.stages.append(stage)
            r = s0 * 2 ** (i + 1)
            if r in attention:
                self.attention[str(r)] = SelfAttention(widths[i + 1], spectral_norm)
        self.out_norm = make_norm(norm, widths[-1])
        self.act = make_activation(activation)
        self.to_image = maybe_sn(nn.Conv2d(widths[-1], channels, 3, 1, 1), spectral_norm)

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        zs = z.tensor_split(self.chunks, dim=1)
        x = self.fc(self.label_input(zs[0], cnd)).view(z.shape[0], -1, self.s0, self.s0)
        if self.codebook is not None:
            x = torch.cat([x, self.codebook(cnd)], dim=1)
        x = self._attend(x)
        shared = [self.shared(cnd)] if self.shared is not None else []
        for i, stage in enumerate(self.stages):
            parts = shared + ([zs[i + 1]] if self.chunks > 1 else [z] if self.z_in_blocks else [])
            c = torch.cat(parts, dim=1) if parts else None
            for block in stage:
                x = block(x, c)
            x = self._attend(x)
        return torch.tanh(self.to_image(self.act(self.out_norm(x))))

    def _attend(self, x):
        key = str(x.shape[-1])
        return self.attention[key](x) if key in self.attention else x


class ResNetTrunk(nn.Module):
    """x → n down-blocks (+ attention) → act → global sum pooling: h of dimension `out_dim`."""

    def __init__(self, channels, image_size, width=64, depth=0, norm="none", activation="relu",
                 spectral_norm=False, minibatch_std: int = 0, attention=(), block=None):
        super().__init__()
        block = block or DBlock
        s0, n = resolution_schedule(image_size)
        check_attention(attention, image_size)
        widths = [width * m for m in reversed(channel_multipliers(n - 1))]  # e.g. [1, 2, 4] · width
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(n):
            for k in range(depth + 1):
                layers.append(block(c_in, widths[i], norm, activation, spectral_norm, down=k == 0,
                                    first=i == 0 and k == 0))
                c_in = widths[i]
            if image_size // 2 ** (i + 1) in attention:
                layers.append(SelfAttention(c_in, spectral_norm))
        layers.append(make_activation(activation))
        if minibatch_std:
            layers.append(MinibatchStdDev(minibatch_std))
            c_in += 1
        self.net = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).sum(dim=(2, 3))


@NETWORKS.register("resnet")
def build_resnet(cfg, sample_shape, num_conditions):
    channels, size = image_shape(cfg, sample_shape)
    m = cfg.model
    g = ResNetGenerator(m.z_dim, channels, size, m.g_width, m.g_depth, m.g_norm, m.g_activation,
                        m.g_spectral_norm, num_conditions, m.g_conditioning, m.g_label_embedding,
                        m.embed_dim, m.codebook_groups, m.codebook_dim, m.hierarchical_z, m.attention)
    d = ResNetTrunk(channels, size, m.d_width, m.d_depth, m.d_norm, m.d_activation, m.d_spectral_norm,
                    m.d_minibatch_std, m.attention)
    return g, d


build_resnet.check_attention = check_attention  # config-time check (condgan.validation)
