"""model.net=resnet: shapes at every size, the residual blocks, SAGAN self-attention (by hand),
hierarchical z, orthogonal init, config-time errors, one training step for every conditioning
method and labeling mode, and a 32-px run on a generated CIFAR-format directory that trains and
samples."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.nets.layers import SelfAttention
from condgan.nets.resnet import (ResNetGenerator, ResNetTrunk, attention_resolutions, build_resnet,
                                 channel_multipliers)
from condgan.training.build import DataInfo, build_gan
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


def onehot(ys, k=10):
    return nn.functional.one_hot(torch.tensor(ys), k).float()


# ------------------------------------------------------------------ shapes and structure
@pytest.mark.parametrize("size, channels", [(8, 1), (28, 1), (32, 3), (64, 3), (128, 3)])
@pytest.mark.parametrize("cond", ["cbn", "concat", "codebook", "none"])
def test_shapes_at_every_size(size, channels, cond):
    valid = attention_resolutions(size)
    g = ResNetGenerator(12, channels, size, width=2, num_conditions=10, conditioning=cond,
                        hierarchical_z=cond == "cbn", attention=valid[-1:],
                        codebook_dim=49 if size == 28 else 16, spectral_norm=cond == "none")
    d = ResNetTrunk(channels, size, width=2, attention=valid[-1:], spectral_norm=True)
    x = g(torch.randn(3, 12), onehot([0, 4, 9]) if cond != "none" else None)
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    h = d(x)
    n = int(math.log2(size // valid[0]))
    assert h.shape == (3, d.out_dim) and d.out_dim == 2 * min(2 ** (n - 1), 16)
    assert len(g.attention) == 1 and sum(isinstance(m, SelfAttention) for m in d.modules()) == 1
    assert any("parametrizations" in name for name, _ in d.named_parameters())


def test_channel_schedule_is_biggans():
    assert channel_multipliers(5) == [16, 16, 8, 4, 2, 1]          # BigGAN 128 px: ch·[16,16,8,4,2,1]
    assert channel_multipliers(3) == [8, 4, 2, 1]
    assert attention_resolutions(28) == [7, 14]
    assert attention_resolutions(32) == [4, 8, 16]
    assert attention_resolutions(128) == [4, 8, 16, 32, 64]


def test_depth_adds_non_resampling_blocks():
    g0 = ResNetGenerator(8, 3, 32, width=2, num_conditions=10)
    g1 = ResNetGenerator(8, 3, 32, width=2, depth=1, num_conditions=10)
    assert [len(s) for s in g0.stages] == [1, 1, 1] and [len(s) for s in g1.stages] == [2, 2, 2]
    assert not g1.stages[0][1].up
    d1 = ResNetTrunk(3, 32, width=2, depth=2)
    assert sum(1 for m in d1.modules() if m.__class__.__name__ == "DBlock") == 9
    assert d1(torch.randn(2, 3, 32, 32)).shape == (2, d1.out_dim)


def test_cbn_uses_one_shared_embedding_and_hierarchical_z_chunks():
    torch.manual_seed(0)
    g = ResNetGenerator(12, 3, 32, width=2, num_conditions=10, conditioning="cbn", embed_dim=5,
                        hierarchical_z=True)
    assert g.shared.in_features == 10 and g.shared.out_features == 5
    assert [len(c) for c in torch.arange(12).tensor_split(g.chunks)] == [3, 3, 3, 3]
    # every block's norms see [e(y), z_i]: 5 + 3 inputs
    assert all(block.norm1.gain.in_features == 8 for stage in g.stages for block in stage)
    assert g.fc.in_features == 3
    with torch.no_grad():  # make the (zero-initialized) CBN maps non-trivial
        for p in g.parameters():
            p.add_(0.1 * torch.randn_like(p))
    g.eval()
    z = torch.randn(1, 12)
    z2 = z.clone()
    z2[:, 9:] += 1.0  # only the last block's chunk changes: the output changes through CBN
    assert not torch.allclose(g(z, onehot([3])), g(z2, onehot([3])))
    assert not torch.allclose(g(z, onehot([3])), g(z, onehot([4])))


def test_hierarchical_z_needs_enough_latents():
    with pytest.raises(CondganError, match="z_dim=3 is too small"):
        ResNetGenerator(3, 3, 32, width=2, hierarchical_z=True)


# ------------------------------------------------------------------ self-attention
def test_self_attention_by_hand():
    torch.manual_seed(0)
    att = SelfAttention(16)
    x = torch.randn(2, 16, 3, 4)
    assert torch.equal(att(x), x)  # γ = 0: the identity at init
    with torch.no_grad():
        att.gamma.fill_(0.7)
    y = att(x)
    b, c, n = 2, 16, 12
    f = att.f.weight.view(2, 16) @ x.view(b, c, n)            # (B, C/8, N)
    g = att.g.weight.view(2, 16) @ x.view(b, c, n)
    h = att.h.weight.view(8, 16) @ x.view(b, c, n)
    for s in range(b):
        for j in range(n):
            beta = torch.softmax(torch.stack([f[s, :, i] @ g[s, :, j] for i in range(n)]), 0)
            o = sum(beta[i] * h[s, :, i] for i in range(n))
            expect = x[s].view(c, n)[:, j] + 0.7 * (att.v.weight.view(16, 8) @ o)
            assert torch.allclose(y[s].view(c, n)[:, j], expect, atol=1e-5)


def test_self_attention_keeps_samples_independent():
    att = SelfAttention(8)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    x = torch.randn(4, 8, 4, 4)
    assert torch.allclose(att(x)[:2], att(x[:2]), atol=1e-6)


# ------------------------------------------------------------------ config-time errors and init
@pytest.mark.parametrize("extra, match", [
    (["model.net=resnet", "model.attention=[16]"], r"resolution 16 does not exist .* valid resolutions: 7, 14$"),
    (["model.net=resnet", "data.image_size=32", "model.attention=[32]"], r"valid resolutions: 4, 8, 16$"),
    (["model.attention=[14]"], "needs model.net=resnet"),
    (["model.hierarchical_z=true"], "needs model.net=resnet"),
    (["model.init=xavier"], "model.init.*orthogonal"),
])
def test_config_errors(extra, match):
    with pytest.raises(CondganError, match=match) as info:
        load_config({}, extra)
    assert "\n" not in str(info.value)


def test_orthogonal_init_under_spectral_norm():
    cfg = load_config({}, ["model.net=resnet", "model.init=orthogonal", "model.d_spectral_norm=true",
                           "model.g_conditioning=cbn", "model.g_width=4", "model.d_width=4", "model.z_dim=8",
                           "data.image_size=8", "model.conditioning=pd"])
    gan = build_gan(cfg, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    conv = gan.discriminator.trunk.net[0].conv2
    w = conv.parametrizations.weight.original.flatten(1)       # (out, in·k·k), out ≤ in·k·k
    assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)
    assert torch.count_nonzero(conv.bias) == 0
    cbn = gan.generator.stages[0][0].norm1
    assert torch.count_nonzero(cbn.gain.weight) == 0            # CBN still starts at the identity


# ------------------------------------------------------------------ every method and labeling mode trains
RESNET = ["model.net=resnet", "model.g_width=4", "model.d_width=4", "model.cond_proj_dim=8",
          "train.steps=1", "train.log_every=1", "train.standing_stats=1", "model.attention=[4]"]
METHODS = ["none", "ac", "ac_mod", "ac_plus", "ca", "ca_inner", "pd", "label", "am", "mh", "tac", "2c",
           "d2dce", "concat"]


def train_one_step(tmp_path, *extra):
    trainer = Trainer(load_config({}, tiny_overrides(*RESNET, *extra)), tmp_path / "run", progress=False)
    trainer.train()
    assert trainer.step == 1
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    assert (tmp_path / "run" / "samples" / "latest.png").exists()
    return trainer


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_a_resnet_step(tmp_path, method):
    adv = "hinge" if method not in ("label", "am") else "ns"
    g_cond = "cbn" if method in ("pd", "d2dce") else "concat"
    train_one_step(tmp_path, f"model.conditioning={method}", f"loss.adversarial={adv}",
                   f"model.g_conditioning={g_cond}", "model.d_spectral_norm=true")


@pytest.mark.parametrize("extra", [
    ["model.labeling=dynamic", "model.conditioning=ac_mod"],
    ["model.labeling=classifier", "model.conditioning=ca_inner", "model.cgp_groups=1", "model.cgp_categories=10",
     "model.q_width=4", "model.g_conditioning=codebook"],
    ["model.conditioning=ca", "model.g_conditioning=codebook", "model.codebook_dim=16"],
    ["model.conditioning=pd", "model.hierarchical_z=true", "model.init=orthogonal", "reg.r1=1", "reg.gp=1",
     "loss.mixed_batch=true", "model.d_minibatch_std=4"],
    ["model.conditioning=ca", "data.attributes=[even, ge5]", "model.g_conditioning=cbn"],
])
def test_labeling_modes_and_g_conditioning_with_resnet(tmp_path, extra):
    trainer = train_one_step(tmp_path, *extra)
    if "model.labeling=dynamic" in extra:
        assert trainer.G.label_input.kind == "none" and trainer.G.shared is None


def test_cifar_format_directory_32px_trains_and_samples(tmp_path):
    """The issue's must-show: a 32-px resnet run on a (generated, tiny) CIFAR-10 directory."""
    from condgan.api import sample
    from test_data_files import write_cifar

    root = write_cifar(tmp_path / "cifar-10-batches-py", per_batch=8)
    out = tmp_path / "run"
    cfg = load_config("cifar10-reacgan", [
        f"data.root={root}", "model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.cond_proj_dim=8",
        "model.embed_dim=8", "train.steps=2", "train.batch_size=8", "train.d_steps=2", "train.threads=1",
        "train.checkpoint_every=2", "train.sample_every=0", "train.standing_stats=1", "eval.every=0"])
    assert (cfg.model.net, cfg.data.image_size, cfg.model.attention) == ("resnet", 32, [16])
    Trainer(cfg, out, progress=False).train()
    x = sample(out, num=3, seed=0)
    assert x.shape[1:] == (3, 32, 32) and torch.isfinite(x).all()
    assert (out / "samples" / "latest.png").stat().st_size > 0


def test_builder_rejects_vector_data():
    cfg = load_config({}, ["model.net=resnet"])
    with pytest.raises(CondganError, match="model.net=mlp"):
        build_resnet(cfg, (2,), 3)


def test_mnist_preset_with_resnet_and_attention_at_14_trains_and_samples(tmp_path):
    """The issue's other must-show, at tiny width: mnist5k-cagan (28 px) with model.net=resnet and
    model.attention=[14], through the CLI (`condgan train` then `condgan sample`)."""
    from condgan.cli.main import main

    out, png = tmp_path / "R", tmp_path / "g.png"
    sets = ["model.net=resnet", "model.attention=[14]", "train.steps=2", "model.g_width=4", "model.d_width=4",
            "train.batch_size=16", "train.threads=1", "train.standing_stats=1", "train.sample_every=0"]
    args = ["train", "mnist5k-cagan", "--out", str(out), "--no-progress"]
    for s in sets:
        args += ["--set", s]
    assert main(args) in (0, None)
    assert main(["sample", str(out), "--out", str(png)]) in (0, None)
    assert png.stat().st_size > 0
