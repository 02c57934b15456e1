"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"; SPEC §6).

KID is the unbiased estimator of the squared MMD with the cubic polynomial kernel

    k(x, y) = (xᵀy / d + 1)³

on m real features X and m fake features Y:

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/m² Σ_{i,j} k(x_i, y_j)

(dropping the i = j terms is what makes it unbiased: E[MMD²_u] = 0 when both sets come from the
same distribution). It is averaged over `subsets` random subsets of size m drawn without
replacement from each side, as in the reference code and torchmetrics (defaults 100 × 1000,
m capped by the smaller set); std over subsets is the population std (torchmetrics'
unbiased=False). Kernel matrices are float32 by default with float64 sums (see `kid`).
"""

from __future__ import annotations

from typing import Optional

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, canonical_order, generator, register_metric


_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: float, coef: float,
                off_diagonal: bool = False) -> torch.Tensor:
    """Σ_ij k(a_i, b_j) (without the i = j terms if off_diagonal), accumulated in float64.

    One addmm and one in-place power: a subset costs three matmuls and no extra m×m temporaries.
    The diagonal is taken from the same matrix, so it cancels exactly. (One subset at a time on
    purpose: a 1000×1000 float32 kernel stays in cache for the power and the sum; batching
    subsets through baddbmm measured ~3× slower single-threaded.)"""
    k = torch.addmm(torch.tensor(coef, dtype=a.dtype), a, b.T, alpha=gamma).pow_(degree)
    total = k.sum(dtype=torch.float64)
    return total - k.diagonal().sum(dtype=torch.float64) if off_diagonal else total


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: Optional[float] = None,
                  coef: float = 1.0) -> float:
    """Unbiased MMD² between equal-size samples x, y (m, d) with the polynomial kernel; the
    kernel matrices are formed in x's dtype, their sums accumulated in float64."""
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise ValueError(f"mmd2_unbiased needs two equal-size samples of ≥ 2 rows, got {m} and {y.shape[0]}")
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k = (degree, gamma, coef)
    off_diag = _kernel_sum(x, x, *k, off_diagonal=True) + _kernel_sum(y, y, *k, off_diagonal=True)
    return float(off_diag / (m * (m - 1)) - 2.0 * _kernel_sum(x, y, *k) / (m * m))


FEATURE_SCALES = ("none", "real_rms")


def feature_scale_of(real: torch.Tensor, how: str) -> float:
    """The factor features are divided by before the kernel: 1 for "none"; for "real_rms" the
    root mean square of the real features' coordinates, sqrt(mean_i ‖x_i‖² / d), so that
    xᵀx / d averages 1 over the real set whatever the extractor's units (see `kid`)."""
    if how not in FEATURE_SCALES:
        raise CondganError(f"kid feature_scale must be one of {', '.join(FEATURE_SCALES)}, got '{how}'")
    if how == "none":
        return 1.0
    rms = float(real.detach().to(torch.float64).pow(2).mean().sqrt()) if real.numel() else 0.0
    if not rms > 0 or not torch.isfinite(torch.tensor(rms)):
        raise CondganError(f"kid feature_scale=real_rms: the real features have RMS {rms}; use feature_scale=none")
    return rms


@register_metric("kid", needs={"real_features", "fake_features"}, higher_is_better={"kid": False})
def kid(inputs: MetricInputs, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: Optional[float] = None, coef: float = 1.0, feature_scale: str = "none",
        kernel_dtype: str = "float32") -> dict[str, float]:
    """KID mean and std over seeded random subsets; see module docstring. gamma None → 1/d.

    feature_scale: "none" is the standard KID on raw features (Inception: comparable with
    published numbers and torchmetrics). "real_rms" divides both sets by the real features' RMS
    first (`feature_scale_of`), i.e. k(x, y) = (xᵀy / (d s²) + 1)³. The cubic kernel is only
    meaningful at xᵀy / d = O(1): Inception's pool3 features are there by construction, but a
    domain classifier's penultimate features are in arbitrary units, and at ‖x‖²/d ≫ 1 the
    kernel degenerates to the pure cubic (xᵀy)³, whose heavy tails make the subset estimates
    noise (measured in docs/evaluation.md). The evaluator uses real_rms for every extractor but
    Inception.

    Subsets are drawn over the rows in canonical order (`canonical_order`), so the score does
    not depend on the order the features were stored in.

    kernel_dtype: precision of the m×m kernel matrices (sums are always float64). float32 is ~1.6×
    faster and its rounding is unbiased, so it moves KID by ~1e-7 relative, 10⁵× below the
    spread over subsets; "float64" for bit-level comparisons."""
    if kernel_dtype not in _DTYPES:
        raise CondganError(f"kid kernel_dtype must be one of {sorted(_DTYPES)}, got '{kernel_dtype}'")
    if subsets < 1 or subset_size < 2:
        raise CondganError(f"kid needs subsets ≥ 1 and subset_size ≥ 2, got {subsets} and {subset_size}")
    real, fake = inputs.real_features.detach(), inputs.fake_features.detach()
    if min(real.shape[0], fake.shape[0]) < 2:
        raise CondganError(f"kid needs at least 2 real and 2 fake feature rows, got {real.shape[0]} real "
                           f"and {fake.shape[0]} fake: score more samples, or leave kid out")
    scale = feature_scale_of(real, feature_scale)
    x = (real[canonical_order(real)].to("cpu", torch.float64) / scale).to(_DTYPES[kernel_dtype])
    y = (fake[canonical_order(fake)].to("cpu", torch.float64) / scale).to(_DTYPES[kernel_dtype])
    m = min(subset_size, x.shape[0], y.shape[0])
    gen = generator(inputs.seed)
    scores = []
    for _ in range(subsets):
        xi = x[torch.randperm(x.shape[0], generator=gen)[:m]]
        yi = y[torch.randperm(y.shape[0], generator=gen)[:m]]
        scores.append(mmd2_unbiased(xi, yi, degree, gamma, coef))
    s = torch.tensor(scores, dtype=torch.float64)
    return {"kid": float(s.mean()), "kid_std": float(s.std(unbiased=False))}
