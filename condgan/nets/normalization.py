"""Normalizations beyond torch's batch / instance / layer norm: ProGAN's pixel norm and the
virtual batch norm of Improved-GAN, with the generator wrapper that gives it its reference batch.
Both are `model.g_norm` choices (`pixel`, `virtual_batch`), built by `layers.make_norm`."""

from __future__ import annotations

import torch
from torch import nn


class PixelNorm(nn.Module):
    """Pixelwise feature vector normalization (Karras et al. 2018, "Progressive Growing of GANs",
    §4.2): at every position the feature vector is scaled to unit RMS,

        b_{x,y} = a_{x,y} / sqrt((1/N) Σ_j (a^j_{x,y})² + ε),   ε = 1e-8,

    over the N channels of a feature map (or the N features of a vector). Per sample: it does not
    look at the batch, and it has no parameters."""

    eps = 1e-8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalization (Salimans et al. 2016, "Improved Techniques for Training GANs",
    §3.5): every sample is normalized with statistics of a fixed *reference batch* plus itself,
    not of the batch it happens to be in, so a sample's output does not depend on the others.

    The first `reference_size` rows of the input are the reference batch (R rows; the wrapper
    `VirtualBatchGenerator` puts them there and drops them again). For a channel with reference
    statistics μ_ref = E_ref[a], s_ref = E_ref[a²] (over the R rows and, for feature maps, the
    positions) and a sample i with its own m_i = E[a_i], s_i = E[a_i²] (over its positions):

        μ_i = m_i/(R+1) + R·μ_ref/(R+1),   σ²_i = s_i/(R+1) + R·s_ref/(R+1) − μ_i²,
        â_i = (a_i − μ_i) / sqrt(σ²_i + ε) · γ + β;

    the reference rows themselves are normalized with (μ_ref, s_ref − μ_ref²) alone. The
    reference statistics are recomputed with the current weights at every forward (gradients
    flow through them), as in the paper. Train and eval mode compute the same thing."""

    def __init__(self, channels: int, spatial: bool = True, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.spatial = spatial
        self.eps = eps
        self.reference_size = 0
        """R, set by `VirtualBatchGenerator`."""
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reference_size
        if not 0 < r < x.shape[0]:
            raise RuntimeError("VirtualBatchNorm needs its reference batch in front of the input rows "
                               "(wrap the generator in VirtualBatchGenerator)")
        own = (2, 3) if self.spatial else ()
        m = x.mean(own, keepdim=True) if own else x
        s = x.square().mean(own, keepdim=True) if own else x.square()
        ref_m, ref_s = m[:r].mean(0, keepdim=True), s[:r].mean(0, keepdim=True)
        c = 1.0 / (r + 1)
        mean = torch.cat([ref_m.expand_as(m[:r]), c * m[r:] + (1 - c) * ref_m])
        sq = torch.cat([ref_s.expand_as(s[:r]), c * s[r:] + (1 - c) * ref_s])
        out = (x - mean) * torch.rsqrt((sq - mean.square()).clamp_min(0) + self.eps)
        if self.weight is not None:
            shape = (1, -1, 1, 1) if self.spatial else (1, -1)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


class VirtualBatchGenerator(nn.Module):
    """A generator whose `VirtualBatchNorm` layers see a fixed reference batch: the R reference
    latents and conditions (buffers, drawn once from the run's seed and saved with the weights)
    are put in front of every batch, and their outputs dropped. G's cost per step grows by R
    rows."""

    def __init__(self, generator: nn.Module, reference_z: torch.Tensor, reference_cnd: torch.Tensor | None):
        super().__init__()
        self.generator = generator
        self.register_buffer("reference_z", reference_z.clone())
        self.register_buffer("reference_cnd", None if reference_cnd is None else reference_cnd.clone())
        self.reference_size = reference_z.shape[0]
        for m in generator.modules():
            if isinstance(m, VirtualBatchNorm):
                m.reference_size = self.reference_size

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        z = torch.cat([self.reference_z.to(z.dtype), z])
        if cnd is not None:
            cnd = torch.cat([self.reference_cnd.to(cnd.dtype), cnd])
        return self.generator(z, cnd)[self.reference_size:]
