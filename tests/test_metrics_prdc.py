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


def brute_prdc(real, fake, k_pr=3, k_dc=5):
    """Precision / recall with '≤' and density / coverage with '<' (module docstring), from the
    full exact distance matrices (differences squared, so identical points are exactly 0)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def sq(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    rr, ff, fr = sq(real, real), sq(fake, fake), sq(fake, real)
    r_pr, r_dc = np.sort(rr, 1)[:, k_pr], np.sort(rr, 1)[:, k_dc]
    f_pr = np.sort(ff, 1)[:, k_pr]
    return {
        "precision": float((fr <= r_pr[None]).any(1).mean()),
        "recall": float((fr <= f_pr[:, None]).any(0).mean()),
        "density": float((fr < r_dc[None]).sum() / (k_dc * len(fake))),
        "coverage": float((fr.min(0) < r_dc).mean()),
    }


def test_full_mode_collapse_onto_a_duplicated_real_point():
    # 4 copies of a far-away real point p: with k = 3 its radius is 0. Every fake equals p.
    # With '≤' and exact zero distances, the fakes lie inside p's (zero-radius) ball: precision 1,
    # and the 4 copies are inside the fakes' zero-radius balls: recall 4 / N_r. With '<' (or a
    # distance that rounds to a tiny positive value) precision would be 0.
    rng = np.random.default_rng(0)
    p = np.full(8, 7.0) + rng.normal(size=8)
    real = np.concatenate([rng.normal(size=(200, 8)), np.repeat(p[None], 4, 0)]).astype(np.float32)
    fake = np.repeat(p[None], 50, 0).astype(np.float32)
    got = ours(real, fake)
    assert got["precision"] == 1.0 and got["recall"] == pytest.approx(4 / 204)
    # density / coverage keep prdc's strict '<': p's 5-NN radius is positive, so every fake is
    # strictly inside the 4 copies' balls (density 4/5) and the copies are covered
    assert got == pytest.approx(brute_prdc(real, fake), abs=1e-12)
    assert got["density"] == pytest.approx(0.8) and got["coverage"] == pytest.approx(4 / 204)


def test_duplicated_reals_and_fakes_ties_match_brute_force():
    # fakes are copies of some reals, reals contain duplicates: many exact ties at radius 0
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 5)).astype(np.float32) * 100 + 1000  # offset: the norm identity cancels
    real = np.concatenate([base, base[:20], base[:10]])
    fake = np.concatenate([base[5:45], rng.normal(size=(30, 5)).astype(np.float32) * 100 + 1000])
    got, ref = ours(real, fake), brute_prdc(real, fake)
    # zero-distance ties are exact; ties at a non-zero distance (a fake copying real i, at the
    # radius of real j whose k-th neighbour is i) are decided by float rounding in any
    # implementation, so density / coverage are only compared loosely here
    assert (got["precision"], got["recall"]) == (ref["precision"], ref["recall"])
    assert got["density"] == pytest.approx(ref["density"], abs=0.02)
    small_blocks = ours(real, fake, block_mb=0.001)
    assert (small_blocks["precision"], small_blocks["recall"]) == (ref["precision"], ref["recall"])


def test_identical_points_are_at_distance_exactly_zero():
    from condgan.metrics.knn import sq_distance_blocks

    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 64, generator=g, dtype=torch.float64) * 1e3 + 5e3  # large norms
    b = torch.cat([a[10:30], torch.randn(40, 64, generator=g, dtype=torch.float64) * 1e3 + 5e3])
    for dtype in (torch.float64, torch.float32):
        d = torch.cat([blk.clone() for _, blk in sq_distance_blocks(a.to(dtype), b.to(dtype), block_mb=0.01)])
        assert (d >= 0).all()
        assert torch.equal(d[torch.arange(10, 30), torch.arange(20)], torch.zeros(20, dtype=dtype))
        exact = ((a[:, None].to(dtype) - b[None].to(dtype)) ** 2).sum(-1)
        assert torch.allclose(d, exact, rtol=1e-4 if dtype == torch.float32 else 1e-9)
