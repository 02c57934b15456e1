"""Building blocks of the style-based networks (`condgan.nets.stylegan2`): equalized-learning-rate
layers with a learning-rate multiplier, 2× FIR resampling, the modulated / demodulated
convolution, and the second-moment normalization of the mapping network's inputs.

Sources: Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2),
§2.2 (modulation and demodulation, Eqs. 1–3), App. B; Karras et al. 2018, "Progressive Growing of
GANs", §4.1 (equalized learning rate); Karras et al. 2019, "A Style-Based Generator" (StyleGAN),
§2 (mapping network, lr multiplier 0.01 in App. C). Conventions (leaky-ReLU gain √2, affine bias
initialized to 1, [1, 3, 3, 1] resampling filter) follow NVlabs' stylegan2-ada-pytorch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
"""Leaky ReLU is followed by ×√2, so that activations keep unit second moment at N(0, 1) inputs
(the "def_gain" of stylegan2-ada's bias_act)."""

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def lrelu(x: torch.Tensor, gain: float = LRELU_GAIN) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE) * gain


def normalize_second_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean_j x_j² + ε) per row (StyleGAN's "pixel norm" of z and of the label embedding)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class EqualizedLinear(nn.Module):
    """y = x (c·W)ᵀ + m·b with W ~ N(0, 1/m²) stored, c = m / sqrt(in_features), m the learning-rate
    multiplier (1 except in the mapping network). Adam's step on the stored W is scale-free, so the
    effective step on c·W is m times that of a unit-multiplier layer (equalized lr, ProGAN §4.1;
    the mapping network's m = 0.01, StyleGAN App. C). `bias_init`: the initial value of m·b."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, bias)
        return lrelu(x) if self.activation else x


class EqualizedConv2d(nn.Module):
    """k×k convolution with equalized lr (stored W ~ N(0, 1), used as W / sqrt(in·k²)), optional
    2× downsampling (FIR low-pass, then the convolution with stride 2, as StyleGAN2's D), optional
    leaky ReLU·√2, and an output `gain` (the residual branches' √½)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: bool = False, down: bool = False, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.activation, self.down, self.gain = activation, down, gain
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if not self.down:
            x = F.conv2d(x, w, self.bias, padding=self.kernel_size // 2)
        elif self.kernel_size == 1:
            x = F.conv2d(downsample_2x(x), w, self.bias)  # a 1×1 convolution commutes with the filter
        else:
            # Low-pass at full resolution, then the k×k convolution with stride 2. The padding
            # makes the output exactly half the input: (H + 2p − 3 − k)/2 + 1 = H/2 for p = (k+1)/2.
            pad = (self.kernel_size + 1) // 2
            x = F.conv2d(fir_filter(F.pad(x, (pad, pad, pad, pad))), w, self.bias, stride=2)
        if self.activation:
            return lrelu(x, LRELU_GAIN * self.gain)
        return x * self.gain if self.gain != 1.0 else x


def _fir_1d(x: torch.Tensor, dim: int, stride: int) -> torch.Tensor:
    """The [1, 3, 3, 1]/8 filter along `dim` (no padding), every `stride`-th output. Written as
    shifted slices and additions: several times faster on CPU than a depthwise convolution, and
    differentiable to any order (R1 and the path-length penalty differentiate through it)."""
    n = (x.shape[dim] - len(FIR_TAPS)) // stride + 1
    out = None
    for k, tap in enumerate(FIR_TAPS):
        part = x.narrow(dim, k, (n - 1) * stride + 1)
        if stride > 1:
            part = part[(slice(None),) * (dim % x.dim()) + (slice(None, None, stride),)]
        out = part * (tap / 8) if out is None else out + part * (tap / 8)
    return out


def fir_filter(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """The separable low-pass [1, 3, 3, 1]/8 ⊗ [1, 3, 3, 1]/8 on each channel (no padding)."""
    return _fir_1d(_fir_1d(x, -1, stride), -2, stride)


def downsample_2x(x: torch.Tensor) -> torch.Tensor:
    """H×W → H/2×W/2: zero padding 1, the 4-tap low-pass, every second pixel."""
    return fir_filter(F.pad(x, (1, 1, 1, 1)), stride=2)


def _upsample_1d(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero insertion then the 4-tap filter with gain 2 along `dim` (zero padding): output
    2i is (x_{i−1} + 3 x_i)/4, output 2i + 1 is (3 x_i + x_{i+1})/4."""
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [1, 1]
    p = F.pad(x, pad)
    prev, mid, nxt = p.narrow(dim, 0, n), p.narrow(dim, 1, n), p.narrow(dim, 2, n)
    even, odd = (prev + 3 * mid) / 4, (3 * mid + nxt) / 4
    shape = list(x.shape)
    shape[dim % x.dim()] = 2 * n
    return torch.stack([even, odd], dim=dim % x.dim() + 1).reshape(shape)


def upsample_2x(x: torch.Tensor) -> torch.Tensor:
    """H×W → 2H×2W: zero insertion and the 4-tap low-pass with gain 4 (stylegan2-ada's
    upsample2d with the [1, 3, 3, 1] filter), so a constant image stays constant away from the
    border."""
    return _upsample_1d(_upsample_1d(x, -1), -2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     demodulate: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2's modulated convolution (§2.2, Eqs. 1 and 3) for a batch of per-sample styles.

    Modulation: w'_{oik} = s_i · w_{oik} (s = styles[b], one scale per input channel i);
    demodulation: w''_{oik} = w'_{oik} / sqrt(Σ_{i,k} w'_{oik}² + ε), so each output channel has unit
    expected standard deviation for unit-variance inputs. Computed without forming a per-sample
    weight (stylegan2-ada's "non-fused" path): conv(x · s, w) · d with
    d_o = (Σ_i s_i² Σ_k w_{oik}² + ε)^{-1/2}, which is the same linear map because s scales input
    channels and d output channels. x: (B, I, H, W), weight: (O, I, k, k), styles: (B, I); 'same'
    padding."""
    b = x.shape[0]
    out = F.conv2d(x * styles.reshape(b, -1, 1, 1), weight, padding=weight.shape[-1] // 2)
    if demodulate:
        d = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps).rsqrt()  # (B, O)
        out = out * d.reshape(b, -1, 1, 1)
    return out
