"""FID, intra-FID, GaussianStats and KID against independent float64 references and torchmetrics."""

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from condgan.errors import CondganError
from condgan.metrics import METRICS, GaussianStats, MetricInputs, fid_from_stats


class GivenFeatures(torch.nn.Module):
    """A torchmetrics 'feature extractor' whose inputs already are the features."""

    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def correlated_features(n, d, seed, shift=0.0):
    """Gaussian features with a random non-diagonal covariance and mean `shift`."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift


def numpy_fid(a, b):
    """FID written independently: Tr((Σ1Σ2)^{1/2}) = Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2})), a symmetric
    PSD matrix, so eigh gives it without scipy.linalg.sqrtm."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def test_gaussian_stats_streaming_equals_one_shot_numpy():
    x = correlated_features(1003, 12, seed=0, shift=1e3)  # large offset: naive Σxxᵀ − nμμᵀ loses digits
    stats = GaussianStats()
    for batch in torch.split(x, [1, 500, 2, 300, 200]):
        stats.update(batch)
    np.testing.assert_allclose(stats.mean.numpy(), x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-9, atol=1e-9)
    # float32 batches are accumulated in float64 too
    assert GaussianStats.of(x.float()).mean.dtype == torch.float64
    assert stats.n == 1003


def test_gaussian_stats_state_dict_round_trip_and_merge():
    x = correlated_features(400, 6, seed=1)
    a, b = GaussianStats.of(x[:150]), GaussianStats.of(x[150:])
    restored = GaussianStats.from_state_dict(a.state_dict())
    restored.merge(b)
    whole = GaussianStats.of(x)
    assert restored.n == whole.n
    torch.testing.assert_close(restored.mean, whole.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(restored.cov, whole.cov, rtol=1e-10, atol=1e-12)
    with pytest.raises(CondganError):
        GaussianStats.of(x[:1]).cov


@pytest.mark.parametrize("n,d", [(600, 8), (2000, 32)])
def test_fid_matches_independent_numpy_reference(n, d):
    real = correlated_features(n, d, seed=2)
    fake = correlated_features(n + 37, d, seed=3, shift=0.3)
    got = METRICS.get("fid")(MetricInputs(real_features=real, fake_features=fake))["fid"]
    assert got == pytest.approx(numpy_fid(real, fake), rel=1e-7)


def test_fid_matches_torchmetrics():
    d = 16
    real, fake = correlated_features(1500, d, seed=4), correlated_features(1200, d, seed=5, shift=0.2)
    tm = FrechetInceptionDistance(feature=GivenFeatures(d))
    for batch in real.split(256):
        tm.update(batch, real=True)
    for batch in fake.split(256):
        tm.update(batch, real=False)
    ours = METRICS.get("fid")(MetricInputs(real_features=real.float(), fake_features=fake.float()))["fid"]
    assert ours == pytest.approx(float(tm.compute()), rel=1e-5)


def test_fid_of_identical_sets_is_zero_and_cached_stats_give_the_same_number():
    x = correlated_features(500, 10, seed=6)
    assert METRICS.get("fid")(MetricInputs(real_features=x, fake_features=x))["fid"] == pytest.approx(0, abs=1e-8)
    fake = correlated_features(500, 10, seed=7)
    from_features = METRICS.get("fid")(MetricInputs(real_features=x, fake_features=fake))["fid"]
    stats = GaussianStats.from_state_dict(GaussianStats.of(x).state_dict())
    from_stats = METRICS.get("fid")(MetricInputs(real_stats=stats, fake_features=fake))["fid"]
    assert from_stats == from_features


def test_fid_with_rank_deficient_covariances_matches_reference():
    # fewer samples than dims: Σ1Σ2 is singular and sqrtm returns a root with a tiny imaginary part
    real, fake = correlated_features(20, 64, seed=8), correlated_features(20, 64, seed=9)
    value = fid_from_stats(real.mean(0), torch.cov(real.T), fake.mean(0), torch.cov(fake.T))
    assert value == pytest.approx(numpy_fid(real, fake), rel=1e-6)


def test_intra_fid_is_the_mean_of_per_class_fids():
    k = 3
    real = correlated_features(900, 6, seed=10)
    fake = correlated_features(750, 6, seed=11)
    g = torch.Generator().manual_seed(0)
    real_y, fake_y = torch.randint(k, (900,), generator=g), torch.randint(k, (750,), generator=g)
    fake = fake + fake_y[:, None].double()  # class-dependent shift so classes differ
    out = METRICS.get("intra_fid")(MetricInputs(real_features=real, fake_features=fake,
                                                 real_labels=real_y, fake_labels=fake_y))
    per_class = [numpy_fid(real[real_y == y], fake[fake_y == y]) for y in range(k)]
    for y in range(k):
        assert out[f"intra_fid/{y}"] == pytest.approx(per_class[y], rel=1e-7)
    assert out["intra_fid"] == pytest.approx(np.mean(per_class), rel=1e-7)
    assert set(out) == {"intra_fid"} | {f"intra_fid/{y}" for y in range(k)}


def numpy_unbiased_mmd2(x, y):
    """Brute-force unbiased MMD² with k(a, b) = (aᵀb/d + 1)³, explicit double loop over pairs' sums."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, d = x.shape
    kern = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = kern(x, x), kern(y, y), kern(x, y)
    off = ~np.eye(m, dtype=bool)
    return kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean()


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_on_the_whole_set_matches_numpy_and_torchmetrics():
    n, d = 400, 24
    real, fake = correlated_features(n, d, seed=12), correlated_features(n, d, seed=13, shift=0.1)
    inputs = MetricInputs(real_features=real, fake_features=fake)
    ours = METRICS.get("kid")(inputs, subsets=1, subset_size=n, max_subset_fraction=1.0, kernel_dtype="float64")
    assert ours["kid"] == pytest.approx(numpy_unbiased_mmd2(real, fake), rel=1e-10)
    assert ours["kid_std"] == 0.0
    # the default float32 kernels (float64 sums) stay within ~1e-7 relative
    fast = METRICS.get("kid")(inputs, subsets=1, subset_size=n, max_subset_fraction=1.0)
    assert fast["kid"] == pytest.approx(ours["kid"], rel=2e-6)
    tm = KernelInceptionDistance(feature=GivenFeatures(d), subsets=1, subset_size=n)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    assert ours["kid"] == pytest.approx(float(tm.compute()[0]), rel=1e-8)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_whitened_kid_is_torchmetrics_kid_of_the_whitened_features():
    """feature_scale=whiten only maps the features (by the real set's mean and covariance, the same
    map for both sets); the kernel, the estimator and the subsets are the standard ones."""
    from condgan.metrics.kid import whitening

    n, d = 300, 10
    g = torch.Generator().manual_seed(20)
    mix = (torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(d, d, generator=g, dtype=torch.float64)) \
        * torch.logspace(-1, 1, d, dtype=torch.float64)  # correlated, in units 100× apart
    real = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix
    fake = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + 0.05
    ours = METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), subsets=1, subset_size=n,
                              max_subset_fraction=1.0, feature_scale="whiten", kernel_dtype="float64")
    white = whitening(real, "whiten")
    wr, wf = white(real), white(fake)
    assert wr.mean(0).abs().max() < 1e-10 and torch.allclose(torch.cov(wr.T), torch.eye(d, dtype=torch.float64))
    tm = KernelInceptionDistance(feature=GivenFeatures(d), subsets=1, subset_size=n)
    tm.update(wr, real=True)
    tm.update(wf, real=False)
    assert ours["kid"] == pytest.approx(float(tm.compute()[0]), rel=1e-8)
    assert ours["kid"] == pytest.approx(numpy_unbiased_mmd2(wr, wf), rel=1e-10)


def test_whitened_kid_ignores_the_units_of_the_features():
    """Any invertible affine map of the features (the same for both sets) leaves whitened KID
    unchanged: the score no longer depends on the units a classifier's features come in. (On the
    whole sets: subsets are drawn over the canonical order, which is an order of the bytes.)"""
    g = torch.Generator().manual_seed(5)
    well_conditioned = torch.eye(6, dtype=torch.float64) + 0.3 * torch.randn(6, 6, generator=g, dtype=torch.float64)
    real = torch.randn(400, 6, generator=g, dtype=torch.float64) @ well_conditioned
    fake = torch.randn(400, 6, generator=g, dtype=torch.float64) @ well_conditioned + 0.2
    units = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))[0] * torch.logspace(-1, 1, 6, dtype=torch.float64)
    opts = dict(feature_scale="whiten", subsets=1, subset_size=400, max_subset_fraction=1.0, kernel_dtype="float64")
    a = METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), **opts)
    b = METRICS.get("kid")(MetricInputs(real_features=real @ units + 7, fake_features=fake @ units + 7), **opts)
    raw = dict(opts, feature_scale="none")
    c = METRICS.get("kid")(MetricInputs(real_features=real @ units + 7, fake_features=fake @ units + 7), **raw)
    assert b["kid"] == pytest.approx(a["kid"], rel=1e-8)
    assert c["kid"] != pytest.approx(METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), **raw)["kid"], rel=0.5)


def test_whitened_kid_sees_a_difference_that_one_dominant_direction_hides():
    """The domain classifier's case in miniature: one high-variance direction (class identity)
    dominates raw features; the fakes differ from the reals only in the low-variance ones. Raw
    KID cannot tell them apart from held-out real data; whitened KID separates them by > 3 std,
    and held-out real data still scores ≈ 0."""
    g = torch.Generator().manual_seed(0)

    def features(n, shift):
        x = torch.randn(n, 16, generator=g, dtype=torch.float64) * 0.2
        x[:, 0] = torch.randint(0, 10, (n,), generator=g).double() * 10  # 10 far-apart "classes"
        x[:, 1:] += shift
        return x

    real, held_out, fake = features(4000, 0.0), features(2000, 0.0), features(2000, 0.03)
    rows = {}
    for scale in ("none", "whiten"):
        kid = lambda f: METRICS.get("kid")(MetricInputs(real_features=real, fake_features=f),  # noqa: E731
                                           feature_scale=scale, subsets=30)
        rows[scale] = kid(fake), kid(held_out)
    for scale, (gan, base) in rows.items():
        separation = (gan["kid"] - base["kid"]) / max(gan["kid_std"], base["kid_std"])
        assert (separation > 3) == (scale == "whiten"), (scale, separation)
    base = rows["whiten"][1]
    assert abs(base["kid"]) < 3 * base["kid_std"]


def test_kid_subsets_are_at_most_half_the_smaller_set():
    """With 40 fakes, subsets of 20: each holds a different half of the fakes, so kid_std
    includes the fakes' own sampling noise (subsets of all 40 would repeat them every time)."""
    real, fake = correlated_features(1000, 4, seed=24), correlated_features(40, 4, seed=25)
    out = METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), subsets=20)
    assert out["kid_subset_size"] == 20
    whole = METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), subsets=20,
                               max_subset_fraction=1.0)
    assert whole["kid_subset_size"] == 40 and out["kid_std"] > whole["kid_std"]


