"""StyleGAN2 generator and residual discriminator trunk (`model.net=stylegan2`).

Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2): Fig. 2d
(revised synthesis layer), Fig. 7 (skip generator, residual discriminator), §2.2 (weight
demodulation), §3.2 (path-length regularization, `condgan.losses.path_length`); Karras et al. 2019,
"A Style-Based Generator Architecture" (StyleGAN): §2 (mapping network, constant input, noise
inputs), §3.1 (style mixing, `condgan.training.style_mixing`), §3.2/App. B (truncation in W
toward the tracked mean w̄). Conditioning as in stylegan2-ada-pytorch (Karras et al. 2020,
"Training GANs with Limited Data", App. B): the label's embedding, normalized, is concatenated
with the normalized z at the mapping network's input.

Resolutions: the image side is s0 · 2^n (16 = 4·2², 28 = 7·2², 32 = 4·2³, 64, 128), the synthesis
starts from a learned constant s0 × s0 and doubles n times; D mirrors it down to s0 × s0.
Channels: G's at resolution s0·2^i are g_width · min(2^(n−i), 16) (the resnet nets' schedule),
D's at resolution r are d_width · min(S/r, 16) for image side S.

Generator G(z, c):
  mapping    w = f(z, c): [norm(z), norm(E c)] → `model.mapping_layers` × (equalized linear with
             lr multiplier `model.mapping_lr`, leaky ReLU) → w ∈ R^{w_dim}; while training,
             w̄ ← β w̄ + (1 − β) mean_batch(w), β = `model.w_avg_decay`.
  synthesis  x₀ = const (s0 × s0); per layer ℓ: s_ℓ = A_ℓ(w_ℓ) (affine, bias initialized to 1),
             x ← lrelu(modconv_demod(x, s_ℓ) + noise · strength_ℓ + b_ℓ)·√2, two 3×3 layers per
             resolution (the first of each new resolution after a 2× FIR upsampling), one at s0;
             skip output: img ← up(img) + toImage_r(x) (a 1×1 modulated conv without
             demodulation) at every resolution. The output is linear (no tanh), as StyleGAN2.
  The layers read w_0 … w_{L−1}, L = 2n + 2 (`num_ws`, each resolution's toImage shares the w of
  the next resolution's first conv, as in stylegan2-ada); normally all equal w, different under
  style mixing. Noise: fresh N(0, 1) per sample while training, a fixed buffer in eval mode (so
  samples are a deterministic function of z and c).
  Truncation (sampling): w ← w̄ + ψ (w − w̄) with ψ = `--truncation` (`truncates_in_w`).

G conditioning (`model.g_conditioning`): `concat` — the label embedded into the mapping network
(above); `adain` — conditional AdaIN: the mapping sees z only and every affine A_ℓ reads
[w_ℓ, norm(E c)], so each layer's styles depend on the class directly (truncation and style
mixing then leave the class untouched); `none` — unconditional.

Discriminator trunk (residual, StyleGAN2 Fig. 7c): fromImage (1×1 conv, lrelu) at the image
resolution, then per resolution r > s0 a block
    y = √½ · (conv3×3↓(lrelu(conv3×3(x))) [lrelu]  +  conv1×1↓(x) [linear, no bias]),
then the epilogue at s0: minibatch-stddev (`model.d_minibatch_std` group size; 0 = off),
conv3×3, flatten, fully connected, lrelu → h ∈ R^{C_{s0}}. The conditioning method's heads sit on
h (projection, AC, 2C, D2D-CE, ...), so `stylegan2 × d2dce` is one config; stylegan2-ada's own
conditional output is the projection head (`model.conditioning=pd`).
"""

from __future__ import annotations

import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import NETWORKS, image_shape
from condgan.nets.dcgan import resolution_schedule
from condgan.nets.layers import MinibatchStdDev
from condgan.nets.resnet import channel_multipliers
from condgan.nets.style import (EqualizedConv2d, EqualizedLinear, lrelu, modulated_conv2d,
                                normalize_second_moment, upsample_2x)

G_CONDITIONINGS = ("concat", "adain", "none")
MAX_MULTIPLIER = 16


