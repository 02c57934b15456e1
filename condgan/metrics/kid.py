"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"; SPEC §6).

KID is the unbiased estimator of the squared MMD with the cubic polynomial kernel

    k(x, y) = (xᵀy / d + 1)³

on m real features X and m fake features Y:

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/m² Σ_{i,j} k(x_i, y_j)

(dropping the i = j terms is what makes it unbiased: E[MMD²_u] = 0 when both sets come from the
same distribution). It is averaged over `subsets` random subsets of size m drawn without
replacement from each side, as in the reference code and torchmetrics (defaults 100 × 1000,
m capped by the smaller set); std over subsets is the population std (torchmetrics'
unbiased=False).
"""

from __future__ import annotations

from typing import Optional

import torch

from condgan.metrics.base import MetricInputs, generator, register_metric


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: float, coef: float) -> torch.Tensor:
    """Σ_ij k(a_i, b_j) with k(a, b) = (γ aᵀb + c)^degree: one addmm and one in-place power,
    so a subset costs three matmuls and no extra m×m temporaries."""
    k = torch.addmm(torch.tensor(coef, dtype=a.dtype), a, b.T, alpha=gamma)
    return k.pow_(degree).sum()


def _kernel_trace(a: torch.Tensor, degree: int, gamma: float, coef: float) -> torch.Tensor:
    """Σ_i k(a_i, a_i), the diagonal that the unbiased estimator leaves out."""
    return ((a * a).sum(1) * gamma + coef).pow(degree).sum()


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: Optional[float] = None,
                  coef: float = 1.0) -> float:
    """Unbiased MMD² between equal-size samples x, y (m, d) with the polynomial kernel."""
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise ValueError(f"mmd2_unbiased needs two equal-size samples of ≥ 2 rows, got {m} and {y.shape[0]}")
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k = (degree, gamma, coef)
    off_diag = (_kernel_sum(x, x, *k) - _kernel_trace(x, *k)) + (_kernel_sum(y, y, *k) - _kernel_trace(y, *k))
    return float(off_diag / (m * (m - 1)) - 2.0 * _kernel_sum(x, y, *k) / (m * m))


@register_metric("kid", needs={"real_features", "fake_features"}, higher_is_better={"kid": False})
def kid(inputs: MetricInputs, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: Optional[float] = None, coef: float = 1.0) -> dict[str, float]:
    """KID mean and std over seeded random subsets; see module docstring. gamma None → 1/d."""
    # float64 throughout: the estimate is a small difference of large kernel sums.
    x = inputs.real_features.detach().to("cpu", torch.float64)
    y = inputs.fake_features.detach().to("cpu", torch.float64)
    m = min(subset_size, x.shape[0], y.shape[0])
    gen = generator(inputs.seed)
    scores = []
    for _ in range(subsets):
        xi = x[torch.randperm(x.shape[0], generator=gen)[:m]]
        yi = y[torch.randperm(y.shape[0], generator=gen)[:m]]
        scores.append(mmd2_unbiased(xi, yi, degree, gamma, coef))
    s = torch.tensor(scores, dtype=torch.float64)
    return {"kid": float(s.mean()), "kid_std": float(s.std(unbiased=False))}
