"""SSIM / MS-SSIM against scikit-image and scipy.ndimage, and the intra-class collapse detector."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from condgan.metrics import METRICS, MetricInputs
from condgan.metrics.diversity import MS_SSIM_BETAS, ms_ssim, ms_ssim_scales, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def image_pairs(n, channels, size, seed, noise=0.5):
    """Smooth random images in [-1, 1] and noisy versions of them (SSIM well inside (0, 1))."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.normal(size=(n, channels, size, size)), sigma=(0, 0, 2, 2))
    x = np.clip(x / np.abs(x).max(), -1, 1)
    y = np.clip(x + noise * rng.normal(size=x.shape) * rng.random((n, 1, 1, 1)), -1, 1)
    return torch.from_numpy(x), torch.from_numpy(y)


def skimage_ssim(a, b):
    """Wang et al.'s settings in scikit-image (its docstring's recipe), channels first."""
    return skimage_metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=2.0, channel_axis=0
    )


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32), (1, 11)])
def test_ssim_matches_scikit_image(channels, size):
    x, y = image_pairs(6, channels, size, seed=size)
    got = ssim(x, y)
    ref = [skimage_ssim(a.numpy(), b.numpy()) for a, b in zip(x, y)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-12)
    assert 0.05 < min(ref) and max(ref) < 0.99


def test_ssim_of_identical_images_is_one_and_float32_inputs_work():
    x, _ = image_pairs(4, 3, 28, seed=0)
    torch.testing.assert_close(ssim(x, x), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(ssim(x.float(), x.float()), torch.ones(4, dtype=torch.float64))
    small = torch.rand(2, 1, 8, 8) * 2 - 1  # smaller than the 11-px window: a 7-px window is used
    torch.testing.assert_close(ssim(small, small), torch.ones(2, dtype=torch.float64))
    assert (ssim(small, small.flip(-1)) < 1).all()


def numpy_ms_ssim(a, b, scales):
    """Wang 2003 MS-SSIM written with scipy.ndimage: 11-tap Gaussian (σ 1.5, truncate 3.5) on
    valid positions, cs at every scale, luminance at the last, 2×2 block means between scales."""
    def stats(u, v):
        f = lambda t: np.stack([gaussian_filter(c, 1.5, truncate=3.5)[5:-5, 5:-5] for c in t])  # noqa: E731
        mu_u, mu_v = f(u), f(v)
        var_u, var_v, cov = f(u * u) - mu_u**2, f(v * v) - mu_v**2, f(u * v) - mu_u * mu_v
        c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
        cs = (2 * cov + c2) / (var_u + var_v + c2)
        return ((2 * mu_u * mu_v + c1) / (mu_u**2 + mu_v**2 + c1) * cs).mean(), cs.mean()

    w = np.array(MS_SSIM_BETAS[:scales]) / np.sum(MS_SSIM_BETAS[:scales])
    out = 1.0
    for j in range(scales):
        s, cs = stats(a, b)
        out *= max(s if j == scales - 1 else cs, 0) ** w[j]
        c, h, wd = a.shape
        a = a.reshape(c, h // 2, 2, wd // 2, 2).mean((2, 4))
        b = b.reshape(c, h // 2, 2, wd // 2, 2).mean((2, 4))
    return out


def test_ms_ssim_matches_a_scipy_reference_and_reduces_to_ssim_at_one_scale():
    # the coarsest scale must still hold the 11-px window
    assert [ms_ssim_scales(s, s) for s in (21, 22, 28, 44, 64, 176, 256)] == [1, 2, 2, 3, 3, 5, 5]
    for channels, size, scales in ((1, 64, 3), (3, 28, 2)):
        x, y = image_pairs(3, channels, size, seed=size, noise=0.3)
        got = ms_ssim(x, y)
        ref = [numpy_ms_ssim(a.numpy(), b.numpy(), scales) for a, b in zip(x, y)]
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
        assert not np.allclose(got.numpy(), ssim(x, y).numpy())
    x, y = image_pairs(3, 1, 21, seed=2)
    torch.testing.assert_close(ms_ssim(x, y), ssim(x, y))


def test_intra_ssim_flags_the_collapsed_class_and_never_pairs_an_image_with_itself():
    g = torch.Generator().manual_seed(0)
    diverse = torch.rand(20, 1, 28, 28, generator=g) * 2 - 1
    collapsed = (torch.rand(1, 1, 28, 28, generator=g) * 2 - 1).expand(20, 1, 28, 28)
    two = torch.rand(2, 1, 28, 28, generator=g) * 2 - 1  # class 2: only one distinct pair exists
    images = torch.cat([diverse, collapsed, two])
    labels = torch.tensor([0] * 20 + [1] * 20 + [2] * 2)
    out = METRICS.get("intra_ssim")(MetricInputs(fake_images=images, fake_labels=labels), pairs_per_class=50)
    assert out["intra_ssim/1"] == pytest.approx(1.0)
    assert out["intra_ssim/0"] < 0.2
    assert out["intra_ssim/2"] == pytest.approx(float(ssim(two[:1], two[1:])), rel=1e-12)
    assert out["intra_ssim/max"] == out["intra_ssim/1"]
    assert out["intra_ssim"] == pytest.approx(np.mean([out[f"intra_ssim/{y}"] for y in range(3)]))
