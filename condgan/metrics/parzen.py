"""Parzen-window log-likelihood (Goodfellow et al. 2014, GAN paper §5; Breuleux et al. 2011).

For comparison with old papers only: it is a poor likelihood estimate in high dimensions
(Theis et al. 2016, "A note on the evaluation of generative models").

An isotropic Gaussian kernel density is fitted on the N_f fakes μ_i and evaluated on real points:

    log p_σ(x) = logsumexp_i(−‖x − μ_i‖² / (2σ²)) − log N_f − (d/2) log(2πσ²)

Protocol (Goodfellow 2014): σ is chosen on a validation set from a grid, the reported number is
the mean log-likelihood of a separate test set, with its standard error. Here the real test
features are split (seeded) into a validation part (`val_size` points, at most half) and a test
part (the rest). The default grid is s · logspace(−1.5, 0.5, num_sigmas), s = the fakes' RMS
per-dimension std, since feature scales are arbitrary (Goodfellow's grid logspace(−1, 0, 10)
assumed [0, 1] pixels). To evaluate raw pixels instead of features, pass flattened images as
the features.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, canonical_order, generator, register_metric
from condgan.metrics.knn import sq_distance_blocks


def parzen_log_likelihood(x: torch.Tensor, centers: torch.Tensor, sigmas: Sequence[float],
                          block_mb: float = 8.0) -> torch.Tensor:
    """(N_x, len(sigmas)) log-densities of x under the Gaussian KDE on `centers`, float64.

    Row blocks of x; the distances of a block are computed once (float64) and reused for every σ.
    logsumexp is done by hand around each row's nearest centre, lse = −d_min/(2σ²) +
    log Σ_i exp(−(d_i − d_min)/(2σ²)): every term is in (0, 1] and the largest is 1, so the
    exponentials and their sum run in float32 in one reused buffer (relative error ~1e-7 on a
    sum ≥ 1, i.e. ~1e-7 absolute in the log-likelihood) at half the memory traffic of float64.
    """
    shift = centers.detach().to("cpu", torch.float64).mean(0)
    c = centers.detach().to("cpu", torch.float64) - shift
    q = x.detach().to("cpu", torch.float64) - shift
    sig = torch.as_tensor(list(sigmas), dtype=torch.float64)
    n, d = c.shape
    const = -math.log(n) - 0.5 * d * torch.log(2 * math.pi * sig**2)
    out = torch.empty(q.shape[0], sig.numel(), dtype=torch.float64)
    excess = buf = None  # float32 work buffers, reused across blocks (see sq_distance_blocks)
    for rows, dist in sq_distance_blocks(q, c, block_mb):
        if excess is None:
            excess = torch.empty(dist.shape, dtype=torch.float32)
            buf = torch.empty_like(excess)
        e, b = excess[: dist.shape[0]], buf[: dist.shape[0]]
        d_min = dist.min(1, keepdim=True).values
        e.copy_(dist.sub_(d_min))  # the block is ours to overwrite until the next step
        for j, s in enumerate(sig.tolist()):
            scale = -0.5 / s**2
            torch.mul(e, scale, out=b).exp_()
            out[rows, j] = b.sum(1, dtype=torch.float64).log_() + d_min[:, 0] * scale
    return out + const


@register_metric("parzen", needs={"real_features", "fake_features"}, higher_is_better={"parzen_ll": True})
def parzen(inputs: MetricInputs, sigmas: Optional[Sequence[float]] = None, num_sigmas: int = 10,
           val_size: int = 1000, block_mb: float = 8.0) -> dict[str, float]:
    """Test-part mean log-likelihood 'parzen_ll', its standard error 'parzen_ll_se' and the σ
    chosen on the validation part 'parzen_sigma'. The validation part is `val_size` seeded random
    real points (at most half of them): choosing among ~10 σ a factor 1.7 apart needs far fewer
    points than the final estimate, and the grid search is the expensive part (len(grid) passes)."""
    real, fake = inputs.real_features, inputs.fake_features
    n_val = min(int(val_size), real.shape[0] // 2)
    if n_val < 1:
        raise CondganError(
            f"parzen needs at least 2 real points and val_size ≥ 1, got {real.shape[0]} and {val_size}"
        )
    real = real[canonical_order(real)]  # the split depends on the set, not its storage order
    perm = torch.randperm(real.shape[0], generator=generator(inputs.seed))
    val, test = real[perm[:n_val]], real[perm[n_val:]]
    if sigmas is None:
        scale = float(fake.detach().to(torch.float64).var(0).mean().sqrt())
        sigmas = (scale * torch.logspace(-1.5, 0.5, num_sigmas, dtype=torch.float64)).tolist()
    sigma = list(sigmas)[int(parzen_log_likelihood(val, fake, sigmas, block_mb).mean(0).argmax())]
    ll = parzen_log_likelihood(test, fake, [sigma], block_mb)[:, 0]
    se = float(ll.std() / math.sqrt(ll.numel())) if ll.numel() > 1 else float("nan")
    return {"parzen_ll": float(ll.mean()), "parzen_ll_se": se, "parzen_sigma": float(sigma)}
