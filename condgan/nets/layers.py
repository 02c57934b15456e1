"""Building blocks shared by the networks: normalization, activation, spectral norm, and
conditional batch norm (per-class gain and bias, docs/methods.md §4)."""

from __future__ import annotations

import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.normalization import PixelNorm, VirtualBatchNorm

NORMS = ("batch", "instance", "layer", "none", "pixel", "virtual_batch")
GENERATOR_ONLY_NORMS = ("virtual_batch",)
"""Norms that need a reference batch of latents (VirtualBatchGenerator): G only."""
ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "lrelu": lambda: nn.LeakyReLU(0.2),
    "elu": lambda: nn.ELU(),
    "silu": lambda: nn.SiLU(),
    "gelu": lambda: nn.GELU(),
    "tanh": lambda: nn.Tanh(),
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise CondganError(f"unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def make_norm(kind: str, channels: int, spatial: bool = True, affine: bool = True) -> nn.Module:
    """batch / instance / layer / none / pixel / virtual_batch for feature maps (spatial) or
    vectors (see condgan.nets.normalization for the last two)."""
    if kind == "batch":
        return (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(channels, affine=affine)
    if kind == "instance":
        if not spatial:
            raise CondganError("instance norm needs feature maps; use batch, layer or none for MLP nets")
        return nn.InstanceNorm2d(channels, affine=affine)
    if kind == "layer":
        # GroupNorm with one group normalizes over (C, H, W) per sample: layer norm for conv maps.
        return nn.GroupNorm(1, channels, affine=affine) if spatial else nn.LayerNorm(channels, elementwise_affine=affine)
    if kind == "none":
        return nn.Identity()
    if kind == "pixel":
        return PixelNorm()
    if kind == "virtual_batch":
        return VirtualBatchNorm(channels, spatial, affine)
    raise CondganError(f"unknown norm '{kind}'; choose one of: {', '.join(NORMS)}")


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalization (Miyato 2018) as a parametrization, when enabled."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


class ConditionalNorm(nn.Module):
    """A normalization layer that may depend on the condition vector `cnd`.

    With `num_conditions > 0` this is conditional batch norm (de Vries 2017; BigGAN): batch
    statistics without affine parameters, then `x̂ · (1 + cnd W_γ) + cnd W_β`. `cnd` is one-hot for
    single labels or multi-hot for attributes, so a linear map serves both (it equals an
    embedding lookup for one-hot input). With `num_conditions == 0` it is a plain norm layer.
    """

    def __init__(self, kind: str, channels: int, num_conditions: int = 0, spatial: bool = True):
        super().__init__()
        self.conditional = num_conditions > 0
        self.norm = make_norm(kind, channels, spatial, affine=not self.conditional)
        self.spatial = spatial
        if self.conditional:
            self.gain = nn.Linear(num_conditions, channels, bias=False)
            self.bias = nn.Linear(num_conditions, channels, bias=False)
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, cnd: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if not self.conditional:
            return x
        shape = (-1, x.shape[1], 1, 1) if self.spatial else (-1, x.shape[1])
        return x * (1 + self.gain(cnd).view(shape)) + self.bias(cnd).view(shape)


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs", §3): split
    the batch into groups of `group_size` samples, take each feature's standard deviation over a
    group, average it over features and positions, and append that scalar as one more channel to
    every sample of the group. D can then see how varied a batch is, which penalizes a generator
    whose samples are all alike. The group is the largest size ≤ `group_size` that divides the
    batch, so any batch size works (a batch of one gets a zero channel)."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = next(k for k in range(min(self.group_size, n), 0, -1) if n % k == 0)
        grouped = x.reshape(g, n // g, c, h, w)            # sample i is in group i mod (n / g)
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt() if g > 1 else torch.zeros_like(grouped[0])
        stat = std.mean(dim=(1, 2, 3))                      # (n / g,)
        channel = stat.repeat(g)[:, None, None, None].expand(n, 1, h, w)
        return torch.cat([x, channel], dim=1)


class EqualizedScale(nn.Module):
    """The runtime weight scaling of the equalized learning rate (Karras et al. 2018, "Progressive
    Growing of GANs", §4.1): the stored weight w ~ N(0, 1) is used as ŵ = w · c, fan_in = the
    number of inputs of one output unit (in · k · k for a convolution, transposed ones included,
    in for a linear layer). ProGAN's c is He's constant sqrt(2/fan_in); here c = 1/sqrt(fan_in)
    (gain 1), as in the CGPGAN author's code. Adam's update of w is then scale-invariant across
    layers, so every layer learns at the same speed."""

    def __init__(self, fan_in: int):
        super().__init__()
        self.scale = fan_in ** -0.5

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.scale


EQUALIZED_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def fan_in(layer: nn.Module) -> int:
    """Inputs per output unit of a linear / (transposed) convolution layer."""
    w = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):  # weight (in, out, k, k)
        return w.shape[0] * w[0, 0].numel()
    return w[0].numel()  # (out, in) or (out, in, k, k)


def apply_equalized_lr(module: nn.Module) -> nn.Module:
    """Equalized learning rate on every linear and convolution layer of `module`: weight
    re-initialized N(0, 1), bias zero, weight used through `EqualizedScale` (§4.1). The gain and
    bias maps of conditional batch norm keep their zero initialization and are not scaled (they
    start at the identity transform). Returns `module`."""
    from torch.nn.utils import parametrize

    skip = {id(m) for norm in module.modules() if isinstance(norm, ConditionalNorm) for m in norm.modules()}
    for layer in list(module.modules()):
        if isinstance(layer, EQUALIZED_LAYERS) and id(layer) not in skip:
            if parametrize.is_parametrized(layer, "weight"):
                raise CondganError("model.equalized_lr cannot be combined with spectral norm "
                                   "(set model.g_spectral_norm=false and model.d_spectral_norm=false)")
            with torch.no_grad():
                nn.init.normal_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            parametrize.register_parametrization(layer, "weight", EqualizedScale(fan_in(layer)))
    return module


class Codebook(nn.Module):
    """The codebook generator input (Cho, codebook paper (seed 000) §3–4): a trainable tensor
    `d_l × d_c × d_p`. For a condition made of d_l one-hot groups of d_c categories, each group's
    chosen page `codebook[g, c_g]` (d_p numbers) is taken, the d_l pages are concatenated and
    reshaped into a feature map of `d_l·d_p / s0²` channels at the generator's first resolution
    s0 × s0, which the generator concatenates (channel-wise) with the projection of z. The page is
    read as `Σ_c cnd[g, c] · codebook[g, c]`, so a one-hot picks exactly one page."""

    def __init__(self, groups: int, categories: int, page_dim: int, side: int):
        super().__init__()
        if groups * page_dim % (side * side):
            raise CondganError(
                f"model.codebook_dim={page_dim} with model.codebook_groups={groups}: d_l·d_p = "
                f"{groups * page_dim} must be a multiple of the first feature map's {side}×{side} = "
                f"{side * side} positions; use a codebook_dim that is a multiple of {side * side}")
        self.groups, self.categories, self.side = groups, categories, side
        self.pages = nn.Parameter(torch.randn(groups, categories, page_dim))
        self.channels = groups * page_dim // (side * side)

    @classmethod
    def for_generator(cls, conditioning: str, num_conditions: int, groups: int, page_dim: int,
                      side: int) -> "Codebook | None":
        """The codebook of a generator with `model.g_conditioning=conditioning` (None unless it
        is `codebook` and there are conditions): its `num_conditions` split into `groups` equal
        one-hot groups."""
        if conditioning != "codebook" or not num_conditions:
            return None
        if num_conditions % groups:
            raise CondganError(f"model.codebook_groups={groups} does not divide G's "
                               f"{num_conditions} conditions into equal groups")
        return cls(groups, num_conditions // groups, page_dim, side)

    def forward(self, cnd: torch.Tensor) -> torch.Tensor:
        b = cnd.shape[0]
        picked = torch.einsum("bgc,gcp->bgp", cnd.reshape(b, self.groups, self.categories), self.pages)
        return picked.reshape(b, self.channels, self.side, self.side)


class SelfAttention(nn.Module):
    """SAGAN self-attention block (Zhang et al. 2019, "Self-Attention GANs", §3) on a C×H×W map
    with N = H·W positions: f = W_f x, g = W_g x (1×1 convs to C/8 channels), h = W_h x (C/2,
    as BigGAN), attention β_{j,i} = softmax_i(f_iᵀ g_j) over the N positions i, o_j = W_v Σ_i
    β_{j,i} h_i (1×1 conv back to C), output y = γ·o + x with a learned scalar γ initialized to 0
    (the block starts as the identity). Samples do not interact, so per-sample gradient
    penalties stay valid."""

    def __init__(self, channels: int, spectral_norm: bool = False):
        super().__init__()
        inner, value = max(1, channels // 8), max(1, channels // 2)
        self.f = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.g = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.h = maybe_sn(nn.Conv2d(channels, value, 1, bias=False), spectral_norm)
        self.v = maybe_sn(nn.Conv2d(value, channels, 1, bias=False), spectral_norm)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        f, g, h = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)  # (B, C', N)
        beta = torch.softmax(torch.bmm(g.transpose(1, 2), f), dim=-1)             # (B, N_j, N_i)
        o = torch.bmm(h, beta.transpose(1, 2)).view(b, -1, hgt, wid)               # o_j = Σ_i β_ji h_i
        return x + self.gamma * self.v(o)
