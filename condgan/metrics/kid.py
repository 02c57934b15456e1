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
from condgan.metrics.base import MetricInputs, generator, register_metric


_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_BATCH_BYTES = 32 * 2**20  # kernel matrices of several subsets are formed together up to this size


def _kernel_sums(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: float, coef: float,
                 off_diagonal: bool = False) -> torch.Tensor:
    """Σ_ij k(a_i, b_j) per batch entry of (S, m, d) inputs (without the i = j terms if
    off_diagonal), accumulated in float64.

    One baddbmm and one in-place power for the whole batch: few, large operations (cheap on a
    busy machine, where every parallel region waits for all its threads) and no extra S×m×m
    temporaries. The diagonal comes from the same matrices, so it cancels exactly."""
    k = torch.baddbmm(torch.tensor(coef, dtype=a.dtype), a, b.transpose(1, 2), alpha=gamma).pow_(degree)
    total = k.sum((1, 2), dtype=torch.float64)
    return total - k.diagonal(dim1=1, dim2=2).sum(1, dtype=torch.float64) if off_diagonal else total


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: Optional[float] = None,
                  coef: float = 1.0) -> torch.Tensor:
    """Unbiased MMD² between equal-size samples x, y of shape (m, d), or batches (S, m, d) of
    such pairs (→ S values), with the polynomial kernel; kernels in x's dtype, sums in float64."""
    batched = x.dim() == 3
    x, y = (x, y) if batched else (x[None], y[None])
    m = x.shape[1]
    if y.shape[1] != m or m < 2:
        raise ValueError(f"mmd2_unbiased needs two equal-size samples of ≥ 2 rows, got {m} and {y.shape[1]}")
    gamma = 1.0 / x.shape[2] if gamma is None else gamma
    k = (degree, gamma, coef)
    off_diag = _kernel_sums(x, x, *k, off_diagonal=True) + _kernel_sums(y, y, *k, off_diagonal=True)
    mmd2 = off_diag / (m * (m - 1)) - 2.0 * _kernel_sums(x, y, *k) / (m * m)
    return mmd2 if batched else mmd2[0]


@register_metric("kid", needs={"real_features", "fake_features"}, higher_is_better={"kid": False})
def kid(inputs: MetricInputs, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: Optional[float] = None, coef: float = 1.0, kernel_dtype: str = "float32") -> dict[str, float]:
    """KID mean and std over seeded random subsets; see module docstring. gamma None → 1/d.

    kernel_dtype: precision of the m×m kernel matrices (sums are always float64). float32 is ~1.6×
    faster and its rounding is unbiased, so it moves KID by ~1e-7 relative, 10⁵× below the
    spread over subsets; "float64" for bit-level comparisons."""
    if kernel_dtype not in _DTYPES:
        raise CondganError(f"kid kernel_dtype must be one of {sorted(_DTYPES)}, got '{kernel_dtype}'")
    x = inputs.real_features.detach().to("cpu", _DTYPES[kernel_dtype])
    y = inputs.fake_features.detach().to("cpu", _DTYPES[kernel_dtype])
    m = min(subset_size, x.shape[0], y.shape[0])
    gen = generator(inputs.seed)
    # subset s draws its real rows, then its fake rows, from the one seeded generator
    draws = [(torch.randperm(x.shape[0], generator=gen)[:m], torch.randperm(y.shape[0], generator=gen)[:m])
             for _ in range(subsets)]
    per_batch = max(1, _BATCH_BYTES // (m * m * x.element_size()))
    scores = torch.cat([
        mmd2_unbiased(x[torch.stack([i for i, _ in chunk])], y[torch.stack([j for _, j in chunk])], degree, gamma, coef)
        for chunk in (draws[b:b + per_batch] for b in range(0, subsets, per_batch))
    ])
    return {"kid": float(scores.mean()), "kid_std": float(scores.std(unbiased=False))}
