"""k-NN manifold metrics: improved precision / recall and density / coverage (docs/evaluation.md).

Let r_k(x) be the distance from x to its k-th nearest neighbour in its own set (knn.py), real
set {x_j} (N_r), fake set {y_i} (N_f), 1[·] the indicator.

Improved precision / recall (Kynkäänniemi et al. 2019), k = 3, with '≤' as in the authors'
reference code and stylegan2-ada (`distances <= radii`):

    precision = 1/N_f Σ_i 1[∃ j: ‖y_i − x_j‖ ≤ r_k(x_j)]    (fakes inside the real manifold)
    recall    = 1/N_r Σ_j 1[∃ i: ‖x_j − y_i‖ ≤ r_k(y_i)]    (reals inside the fake manifold)

Density / coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics"), k = 5, with
strict '<' exactly as the authors' `prdc` package defines them:

    density  = 1/(k N_f) Σ_i Σ_j 1[‖y_i − x_j‖ < r_k(x_j)]
    coverage = 1/N_r Σ_j 1[min_i ‖x_j − y_i‖ < r_k(x_j)]

The two comparisons differ only on ties, which continuous features almost never produce, but
duplicated points do: a point with k exact copies has radius 0, and a fully collapsed generator
(every fake the same point) has fake radii 0. With '≤' a fake equal to a real point is inside
that point's ball even when the radius is 0: a collapse onto a real image that occurs k or more
times in the real set keeps precision 1 (and recall counts those copies), while '<' scores
precision 0 for fakes that are literally real images. The `prdc` package itself uses '<' for
precision / recall too, so our precision / recall differ from it on such ties only. Distances of identical points are
exactly 0 (knn.py recomputes near-zero entries exactly), so zero-distance ties are decided on
exact values; ties at a non-zero distance (a fake copying real i, at exactly the k-NN radius of a
real j whose k-th neighbour is i) are decided by float rounding, as in every implementation.

One routine computes everything: the real radii for both k in one pass over real×real blocks,
the fake radii in one pass over fake×fake blocks, then all four sums in one pass over fake×real
blocks (running 'any' over blocks for recall and coverage). Memory is O(block + N), never
N_f × N_r. Distances are compared squared (same order), in float64 by default: that is what the
`prdc` package effectively does (sklearn upcasts float32 to float64 for euclidean distances), so
the two agree comparison for comparison (apart from '≤' vs '<' on ties). dtype="float32" makes the matmuls ~3× cheaper (prdc ~30 %
faster overall) and gave identical numbers on the 10k × 64 benchmark, but its rounding (~1e-7 of
‖x‖², more for long feature vectors) can flip borderline comparisons.
"""

from __future__ import annotations

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, register_metric
from condgan.metrics.knn import kth_neighbour_sq_dists, sq_distance_blocks

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def compute_prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = 3, k_dc: int = 5,
                 dtype: str = "float64", block_mb: float = 8.0) -> dict[str, float]:
    """Precision / recall with k_pr-NN radii and density / coverage with k_dc-NN radii."""
    if dtype not in _DTYPES:
        raise CondganError(f"prdc dtype must be one of {sorted(_DTYPES)}, got '{dtype}'")
    dt = _DTYPES[dtype]
    shift = real.detach().to("cpu", torch.float64).mean(0)  # distances are translation invariant
    x = (real.detach().to("cpu", torch.float64) - shift).to(dt)
    y = (fake.detach().to("cpu", torch.float64) - shift).to(dt)
    n_r, n_f = x.shape[0], y.shape[0]
    if n_r <= max(k_pr, k_dc) or n_f <= k_pr:
        raise CondganError(
            f"prdc needs more than {max(k_pr, k_dc)} real and more than {k_pr} fake feature rows (k-nearest-"
            f"neighbour radii, k = {k_pr} and {k_dc}), got {n_r} real and {n_f} fake: score against a larger "
            "real split (--real-split train), generate more samples, or leave prdc out of the metrics")

    real_radius = kth_neighbour_sq_dists(x, {k_pr, k_dc}, block_mb)
    fake_radius = kth_neighbour_sq_dists(y, {k_pr}, block_mb)[k_pr]
    r_pr, r_dc = real_radius[k_pr], real_radius[k_dc]

    precise = 0
    density_hits = 0
    recalled = torch.zeros(n_r, dtype=torch.bool)
    covered = torch.zeros(n_r, dtype=torch.bool)
    for rows, d in sq_distance_blocks(y, x, block_mb):  # d: (fake block, N_r)
        # count_nonzero: summing a bool tensor first widens it to int64, several times slower
        precise += int(torch.count_nonzero((d <= r_pr).any(1)))
        inside_dc = d < r_dc  # fake i strictly inside real j's k_dc-ball (prdc's definition)
        density_hits += int(torch.count_nonzero(inside_dc))
        covered |= inside_dc.any(0)  # min_i d_ij < r_j  ⟺  some fake is inside the ball
        recalled |= (d <= fake_radius[rows, None]).any(0)
    return {
        "precision": precise / n_f,
        "recall": float(recalled.double().mean()),
        "density": density_hits / (k_dc * n_f),
        "coverage": float(covered.double().mean()),
    }


@register_metric(
    "prdc",
    needs={"real_features", "fake_features"},
    higher_is_better={"precision": True, "recall": True, "density": True, "coverage": True},
)
def prdc(inputs: MetricInputs, k_pr: int = 3, k_dc: int = 5, dtype: str = "float64",
         block_mb: float = 8.0) -> dict[str, float]:
    """Improved precision / recall (k_pr = 3) and density / coverage (k_dc = 5); see module docstring."""
    return compute_prdc(inputs.real_features, inputs.fake_features, k_pr, k_dc, dtype, block_mb)
