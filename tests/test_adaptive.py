"""ADA's augmentation pipeline (each operation against an exact reference on the same draws,
probabilities, differentiability to second order), the overfitting heuristic's p update against
its formula, APA's replacement of reals, and config-time errors."""

from __future__ import annotations

import math

import pytest
import torch

from condgan.adaptive import AdaptiveAugment, AdaptiveProbability, expand_operations, pseudo_augment
from condgan.adaptive.pipeline import resample, rotate2d, scale2d, translate2d
from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.losses.conditioning import Labels

f64 = torch.float64


def images(n=6, c=1, h=8, w=8, seed=1):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=f64)


def augment(ops, p, seed=3):
    return AdaptiveAugment(ops, torch.Generator().manual_seed(seed), p)


# ------------------------------------------------------------------ pipeline
def test_groups_expand_in_canonical_order_and_unknown_names_fail():
    assert expand_operations(["color", "xflip"]) == ["xflip", "brightness", "contrast", "lumaflip", "hue", "saturation"]
    assert len(expand_operations(["bgc"])) == 12
    with pytest.raises(CondganError, match="did you mean 'rotate90'"):
        expand_operations(["rotate9"])


def test_p_zero_is_the_identity_without_draws():
    x = images()
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert AdaptiveAugment(["bgc", "cutout", "noise"], gen, 0.0)(x) is x
    assert torch.equal(gen.get_state(), state)


def test_identity_resampling_is_exact_and_rotation_by_90_is_rot90():
    x = images(n=2, h=6, w=6)
    eye = torch.eye(3, dtype=f64).repeat(2, 1, 1)
    assert torch.equal(resample(x, eye), x)
    quarter = rotate2d(torch.full((2,), math.pi / 2, dtype=f64)).round()
    assert torch.equal(resample(x, quarter), torch.rot90(x, 1, dims=(2, 3)))   # inverse: out → in


def test_resample_matches_a_per_pixel_bilinear_loop_with_mirrored_borders():
    x = images(n=1, h=5, w=7)
    inverse = (rotate2d(torch.tensor([0.3], dtype=f64)) @ scale2d(torch.tensor([1.3], dtype=f64),
                                                                 torch.tensor([0.8], dtype=f64))
               @ translate2d(torch.tensor([1.7], dtype=f64), torch.tensor([-2.2], dtype=f64)))
    out = resample(x, inverse)
    h, w = 5, 7
    cx, cy = (w - 1) / 2, (h - 1) / 2

    def mirror(i, n):
        while i < 0 or i > n - 1:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i

    for i in range(h):
        for j in range(w):
            u, v, _ = (inverse[0] @ torch.tensor([j - cx, i - cy, 1.0], dtype=f64)).tolist()
            u, v = u + cx, v + cy
            u0, v0 = math.floor(u), math.floor(v)
            fu, fv = u - u0, v - v0
            val = sum(x[0, 0, mirror(v0 + dv, h), mirror(u0 + du, w)] * (fu if du else 1 - fu) * (fv if dv else 1 - fv)
                      for du in (0, 1) for dv in (0, 1))
            assert out[0, 0, i, j].item() == pytest.approx(val.item(), abs=1e-12)


def test_xflip_and_rotate90_give_exact_pixel_permutations():
    x = images(n=40, h=6, w=6)
    out = augment(["xflip"], 1.0)(x)
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    assert all(f or torch.equal(o, xi) for f, o, xi in zip(flipped, out, x))
    assert 5 < sum(flipped) < 35                      # i ~ U{0, 1}
    out = augment(["rotate90"], 1.0)(x)
    ks = [next(k for k in range(4) if torch.equal(o, torch.rot90(xi, k, dims=(1, 2)))) for o, xi in zip(out, x)]
    assert set(ks) == {0, 1, 2, 3}


def test_integer_translation_matches_a_pixel_loop_on_the_same_draws():
    x = images(n=5, h=8, w=8)
    out = augment(["xint"], 0.7, seed=5)(x)
    g = torch.Generator().manual_seed(5)
    t = (torch.rand(10, generator=g, dtype=f64).reshape(5, 2) * 2 - 1) * 0.125
    keep = torch.rand(5, generator=g, dtype=f64) < 0.7
    t = torch.where(keep[:, None], t, torch.zeros_like(t))
    tx, ty = torch.round(t[:, 0] * 8).long(), torch.round(t[:, 1] * 8).long()
    mirror = lambda i: abs(i) if i < 8 else 14 - i  # noqa: E731  (reflect, size 8)
    for b in range(5):
        want = torch.stack([torch.stack([x[b, 0, mirror(i - int(ty[b])), mirror(j - int(tx[b]))]
                                         for j in range(8)]) for i in range(8)])
        assert torch.equal(out[b, 0], want)
    assert (tx != 0).any() and (~keep).any()


