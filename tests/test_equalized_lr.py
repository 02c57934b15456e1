"""Equalized learning rate (ProGAN §4.1): runtime weight scaling w · 1/sqrt(fan_in)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.layers import ConditionalNorm, apply_equalized_lr
from condgan.training.build import DataInfo, build_gan


def test_runtime_scaling_by_hand():
    torch.manual_seed(0)
    net = apply_equalized_lr(nn.Sequential(nn.Linear(6, 3), nn.Conv2d(2, 4, 3), nn.ConvTranspose2d(5, 2, 4, 2, 1)))
    lin, conv, convt = net
    stored = lin.parametrizations.weight.original
    assert torch.allclose(lin.weight, stored / math.sqrt(6))
    assert torch.allclose(conv.weight, conv.parametrizations.weight.original / math.sqrt(2 * 9))
    assert torch.allclose(convt.weight, convt.parametrizations.weight.original / math.sqrt(5 * 16))
    assert torch.count_nonzero(lin.bias) == 0
    x = torch.randn(4, 6)
    assert torch.allclose(lin(x), x @ stored.t() / math.sqrt(6), atol=1e-6)
    # The optimizer sees the N(0, 1) storage; the scaling is applied at every forward.
    big = apply_equalized_lr(nn.Linear(4000, 1))
    assert abs(big.parametrizations.weight.original.std().item() - 1) < 0.05


def test_conditional_norm_maps_kept():
    norm = apply_equalized_lr(ConditionalNorm("batch", 4, num_conditions=3))
    assert not hasattr(norm.gain, "parametrizations")
    assert torch.count_nonzero(norm.gain.weight) == 0


def test_built_gan_uses_it_and_trains(tiny_config):
    cfg = tiny_config("model.equalized_lr=true")
    gan = build_gan(cfg, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    layers = [m for net in (gan.generator, gan.discriminator) for m in net.modules()
              if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    out = gan.generator(torch.randn(2, cfg.model.z_dim), torch.eye(10)[:2])
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()


def test_refused_with_spectral_norm(tiny_config):
    with pytest.raises(CondganError, match="model.equalized_lr"):
        tiny_config("model.equalized_lr=true", "model.d_spectral_norm=true")


def test_trains_and_resumes_identically(tmp_path):
    from condgan.training.checkpoint import load_checkpoint
    from condgan.training.trainer import Trainer
    from test_training import config

    extra = ("model.equalized_lr=true", "train.log_every=2", "train.checkpoint_every=2")
    Trainer(config(*extra, "train.steps=2"), tmp_path / "a", progress=False).train()
    Trainer(config(*extra, "train.steps=4"), tmp_path / "a", progress=False).train()
    Trainer(config(*extra, "train.steps=4"), tmp_path / "b", progress=False).train()
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt")["generator"] for r in "ab")
    assert a.keys() == b.keys() and any("parametrizations" in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
