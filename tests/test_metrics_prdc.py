"""Precision / recall / density / coverage against the authors' `prdc` package (Naeem et al. 2020)."""

import numpy as np
import pytest
import torch
from prdc import compute_prdc as reference_prdc

from condgan.metrics import METRICS, MetricInputs
from condgan.metrics.knn import kth_neighbour_sq_dists


def features(n_real, n_fake, dim, seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim)).astype(np.float32)
    # fakes: shifted and narrower, so all four numbers are away from 0 and 1
    fake = (0.8 * rng.normal(size=(n_fake, dim)) + 0.3).astype(np.float32)
    return real, fake


def ours(real, fake, **opts):
    return METRICS.get("prdc")(MetricInputs(real_features=torch.from_numpy(real),
                                            fake_features=torch.from_numpy(fake)), **opts)


@pytest.mark.parametrize("n_real,n_fake,dim", [(300, 300, 2), (700, 500, 16), (1000, 1200, 64)])
def test_prdc_matches_the_prdc_package(n_real, n_fake, dim):
    real, fake = features(n_real, n_fake, dim, seed=dim)
    got = ours(real, fake)
    ref_pr = reference_prdc(real, fake, nearest_k=3)  # precision / recall use k = 3
    ref_dc = reference_prdc(real, fake, nearest_k=5)  # density / coverage use k = 5
    for key, ref in (("precision", ref_pr), ("recall", ref_pr), ("density", ref_dc), ("coverage", ref_dc)):
        assert got[key] == pytest.approx(float(ref[key]), abs=1e-5), key
    # non-degenerate, and k = 3 vs k = 5 matters here, so swapping the ks would be caught
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1
    assert ref_pr["recall"] != ref_dc["recall"] and ref_pr["density"] != ref_dc["density"]


def test_prdc_ks_are_options():
    real, fake = features(400, 400, 8, seed=1)
    got = ours(real, fake, k_pr=5, k_dc=3)
    ref5, ref3 = reference_prdc(real, fake, nearest_k=5), reference_prdc(real, fake, nearest_k=3)
    assert got["precision"] == pytest.approx(ref5["precision"], abs=1e-9)
    assert got["recall"] == pytest.approx(ref5["recall"], abs=1e-9)
    assert got["density"] == pytest.approx(ref3["density"], abs=1e-9)
    assert got["coverage"] == pytest.approx(ref3["coverage"], abs=1e-9)


def test_prdc_block_size_does_not_change_the_result():
    # blocks of a few rows exercise the running any (recall) and running min (coverage) across blocks
    real, fake = features(600, 450, 12, seed=2)
    assert ours(real, fake, block_mb=0.01) == ours(real, fake, block_mb=64)


def test_prdc_float32_distances_agree_closely():
    real, fake = features(800, 800, 32, seed=3)
    a, b = ours(real, fake), ours(real, fake, dtype="float32")
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=5e-3)


def test_kth_neighbour_radius_counts_the_point_itself_as_neighbour_zero():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    radii = kth_neighbour_sq_dists(x, [1, 2], block_mb=1e-5)  # one row per block
    assert radii[1].tolist() == [1.0, 1.0, 4.0, 16.0]
    assert radii[2].tolist() == [9.0, 4.0, 9.0, 36.0]