def test_color_operations():
    x = images(n=30, c=3)
    # brightness: one offset per image; contrast: one factor per image (about 0).
    d = augment(["brightness"], 1.0)(x) - x
    assert torch.allclose(d, d[:, :1, :1, :1].expand_as(d)) and d.abs().max() > 0
    r = augment(["contrast"], 1.0)(x) / x
    assert torch.allclose(r, r[:, :1, :1, :1].expand_as(r))
    # luma flip: Householder reflection about the luma axis v = (1, 1, 1)/√3: x − 2 v vᵀ x.
    out = augment(["lumaflip"], 1.0)(x)
    reflected = x - 2 * x.mean(dim=1, keepdim=True)
    assert all(torch.allclose(o, xi) or torch.allclose(o, ri) for o, xi, ri in zip(out, x, reflected))
    # hue rotates and saturation scales about the luma axis: the channel mean is unchanged.
    for op in ("hue", "saturation"):
        out = augment([op], 1.0)(x)
        assert torch.allclose(out.mean(1), x.mean(1)) and not torch.allclose(out, x)
    # one channel: lumaflip negates, hue and saturation do nothing.
    gray = images(n=30)
    out = augment(["lumaflip"], 1.0)(gray)
    assert all(torch.allclose(o, xi) or torch.allclose(o, -xi) for o, xi in zip(out, gray))
    assert torch.equal(augment(["hue", "saturation"], 1.0)(gray), gray)


def test_each_operation_applies_with_probability_p():
    x = images(n=4000, h=4, w=4)
    out = augment(["xflip"], 0.3, seed=9)(x)
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert changed == pytest.approx(0.3 * 0.5, abs=0.03)   # applied w.p. p, and then i = 1 w.p. ½
    out = augment(["brightness"], 0.3, seed=9)(x)
    assert (out != x).flatten(1).any(1).float().mean().item() == pytest.approx(0.3, abs=0.03)


def test_cutout_and_noise():
    x = images(n=4, h=8, w=8) + 10
    out = augment(["cutout"], 1.0)(x)
    zeros = out == 0
    for z in zeros[:, 0]:                                   # one 4×4 square, clipped at the border
        rows, cols = z.any(1).nonzero().flatten(), z.any(0).nonzero().flatten()
        assert 2 <= len(rows) <= 4 and 2 <= len(cols) <= 4 and z.sum() == len(rows) * len(cols)
    noisy = augment(["noise"], 1.0)(x)
    assert not torch.allclose(noisy, x) and (noisy - x).std() < 0.5


def test_pipeline_is_differentiable_to_second_order():
    x = images(n=2, c=3, h=6, w=6).requires_grad_(True)

    def fn(v):  # the same draws every call
        return augment(["bgc", "cutout"], 0.8, seed=11)(v)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(lambda v: fn(v).square(), (x,))


def test_reproducible_from_the_generator():
    x = images(n=8, c=3)
    assert torch.equal(augment(["bgc"], 0.6, seed=2)(x), augment(["bgc"], 0.6, seed=2)(x))
    assert not torch.equal(augment(["bgc"], 0.6, seed=2)(x), augment(["bgc"], 0.6, seed=4)(x))


# ------------------------------------------------------------------ heuristic
def test_p_update_follows_the_formula():
    ctl = AdaptiveProbability(p=0.0, target=0.6, interval=2, kimg=0.5, images_per_step=64)
    assert ctl.step_size() == pytest.approx(2 * 64 / 500)
    ctl.observe(torch.tensor([1.0, 2.0, -1.0, 3.0]))          # signs 1, 1, −1, 1
    ctl.end_step(1)
    assert ctl.p == 0.0 and ctl.count == 4                      # not an adjustment step
    ctl.observe(torch.tensor([1.0, 1.0, 1.0, -2.0]))
    ctl.end_step(2)
    assert ctl.rt == pytest.approx(4 / 8) and ctl.count == 0
    assert ctl.p == 0.0                                         # r_t = 0.5 < 0.6: down, clipped at 0
    for step in (3, 4):
        ctl.observe(torch.ones(4))
    ctl.end_step(4)
    assert ctl.rt == 1.0 and ctl.p == pytest.approx(0.256)      # up by interval·batch/(kimg·1000)
    for _ in range(10):
        ctl.observe(torch.ones(4))
        ctl.end_step(6)
    assert ctl.p == 1.0                                         # clipped at 1


