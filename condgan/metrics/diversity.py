"""Intra-class diversity: mean (MS-)SSIM of random same-class fake pairs (docs/evaluation.md).

The collapse detector of Odena et al. 2017 (AC-GAN) used in seed 003 §7 / Table 2: for each
class, the mean structural similarity of randomly chosen pairs of generated images of that class.
High values mean the class's samples look alike (intra-class mode collapse); lower is better.

SSIM (Wang et al. 2004), per pixel with Gaussian-weighted local statistics (window 11, σ = 1.5):

    SSIM(x, y) = (2 μ_x μ_y + C1)(2 σ_xy + C2) / ((μ_x² + μ_y² + C1)(σ_x² + σ_y² + C2)),
    C1 = (K1 L)², C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L = data range (2 for [−1, 1] images),

averaged over the "valid" positions (where the window fits) and channels; this equals
skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=2, channel_axis=0), Wang et al.'s own settings.
Images smaller than the window use the largest odd window that fits (σ kept at 1.5).

MS-SSIM (Wang, Simoncelli & Bovik 2003), over M scales obtained by 2×2 average pooling:

    MS-SSIM = Π_{j<M} cs_j^{β_j} · (l_M cs_M)^{β_M},   cs = mean (2σ_xy + C2)/(σ_x² + σ_y² + C2)

with β = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). M is the largest number (≤ 5) of scales at
which the coarsest image still holds a full window (1 below 22 px, 2 for 22–43 px such as
28 or 32, 3 for 44–87 px, 5 from 176 px); the first M betas
are renormalised to sum 1. Negative cs / SSIM at a scale are clamped to 0 before the fractional
power, as pytorch-msssim and torchmetrics ("relu") do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, canonical_order, generator, register_metric

MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length `size` (float64)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _fitting_window(height: int, width: int, win: int) -> int:
    side = min(height, width, win)
    return side if side % 2 else side - 1


def _valid_filter_matrix(n: int, g: torch.Tensor) -> torch.Tensor:
    """(n − w + 1, n) banded matrix A with (A v)_i = Σ_t g_t v_{i+t}: 'valid' 1-D filtering."""
    w = g.shape[0]
    a = torch.zeros(n - w + 1, n, dtype=g.dtype)
    for i in range(n - w + 1):
        a[i, i:i + w] = g
    return a


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, win: int, sigma: float, data_range: float,
                 k1: float, k2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term cs over valid positions and channels."""
    g = gaussian_window(win, sigma)
    a_h, a_w = _valid_filter_matrix(x.shape[-2], g), _valid_filter_matrix(x.shape[-1], g)
    n = x.shape[0]
    # the separable Gaussian filter as two matmuls: exact in float64, and much faster on CPU than
    # a float64 grouped conv2d; all five local moments in one batch
    stacked = torch.cat([x, y, x * x, y * y, x * y])
    mu_x, mu_y, e_xx, e_yy, e_xy = (a_h @ stacked @ a_w.T).split(n)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs_map
    return ssim_map.flatten(1).mean(1), cs_map.flatten(1).mean(1)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4:
        raise CondganError(
            f"SSIM needs two (N, C, H, W) batches of equal shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """(N,) SSIM of image pairs x[i], y[i] (N, C, H, W), computed in float64."""
    _check_pair(x, y)
    x, y = x.to(torch.float64), y.to(torch.float64)
    win = _fitting_window(x.shape[-2], x.shape[-1], win)
    return _ssim_and_cs(x, y, win, sigma, data_range, k1, k2)[0]


def ms_ssim_scales(height: int, width: int, win: int = 11, max_scales: int = len(MS_SSIM_BETAS)) -> int:
    """Largest number of scales whose coarsest (2^{M−1}× pooled) image still holds the window."""
    scales = 1
    while scales < max_scales and min(height, width) // 2**scales >= win:
        scales += 1
    return scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win: int = 11, sigma: float = 1.5,
            k1: float = 0.01, k2: float = 0.03, betas=MS_SSIM_BETAS) -> torch.Tensor:
    """(N,) MS-SSIM of image pairs with as many scales as fit (see module docstring)."""
    _check_pair(x, y)
    x, y = x.to(torch.float64), y.to(torch.float64)
    win = _fitting_window(x.shape[-2], x.shape[-1], win)
    scales = ms_ssim_scales(x.shape[-2], x.shape[-1], win, len(betas))
    w = torch.tensor(betas[:scales], dtype=torch.float64)
    w = w / w.sum()
    out = torch.ones(x.shape[0], dtype=torch.float64)
    for j in range(scales):
        s, cs = _ssim_and_cs(x, y, win, sigma, data_range, k1, k2)
        term = s if j == scales - 1 else cs  # l·cs only at the coarsest scale
        out = out * term.clamp(min=0) ** w[j]
        if j < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


@register_metric(
    "intra_ssim",
    needs={"fake_images", "fake_labels"},
    higher_is_better={"intra_ssim": False, "intra_ssim/max": False},
)
def intra_ssim(inputs: MetricInputs, pairs_per_class: int = 100, multiscale: bool = False,
               data_range: float = 2.0) -> dict[str, float]:
    """Mean SSIM (MS-SSIM with multiscale=True) of `pairs_per_class` seeded random pairs of
    distinct same-class fakes (pairs drawn with replacement). Returns the mean over classes
    'intra_ssim', the worst class 'intra_ssim/max' (seed 003 Table 2 reports this maximum) and
    each class as 'intra_ssim/<y>'. Classes with fewer than 2 images are skipped."""
    images = inputs.fake_images.detach().cpu()
    labels = inputs.fake_labels[: images.shape[0]].detach().cpu().long()
    score = ms_ssim if multiscale else ssim
    gen = generator(inputs.seed)
    per_class: dict[str, float] = {}
    for y in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == y).flatten()
        idx = idx[canonical_order(images[idx])]  # pairs depend on the set, not its storage order
        n = idx.numel()
        if n < 2:
            continue
        first = torch.randint(n, (pairs_per_class,), generator=gen)
        # second index uniform over the other n−1 images: draw from n−1 and skip `first`
        second = torch.randint(n - 1, (pairs_per_class,), generator=gen)
        second = second + (second >= first).long()
        per_class[f"intra_ssim/{y}"] = float(
            score(images[idx[first]], images[idx[second]], data_range=data_range).mean()
        )
    if not per_class:
        raise CondganError("intra_ssim: no class has 2 or more fake images; generate more samples per class")
    values = list(per_class.values())
    return {"intra_ssim": sum(values) / len(values), "intra_ssim/max": max(values), **per_class}
