"""Progressive growing (Karras et al. 2018): the schedule, pixel norm, the fade-in of G's output,
of D's input path and of the reals, against hand computations; a bit-identical resume mid-fade."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from condgan.errors import CondganError
from condgan.nets.normalization import PixelNorm
from condgan.nets.progan import ProGANGenerator, ProGANTrunk, fade_reals, growth_stage, set_grow_step
from conftest import train_in_process as _run

PROGAN = ("model.net=progan", "model.g_norm=pixel", "model.equalized_lr=true", "model.d_minibatch_std=4")


def test_growth_stage_by_hand():
    """2 doublings, 3 stable steps, 2 fade steps: level 0 for steps 0–2; level 1 fades in at
    steps 3–4 (α = 0, ½), is stable at 5–7; level 2 fades in at 8–9, then stays."""
    want = [(0, 1.0)] * 3 + [(1, 0.0), (1, 0.5)] + [(1, 1.0)] * 3 + [(2, 0.0), (2, 0.5)] + [(2, 1.0)] * 3
    assert [growth_stage(t, 2, 3, 2) for t in range(len(want))] == want
    assert growth_stage(10_000, 2, 3, 2) == (2, 1.0)
    assert growth_stage(0, 2, 0, 0) == (2, 1.0)                    # no growing
    assert [growth_stage(t, 1, 0, 4) for t in range(5)] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0)]


def test_pixel_norm_by_hand():
    x = torch.tensor([[3.0, 4.0]])                                  # RMS = sqrt(12.5)
    assert PixelNorm()(x).tolist()[0] == pytest.approx([3 / math.sqrt(12.5), 4 / math.sqrt(12.5)], rel=1e-6)
    maps = torch.randn(2, 5, 3, 3)
    out = PixelNorm()(maps)
    assert torch.allclose(out.square().mean(1), torch.ones(2, 3, 3), atol=1e-5)   # unit RMS per position


def test_fade_reals_by_hand():
    """8×8 image, 2 doublings (2 → 4 → 8), level 1 at α = ¼: (1 − α)·(4×4 average of x) + α·(2×2
    average of x), as blocks at the full size."""
    x = torch.arange(64.0).view(1, 1, 8, 8)
    out = fade_reals(x, level=1, alpha=0.25, levels=2)
    for i in range(8):
        for j in range(8):
            b2 = x[0, 0, i // 2 * 2:i // 2 * 2 + 2, j // 2 * 2:j // 2 * 2 + 2].mean()
            b4 = x[0, 0, i // 4 * 4:i // 4 * 4 + 4, j // 4 * 4:j // 4 * 4 + 4].mean()
            assert out[0, 0, i, j].item() == pytest.approx(0.75 * b4.item() + 0.25 * b2.item())
    assert torch.equal(fade_reals(x, 1, 1.0, 2), x) and torch.equal(fade_reals(x, 0, 0.3, 2), x)
    top = fade_reals(x, level=2, alpha=0.5, levels=2)                # the full level: x vs 2×2 blocks
    assert torch.allclose(top, 0.5 * x + 0.5 * F.interpolate(F.avg_pool2d(x, 2), scale_factor=2))


def test_generator_fades_in_the_new_level():
    torch.manual_seed(0)
    g = ProGANGenerator(z_dim=4, channels=1, image_size=16, width=4, stable=2, fade=4)   # s0 = 4, 2 doublings
    z = torch.randn(3, 4)
    set_grow_step(g, 2 + 1)                                  # level 1, α = ¼
    assert g.stage() == (1, 0.25)
    out = g(z)
    x = g.fc_norm(g.act(g.fc(g.latent_norm(z)).view(3, -1, 4, 4)), None)
    x0 = g.conv_norm(g.act(g.conv(x)), None)
    x1 = g.blocks[0](x0, None)
    low = F.interpolate(g.to_rgb[0](x0), scale_factor=2)
    want = F.interpolate(0.75 * low + 0.25 * g.to_rgb[1](x1), scale_factor=2)   # 8 → 16 px
    assert out.shape == (3, 1, 16, 16) and torch.allclose(out, want, atol=1e-6)
    set_grow_step(g, 0)                                      # level 0: 4×4 images shown as 4×4 blocks
    coarse = g(z)
    assert torch.allclose(coarse, F.interpolate(F.avg_pool2d(coarse, 4), scale_factor=4), atol=1e-6)


def test_discriminator_fades_in_the_new_level():
    torch.manual_seed(0)
    d = ProGANTrunk(channels=1, image_size=16, width=4, stable=2, fade=4)
    x = torch.randn(3, 1, 16, 16)
    set_grow_step(d, 2 + 6 + 3)                             # level 2, α = ¾
    assert d.stage() == (2, 0.75)
    high = d.blocks[1](d.act(d.from_rgb[2](x)))
    low = d.act(d.from_rgb[1](F.avg_pool2d(x, 2)))
    want = d.final(d.blocks[0](0.25 * low + 0.75 * high))
    assert torch.allclose(d(x), want, atol=1e-6) and d(x).shape == (3, d.out_dim)
    set_grow_step(d, 0)                                      # level 0: D reads the 4×4 average
    assert torch.allclose(d(x), d.final(d.act(d.from_rgb[0](F.avg_pool2d(x, 4)))), atol=1e-6)


def test_growing_28px_shapes_at_every_level():
    g = ProGANGenerator(z_dim=8, channels=1, image_size=28, width=4, num_conditions=10, stable=1, fade=1)
    d = ProGANTrunk(channels=1, image_size=28, width=4, minibatch_std=2, stable=1, fade=1)
    z, cnd = torch.randn(4, 8), torch.eye(10)[:4]
    for step in range(6):                                   # levels 0 (7 px), 1 (14 px), 2 (28 px), fades between
        set_grow_step(g, step)
        set_grow_step(d, step)
        img = g(z, cnd)
        assert img.shape == (4, 1, 28, 28) and d(img).shape == (4, d.out_dim)


def test_growing_run_resumes_mid_fade_bit_identically(tiny_config, tmp_path):
    """8×8 digits (4 → 8 px): 2 stable steps, a 4-step fade. A run cut at step 4 (α = ½) and
    resumed ends where the uninterrupted run ends, bit for bit, and both log the same stages."""
    cfg = tiny_config(*PROGAN, "train.progressive_stable=2", "train.progressive_fade=4", "train.ema=0.9")
    full, logs = _run(cfg, tmp_path / "full", 7)
    assert [(r["grow_level"], r["grow_alpha"]) for r in logs] == [
        (0, 1.0), (0, 1.0), (1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0)]
    _run(cfg, tmp_path / "cut", 4)
    resumed, rest = _run(cfg, tmp_path / "cut", 7)
    assert [(r["grow_level"], r["grow_alpha"]) for r in rest] == [(1, 0.5), (1, 0.75), (1, 1.0)]
    assert rest == logs[4:]
    for net in ("G", "D"):
        for a, b in zip(getattr(full, net).state_dict().values(), getattr(resumed, net).state_dict().values()):
            assert torch.equal(a, b)
    assert int(resumed.ema.module.grow_step) == 6                    # the EMA generator renders at the stage


def test_a_restored_generator_renders_at_its_saved_stage(tiny_config, tmp_path):
    """The stage travels with the weights: a run saved at level 0 samples 4×4 images (as 2×2
    blocks), one saved after growing samples 8×8 images (a fresh network would be at level 0)."""
    from condgan.training.restore import load_generator

    def blocky(out, steps):
        cfg = tiny_config(*PROGAN, "train.progressive_stable=1", "train.progressive_fade=1", "train.ema=0")
        _run(cfg, out, steps)
        g = load_generator(out, use_ema=False).generator
        assert int(g.grow_step) == steps - 1
        img = g(torch.randn(2, cfg.model.z_dim), torch.eye(10)[:2])
        return torch.allclose(img, F.interpolate(F.avg_pool2d(img, 2), scale_factor=2), atol=1e-6)

    assert blocky(tmp_path / "level0", 1)
    assert not blocky(tmp_path / "level1", 3)


def test_progressive_config_is_checked(tiny_config):
    with pytest.raises(CondganError, match="train.progressive_stable / train.progressive_fade grow a model.net=progan"):
        tiny_config("train.progressive_fade=10")
    with pytest.raises(CondganError, match="train.compile with progressive growing"):
        tiny_config(*PROGAN, "train.progressive_fade=10", "train.compile=true")
    with pytest.raises(CondganError, match="train.progressive_fade"):
        tiny_config(*PROGAN, "train.progressive_fade=-1")
    tiny_config(*PROGAN)                                               # the full network, no growing
