"""Parzen-window log-likelihood against scipy densities and the validation-σ protocol."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from condgan.metrics import METRICS, MetricInputs
from condgan.metrics.base import canonical_order
from condgan.metrics.parzen import parzen_log_likelihood


def scipy_kde_logpdf(x, centers, sigma):
    """log (1/N Σ_i N(x; μ_i, σ² I)) with scipy's Gaussian log-density."""
    d = centers.shape[1]
    per_center = np.stack([multivariate_normal(mean=c, cov=sigma**2 * np.eye(d)).logpdf(x) for c in centers])
    return logsumexp(per_center, axis=0) - math.log(len(centers))


def test_parzen_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    centers, x = rng.normal(size=(60, 5)) + 2.0, rng.normal(size=(40, 5)) + 2.0
    got = parzen_log_likelihood(torch.from_numpy(x), torch.from_numpy(centers), [0.3, 1.0], block_mb=1e-3)
    for j, sigma in enumerate([0.3, 1.0]):
        # the exponentials are summed in float32 (see parzen_log_likelihood): ~1e-7 absolute
        np.testing.assert_allclose(got[:, j].numpy(), scipy_kde_logpdf(x, centers, sigma), rtol=0, atol=2e-6)


def test_parzen_picks_sigma_on_the_validation_part_and_reports_the_test_part():
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.normal(size=(200, 3)))
    fake = torch.from_numpy(rng.normal(size=(300, 3)))
    grid = np.logspace(-1, 0.3, 14).tolist()
    # a small validation part, so its best σ differs from the test part's: shows which one chose
    out = METRICS.get("parzen")(MetricInputs(real_features=real, fake_features=fake, seed=3), sigmas=grid,
                                val_size=20)
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(3))
    real = real[canonical_order(real)]  # the split is drawn over the rows in canonical order
    val, test = real[perm[:20]].numpy(), real[perm[20:]].numpy()
    best_val = max(grid, key=lambda s: scipy_kde_logpdf(val, fake.numpy(), s).mean())
    best_test = max(grid, key=lambda s: scipy_kde_logpdf(test, fake.numpy(), s).mean())
    assert out["parzen_sigma"] == best_val != best_test
    ll = scipy_kde_logpdf(test, fake.numpy(), best_val)
    assert out["parzen_ll"] == pytest.approx(ll.mean(), abs=2e-6)
    assert out["parzen_ll_se"] == pytest.approx(ll.std(ddof=1) / math.sqrt(len(ll)), rel=1e-4)


def test_parzen_approaches_the_true_log_likelihood_with_many_samples():
    # for N(0, I₂) data the expected log-density is −log(2πe) ≈ −2.838; the default grid must find it
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2000, 2, generator=g), torch.randn(4000, 2, generator=g)
    out = METRICS.get("parzen")(MetricInputs(real_features=real, fake_features=fake))
    assert out["parzen_ll"] == pytest.approx(-math.log(2 * math.pi * math.e), abs=0.1)