def test_fixed_p_boundary_and_state_round_trip():
    ctl = AdaptiveProbability(p=0.3, target=None, interval=1, kimg=1, images_per_step=8, boundary=0.5)
    assert ctl.observe(torch.tensor([0.6, 0.4, 0.9, 0.2])).item() == 0.0   # least squares: sign(o − ½)
    ctl.end_step(1)
    assert ctl.p == 0.3 and ctl.rt == 0.0
    ctl.observe(torch.tensor([1.0]))
    other = AdaptiveProbability(p=0.0, target=None, interval=1, kimg=1, images_per_step=8)
    other.load_state_dict(ctl.state_dict())
    assert (other.p, other.count, float(other.sign_sum), other.rt) == (0.3, 1, 1.0, 0.0)


def test_global_r_t_uses_the_reduction():
    ctl = AdaptiveProbability(p=0.5, target=0.0, interval=1, kimg=1, images_per_step=10)
    ctl.observe(torch.tensor([1.0, 1.0]))
    # Another process saw four negatives: the mean of (sum, count) over 2 ranks is ((2 − 4)/2, 3).
    ctl.end_step(1, reduce=lambda d: {"sum": (d["sum"] - 4) / 2, "count": (d["count"] + 4) / 2})
    assert ctl.rt == pytest.approx(-2 / 6) and ctl.p == pytest.approx(0.49)


# ------------------------------------------------------------------ APA
def test_pseudo_augmentation_swaps_images_and_labels_together():
    real = torch.zeros(200, 1, 2, 2)
    labels = Labels(torch.zeros(200, dtype=torch.long), torch.zeros(200, 3))

    def fakes(n):
        return torch.ones(n, 1, 2, 2), Labels(torch.full((n,), 2), torch.eye(3)[[2] * n])

    x, y, frac = pseudo_augment(real, labels, 0.0, fakes, torch.Generator().manual_seed(0))
    assert x is real and y is labels and frac == 0
    x, y, frac = pseudo_augment(real, labels, 0.3, fakes, torch.Generator().manual_seed(0))
    swapped = x.flatten(1).all(1)
    assert torch.equal(swapped, y.y == 2) and torch.equal(swapped, y.cnd[:, 2] == 1)
    assert frac.item() == pytest.approx(swapped.float().mean().item()) and 0.2 < frac < 0.4
    x, y, _ = pseudo_augment(real, labels, 1.0, fakes, torch.Generator().manual_seed(0))
    assert x.all() and (y.y == 2).all()
    # Fakes without labels (labeled after generation) keep the reals' labels.
    x, y, _ = pseudo_augment(real, labels, 1.0, lambda n: (torch.ones(n, 1, 2, 2), Labels(None, None)),
                             torch.Generator().manual_seed(0))
    assert x.all() and (y.y == 0).all()


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("overrides, message", [
    (["ada.p=1.5"], "ada.p"), (["apa.target=-0.1"], "apa.target"), (["ada.interval=0"], "ada.interval"),
    (["ada.kimg=0"], "ada.kimg"), (["ada.target=0.6", "ada.pipeline=[]"], "ada.pipeline"),
    (["ada.pipeline=[xflp]"], "xflip"),
])
def test_config_errors(overrides, message):
    with pytest.raises(CondganError, match=message):
        load_config("mnist5k-quickstart", overrides)


def test_rotation_about_the_luma_axis_by_120_degrees_permutes_channels():
    from condgan.adaptive.pipeline import luma_axis, rotate3d

    like = torch.zeros((), dtype=f64)
    m = rotate3d(luma_axis(like), torch.tensor([2 * math.pi / 3], dtype=f64))[0]
    assert torch.allclose(m[:3, :3], torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=f64), atol=1e-12)
    assert torch.allclose(m[3], torch.tensor([0.0, 0, 0, 1], dtype=f64))