class MappingNetwork(nn.Module):
    """z (+ label embedding) → w, with the tracked average w̄ (buffer `w_avg`)."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_multiplier: float,
                 label_dim: int = 0, w_avg_decay: float = 0.995):
        super().__init__()
        dims = [z_dim + label_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualizedLinear(a, b, lr_multiplier=lr_multiplier, activation=True)
                                    for a, b in zip(dims, dims[1:]))
        self.w_avg_decay = w_avg_decay
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None, update_w_avg: bool = True) -> torch.Tensor:
        x = normalize_second_moment(z)
        if label is not None:
            x = torch.cat([x, label], dim=1)
        for layer in self.layers:
            x = layer(x)
        if self.training and update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_decay))
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3×3 conv (optionally after a 2× upsampling) + noise + bias + lrelu·√2."""

    def __init__(self, c_in: int, c_out: int, style_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.affine = EqualizedLinear(style_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up, self.resolution = up, resolution

    def forward(self, x: torch.Tensor, style_input: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = upsample_2x(x)
        x = modulated_conv2d(x, self.weight, self.affine(style_input))
        if self.training:
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        x = x + noise * self.noise_strength + self.bias.reshape(1, -1, 1, 1)
        return lrelu(x)


class ToImage(nn.Module):
    """1×1 modulated convolution without demodulation (styles scaled by 1/sqrt(C_in)) + bias."""

    def __init__(self, c_in: int, channels: int, style_dim: int):
        super().__init__()
        self.affine = EqualizedLinear(style_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style_gain = c_in ** -0.5

    def forward(self, x: torch.Tensor, style_input: torch.Tensor) -> torch.Tensor:
        styles = self.affine(style_input) * self.style_gain
        return modulated_conv2d(x, self.weight, styles, demodulate=False) + self.bias.reshape(1, -1, 1, 1)


class StyleGAN2Generator(nn.Module):
    """See the module docstring. `forward(z, cnd, truncation_psi=1)`; `mapping(z, cnd)` → w,
    `synthesis(ws, cnd)` with ws of shape (B, num_ws, w_dim) — what style mixing and the path-length
    penalty call."""

    truncates_in_w = True
    """Sampling's truncation T means ψ in W (w̄ + ψ(w − w̄)), not a |z| threshold: sampling sets
    `truncation_psi` (condgan.training.latents.latent_truncation), the default of `forward`."""
    truncation_psi = 1.0

    def __init__(self, z_dim: int, channels: int, image_size: int, width: int = 32, w_dim: int = 128,
                 mapping_layers: int = 8, mapping_lr: float = 0.01, num_conditions: int = 0,
                 conditioning: str = "concat", label_embedding: str = "embedding", embed_dim: int = 32,
                 w_avg_decay: float = 0.995):
        super().__init__()
        if conditioning not in G_CONDITIONINGS:
            raise CondganError(f"model.g_conditioning={conditioning} is not available with model.net=stylegan2; "
                               f"choose one of: {', '.join(G_CONDITIONINGS)}")
        s0, n = resolution_schedule(image_size)
        self.z_dim, self.w_dim, self.s0 = z_dim, w_dim, s0
        self.conditioning = conditioning if num_conditions else "none"
        label_dim = 0
        self.embed = None
        if self.conditioning != "none":
            if label_embedding == "embedding":
                self.embed = EqualizedLinear(num_conditions, embed_dim)
                label_dim = embed_dim
            else:  # one-hot, normalized like the embedding
                label_dim = num_conditions
        mapping_label = label_dim if self.conditioning == "concat" else 0
        style_dim = w_dim + (label_dim if self.conditioning == "adain" else 0)
        self.mapping_net = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr, mapping_label, w_avg_decay)
        widths = [width * m for m in channel_multipliers(n)]
        self.const = nn.Parameter(torch.randn(widths[0], s0, s0))
        self.convs = nn.ModuleList([SynthesisLayer(widths[0], widths[0], style_dim, s0)])
        self.to_images = nn.ModuleList([ToImage(widths[0], channels, style_dim)])
        for i in range(1, n + 1):
            r = s0 * 2 ** i
            self.convs.append(SynthesisLayer(widths[i - 1], widths[i], style_dim, r, up=True))
            self.convs.append(SynthesisLayer(widths[i], widths[i], style_dim, r))
            self.to_images.append(ToImage(widths[i], channels, style_dim))
        self.num_ws = len(self.convs) + 1

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping_net.w_avg

    def label_input(self, cnd: torch.Tensor | None) -> torch.Tensor | None:
        if self.conditioning == "none":
            return None
        if cnd is None:
            raise CondganError("this StyleGAN2 generator is conditional: pass the condition vector")
        return normalize_second_moment(self.embed(cnd) if self.embed is not None else cnd)

    def mapping(self, z: torch.Tensor, cnd: torch.Tensor | None = None, update_w_avg: bool = True,
                truncation_psi: float = 1.0) -> torch.Tensor:
        """w = f(z, c) of shape (B, w_dim), truncated toward w̄ when ψ ≠ 1."""
        label = self.label_input(cnd) if self.conditioning == "concat" else None
        w = self.mapping_net(z, label, update_w_avg)
        if truncation_psi != 1.0:
            w = self.w_avg.lerp(w, truncation_psi)
        return w

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(B, w_dim) → (B, num_ws, w_dim): the same w for every layer."""
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesis(self, ws: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        """Image from per-layer ws (B, num_ws, w_dim)."""
        if self.conditioning == "adain":
            label = self.label_input(cnd).unsqueeze(1).expand(-1, ws.shape[1], -1)
            ws = torch.cat([ws, label], dim=2)
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.convs[0](x, ws[:, 0])
        img = self.to_images[0](x, ws[:, 1])
        for r, to_image in enumerate(self.to_images[1:]):
            i = 1 + 2 * r  # this resolution's two convs: ws i and i + 1; toImage: i + 2
            x = self.convs[i](x, ws[:, i])
            x = self.convs[i + 1](x, ws[:, i + 1])
            img = upsample_2x(img) + to_image(x, ws[:, i + 2])
        return img

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None,
                truncation_psi: float | None = None) -> torch.Tensor:
        psi = self.truncation_psi if truncation_psi is None else truncation_psi
        return self.synthesis(self.broadcast(self.mapping(z, cnd, truncation_psi=psi)), cnd)


class DiscriminatorBlock(nn.Module):
    """Residual block: √½ (conv3×3↓(lrelu conv3×3(x)) + conv1×1↓(x))."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        gain = 0.5 ** 0.5
        self.conv0 = EqualizedConv2d(c_in, c_in, 3, activation=True)
        self.conv1 = EqualizedConv2d(c_in, c_out, 3, activation=True, down=True, gain=gain)
        self.skip = EqualizedConv2d(c_in, c_out, 1, bias=False, down=True, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv1(self.conv0(x))


class StyleGAN2Trunk(nn.Module):
    """x → h ∈ R^{out_dim} (see the module docstring)."""

    def __init__(self, channels: int, image_size: int, width: int = 32, minibatch_std: int = 4):
        super().__init__()
        s0, n = resolution_schedule(image_size)
        widths = [width * min(2 ** i, MAX_MULTIPLIER) for i in range(n + 1)]  # image side → s0
        self.from_image = EqualizedConv2d(channels, widths[0], 1, activation=True)
        self.blocks = nn.Sequential(*(DiscriminatorBlock(widths[i], widths[i + 1]) for i in range(n)))
        c = widths[-1]
        self.mbstd = MinibatchStdDev(minibatch_std) if minibatch_std else None
        self.conv = EqualizedConv2d(c + (1 if minibatch_std else 0), c, 3, activation=True)
        self.fc = EqualizedLinear(c * s0 * s0, c, activation=True)
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_image(x))
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.fc(self.conv(x).flatten(1))


@NETWORKS.register("stylegan2")
def build_stylegan2(cfg, sample_shape, num_conditions):
    channels, size = image_shape(cfg, sample_shape)
    m = cfg.model
    g = StyleGAN2Generator(m.z_dim, channels, size, m.g_width, m.w_dim or m.z_dim, m.mapping_layers,
                           m.mapping_lr, num_conditions, m.g_conditioning, m.g_label_embedding, m.embed_dim,
                           m.w_avg_decay)
    d = StyleGAN2Trunk(channels, size, m.d_width, m.d_minibatch_std)
    return g, d


build_stylegan2.g_conditionings = G_CONDITIONINGS  # config-time check (condgan.validation)
build_stylegan2.style_based = True  # style mixing and the path-length penalty apply (condgan.validation)