def test_kid_is_unbiased_for_samples_of_the_same_distribution():
    # the biased V-statistic (diagonal kept) is clearly positive here; the unbiased mean is ~0
    d, m = 16, 200
    real, fake = correlated_features(6000, d, seed=14).split(3000)
    out = METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake), subsets=40, subset_size=m)
    x, y = real[:m].numpy(), fake[:m].numpy()
    kern = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    biased = kern(x, x).mean() + kern(y, y).mean() - 2 * kern(x, y).mean()
    assert biased > 0.02
    assert abs(out["kid"]) < 0.1 * biased
    assert out["kid_std"] > 0


def test_kid_caps_subset_size_and_is_seeded():
    real, fake = correlated_features(150, 8, seed=16), correlated_features(120, 8, seed=17, shift=0.5)

    def run(seed):
        return METRICS.get("kid")(MetricInputs(real_features=real, fake_features=fake, seed=seed), subsets=5)

    assert run(0) == run(0)
    assert run(0) != run(1)
    assert run(0)["kid"] > 0


def test_fid_retries_with_eps_when_the_root_has_a_large_imaginary_part(monkeypatch):
    # 8 samples in 32 dims, scaled up: sqrtm(Σ1Σ2) of these singular covariances comes out with
    # an imaginary diagonal of ~0.5 (> the 1e-3 tolerance), so fid_from_stats must retry with
    # eps·I added to both covariances; the retry's root is real up to ~1e-5.
    from scipy import linalg

    rng = np.random.default_rng(14)
    a, b = rng.normal(size=(8, 32)) * 30, rng.normal(size=(8, 32)) * 30
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    calls = []
    sqrtm = linalg.sqrtm

    def spy(m, *args, **kwargs):
        root = sqrtm(m, *args, **kwargs)
        calls.append(float(np.abs(np.diagonal(root).imag).max()) if np.iscomplexobj(root) else 0.0)
        return root

    monkeypatch.setattr(linalg, "sqrtm", spy)
    eps = 1e-6
    value = fid_from_stats(a.mean(0), s1, b.mean(0), s2, eps=eps)
    assert len(calls) == 2 and calls[0] > 1e-3 > calls[1]  # first root rejected, retry accepted
    # independent: Tr((Σ1'Σ2')^{1/2}) = Σ sqrt(eig(Σ1'^{1/2} Σ2' Σ1'^{1/2})) with Σ' = Σ + eps·I
    # (eigh, no sqrtm); the traces of the plain covariances, as in the FID formula
    e = eps * np.eye(32)
    w, v = np.linalg.eigh(s1 + e)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ (s2 + e) @ root1), 0, None)).sum()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
    assert value == pytest.approx(expected, rel=1e-6)


