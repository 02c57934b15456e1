"""Fréchet distances between Gaussian fits of features: FID and intra-class FID.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium"; docs/evaluation.md):

    FID = |μ_r − μ_g|² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})

with μ, Σ the mean and unbiased (N−1) covariance of extractor features, all in float64.
Intra-class FID (Miyato & Koyama 2018, cGANs with projection discriminator) is the FID
between real class-y features and the fakes generated with target y, averaged over classes:

    intra_fid = 1/|S| Σ_{y ∈ S} FID(real class y, fakes with target y)

S is the set of classes with enough samples for a non-degenerate Gaussian fit: at least F + 1
real samples (F = feature dimensions; with fewer, the real class covariance is singular and the
per-class FID is dominated by estimation bias) and at least 2 fakes. The other classes are
*flagged*: left out of the average (never averaged silently, never an error that would abort an
evaluation or a training run), counted in 'intra_fid/flagged', and listed by
`intra_fid_flagged_classes` so a runner can report them.
"""

from __future__ import annotations

import warnings
from typing import Union

import numpy as np
import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, register_metric
from condgan.metrics.gaussian import GaussianStats

ArrayLike = Union[np.ndarray, torch.Tensor]


def _np64(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def fid_from_stats(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                   eps: float = 1e-6) -> float:
    """FID = |μ1 − μ2|² + Tr(Σ1) + Tr(Σ2) − 2 Tr((Σ1 Σ2)^{1/2}), float64.

    The matrix square root is scipy.linalg.sqrtm, handled the standard way (pytorch-fid /
    TTUR reference code): if the product is singular and the root comes out non-finite, retry
    with eps·I added to both covariances; a tiny imaginary part (numerical noise) is dropped.
    Unlike the reference, a large imaginary part also triggers the eps retry before giving up
    (small per-class sample sets, as in intra-FID, make rank-deficient products common).
    """
    from scipy import linalg  # lazy: keep `import condgan.metrics` light

    mu1, mu2, sigma1, sigma2 = _np64(mu1), _np64(mu2), _np64(sigma1), _np64(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise CondganError(
            f"FID statistics disagree in shape: mu {mu1.shape} / {mu2.shape}, "
            f"sigma {sigma1.shape} / {sigma2.shape}"
        )

    def sqrt_trace(s1, s2):
        with warnings.catch_warnings():
            # "matrix is singular": expected with few samples per dimension, handled below
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            root = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(root).all():
            return None
        if np.iscomplexobj(root):
            if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
                return None
            root = root.real
        return float(np.trace(root))

    tr_covmean = sqrt_trace(sigma1, sigma2)
    if tr_covmean is None:
        offset = np.eye(sigma1.shape[0]) * eps
        tr_covmean = sqrt_trace(sigma1 + offset, sigma2 + offset)
        if tr_covmean is None:
            raise CondganError(
                "FID: (Σ1 Σ2)^{1/2} is not real even after adding eps to the diagonal; "
                "the feature covariances are degenerate (use more samples than feature dims)"
            )
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_between(a: GaussianStats, b: GaussianStats, eps: float = 1e-6) -> float:
    return fid_from_stats(a.mean, a.cov, b.mean, b.cov, eps=eps)


@register_metric("fid", needs={"real_features|real_stats", "fake_features"}, higher_is_better={"fid": False})
def fid(inputs: MetricInputs, eps: float = 1e-6) -> dict[str, float]:
    """FID between real (cached `real_stats` if given) and fake features; see module docstring."""
    real = inputs.real_stats if inputs.real_stats is not None else GaussianStats.of(inputs.real_features)
    return {"fid": fid_between(real, GaussianStats.of(inputs.fake_features), eps=eps)}


def intra_fid_min_real(num_features: int, min_real_per_class: int | None = None) -> int:
    """Real samples a class needs for intra-FID: `min_real_per_class`, default F + 1."""
    return num_features + 1 if min_real_per_class is None else int(min_real_per_class)


def intra_fid_flagged_classes(real_labels: torch.Tensor, fake_labels: torch.Tensor, min_real: int,
                              min_fake: int = 2) -> dict[int, tuple[int, int]]:
    """{class: (real count, fake count)} of the classes (present among real or fake labels) that
    intra-FID leaves out: fewer than `min_real` real or fewer than `min_fake` fake samples."""
    real_y, fake_y = real_labels.long().cpu(), fake_labels.long().cpu()
    flagged = {}
    for y in torch.unique(torch.cat([real_y, fake_y])).tolist():
        n_real, n_fake = int((real_y == y).sum()), int((fake_y == y).sum())
        if n_real < min_real or n_fake < min_fake:
            flagged[y] = (n_real, n_fake)
    return flagged


@register_metric(
    "intra_fid",
    needs={"real_features", "real_labels", "fake_features", "fake_labels"},
    higher_is_better={"intra_fid": False},
)
def intra_fid(inputs: MetricInputs, eps: float = 1e-6, min_real_per_class: int | None = None) -> dict[str, float]:
    """intra_fid = mean over the classes with enough samples of FID(real class y, fakes with
    target y); see the module docstring. `min_real_per_class` defaults to F + 1.

    Returns every computed per-class value as 'intra_fid/<y>', and 'intra_fid/flagged' (the
    number of classes left out) when some are; 'intra_fid' itself is absent when every class is
    flagged."""
    real_y, fake_y = inputs.real_labels.long(), inputs.fake_labels.long()
    min_real = intra_fid_min_real(inputs.real_features.shape[1], min_real_per_class)
    flagged = intra_fid_flagged_classes(real_y, fake_y, max(2, min_real))
    out: dict[str, float] = {}
    for y in torch.unique(torch.cat([real_y, fake_y])).tolist():
        if y in flagged:
            continue
        out[f"intra_fid/{y}"] = fid_between(
            GaussianStats.of(inputs.real_features[real_y == y]), GaussianStats.of(inputs.fake_features[fake_y == y]), eps
        )
    head = {"intra_fid": float(np.mean(list(out.values())))} if out else {}
    tail = {"intra_fid/flagged": float(len(flagged))} if flagged else {}
    return {**head, **out, **tail}