def test_intra_fid_flags_classes_with_too_few_real_samples_instead_of_failing():
    # class 2 has 5 real samples (< F + 1 = 7) and class 3 a single one: both are left out of the
    # average and counted; the old code raised for class 3 and averaged class 2 silently
    real = correlated_features(300, 6, seed=12)
    fake = correlated_features(300, 6, seed=13)
    real_y = torch.cat([torch.zeros(150), torch.ones(144), torch.full((5,), 2), torch.full((1,), 3)]).long()
    fake_y = torch.arange(300) % 4
    out = METRICS.get("intra_fid")(MetricInputs(real_features=real, fake_features=fake,
                                                 real_labels=real_y, fake_labels=fake_y))
    per_class = [numpy_fid(real[real_y == y], fake[fake_y == y]) for y in (0, 1)]
    assert out["intra_fid"] == pytest.approx(np.mean(per_class), rel=1e-7)
    assert out["intra_fid/flagged"] == 2.0 and "intra_fid/2" not in out and "intra_fid/3" not in out
    # the threshold is an option; with 5 allowed, class 2 counts again
    five = METRICS.get("intra_fid")(MetricInputs(real_features=real, fake_features=fake, real_labels=real_y,
                                                  fake_labels=fake_y), min_real_per_class=5)
    assert "intra_fid/2" in five and five["intra_fid/flagged"] == 1.0
    # every class flagged: no average at all (not NaN, not an error)
    none = METRICS.get("intra_fid")(MetricInputs(real_features=real, fake_features=fake, real_labels=real_y,
                                                  fake_labels=fake_y), min_real_per_class=1000)
    assert none == {"intra_fid/flagged": 4.0}
