"""Networks: DCGAN / MLP shapes for every supported size, norm and spectral-norm setting; the
generator's label input; the EMA generator and standing statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.nets.dcgan import DCGANGenerator, DCGANTrunk, build_dcgan, resolution_schedule
from condgan.nets.mlp import MLPGenerator, MLPTrunk, build_mlp
from condgan.training.build import DataInfo, build_gan
from condgan.training.ema import GeneratorEMA, standing_statistics

SIZES = [8, 16, 28, 32, 64]
NORMS = ["batch", "instance", "layer", "none"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("sn", [False, True])
def test_dcgan_shapes(size, norm, sn):
    channels = 3 if size in (32, 64) else 1
    g = DCGANGenerator(8, channels, size, width=4, depth=1 if size == 8 else 0, norm=norm,
                       spectral_norm=sn, num_conditions=3, conditioning="concat")
    d = DCGANTrunk(channels, size, width=4, depth=1 if size == 8 else 0, norm=norm, spectral_norm=sn)
    cnd = nn.functional.one_hot(torch.tensor([0, 2]), 3).float()
    x = g(torch.randn(2, 8), cnd)
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1                        # tanh output
    h = d(x)
    assert h.shape == (2, d.out_dim)
    s0, n = resolution_schedule(size)
    assert d.out_dim == 4 * 2 ** (n - 1) * s0 * s0
    has_sn = any("parametrizations" in name for name, _ in g.named_parameters())
    assert has_sn == sn
    assert any("parametrizations" in name for name, _ in d.named_parameters()) == sn


def test_resolution_schedule():
    assert resolution_schedule(8) == (4, 1)
    assert resolution_schedule(28) == (7, 2)
    assert resolution_schedule(32) == (4, 3)
    assert resolution_schedule(64) == (4, 4)
    assert resolution_schedule(12) == (6, 1)
    assert resolution_schedule(48) == (6, 3)


@pytest.mark.parametrize("size", [2, 4, 7, 9, 11, 100, 0])
def test_unsupported_image_size(size):
    with pytest.raises(CondganError, match="image_size"):
        DCGANGenerator(8, 1, size)
    with pytest.raises(CondganError, match="image_size"):
        DCGANTrunk(1, size)


def test_d_norm_layers_present():
    """batch norm in D only where requested (and never on the first conv, as in DCGAN)."""
    def kinds(norm, size=16):
        return {type(m).__name__ for m in DCGANTrunk(1, size, width=4, norm=norm).modules()}
    assert "BatchNorm2d" in kinds("batch")
    assert "InstanceNorm2d" in kinds("instance")
    assert "GroupNorm" in kinds("layer")
    assert not {"BatchNorm2d", "InstanceNorm2d", "GroupNorm"} & kinds("none")
    assert "BatchNorm2d" not in kinds("batch", size=8)   # one conv only: nothing to normalize


def _cnd(y, k=3):
    return nn.functional.one_hot(torch.tensor(y), k).float()


def test_concat_generator_uses_the_label():
    torch.manual_seed(0)
    for kind in ("embedding", "onehot"):
        g = DCGANGenerator(8, 1, 8, width=4, norm="none", num_conditions=3, conditioning="concat",
                           label_embedding=kind, embed_dim=5).eval()
        assert g.fc.in_features == 8 + (5 if kind == "embedding" else 3)
        z = torch.randn(1, 8).repeat(2, 1)
        x = g(z, _cnd([0, 1]))
        assert not torch.allclose(x[0], x[1])


def test_cbn_generator():
    torch.manual_seed(0)
    g = DCGANGenerator(8, 1, 16, width=4, norm="batch", num_conditions=3, conditioning="cbn")
    assert g.fc.in_features == 8                     # the label does not enter the input
    cbns = [m for m in g.modules() if getattr(m, "conditional", False)]
    assert len(cbns) == 3                            # fc norm + one per doubling
    g.train()
    z = torch.randn(1, 8).repeat(4, 1)
    x0 = g(z, _cnd([0, 1, 2, 0]))
    assert torch.allclose(x0[0], x0[1], atol=1e-6)   # zero-initialized: the identity at first
    with torch.no_grad():
        for m in cbns:
            m.gain.weight.normal_()
            m.bias.weight.normal_()
    x = g(z, _cnd([0, 1, 2, 0]))
    assert not torch.allclose(x[0], x[1])
    assert torch.allclose(x[0], x[3], atol=1e-6)


def test_unconditional_generator_ignores_cnd():
    g = DCGANGenerator(8, 1, 8, width=4, num_conditions=3, conditioning="none")
    assert g.fc.in_features == 8
    assert g(torch.randn(2, 8), None).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
@pytest.mark.parametrize("cond", ["concat", "cbn", "none"])
def test_mlp_shapes(norm, cond):
    if cond == "cbn" and norm == "none":
        return
    g = MLPGenerator(4, 2, hidden=8, layers=2, norm=norm, num_conditions=3, conditioning=cond)
    d = MLPTrunk(2, hidden=8, layers=2, norm=norm)
    x = g(torch.randn(5, 4), _cnd([0, 1, 2, 0, 1]) if cond != "none" else None)
    assert x.shape == (5, 2)
    assert d(x).shape == (5, d.out_dim) and d.out_dim == 8


def test_mlp_instance_norm_rejected():
    with pytest.raises(CondganError, match="instance"):
        MLPTrunk(2, norm="instance")


def test_builders_check_sample_shape():
    cfg = load_config({}, ["model.net=dcgan", "data.image_size=8"])
    with pytest.raises(CondganError, match="mlp"):
        build_dcgan(cfg, (2,), 3)
    with pytest.raises(CondganError, match="dcgan"):
        build_mlp(cfg, (1, 8, 8), 3)


@pytest.mark.parametrize("conditioning, heads", [
    ("none", {"adv": ()}), ("concat", {"adv": ()}), ("pd", {"adv": ()}),
    ("ac", {"adv": (), "cls": (10,)}), ("ac_mod", {"adv": (), "cls": (10,)}),
    ("ac_plus", {"adv": (), "cls": (10,)}), ("ca", {"cond": (10,)}),
])
def test_build_gan_heads(conditioning, heads):
    cfg = load_config({}, ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "data.image_size=8",
                           f"model.conditioning={conditioning}"])
    gan = build_gan(cfg, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    cnd = _cnd([1, 2, 3], 10)
    x = gan.generator(torch.randn(3, 8), cnd)
    out = gan.discriminator(x, cnd)
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == heads
    assert all(v.shape[0] == 3 for v in out.values())


def test_build_gan_rejects_unlabeled_and_multi_label():
    cfg = load_config({}, ["model.conditioning=ac", "data.image_size=8"])
    with pytest.raises(CondganError, match="unlabeled"):
        build_gan(cfg, DataInfo((1, 8, 8), 0, False, []), torch.device("cpu"))
    with pytest.raises(CondganError, match="single class labels"):
        build_gan(cfg, DataInfo((1, 8, 8), 2, True, ["a", "b"]), torch.device("cpu"))


# ------------------------------------------------------------------ EMA
def _bn_generator():
    torch.manual_seed(0)
    return DCGANGenerator(4, 1, 8, width=4, norm="batch", num_conditions=3, conditioning="cbn")


def test_ema_update_is_the_lerp_formula_for_params_and_buffers():
    g = _bn_generator()
    ema = GeneratorEMA(g, decay=0.9)
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    # move G away from the EMA copy: new weights and new BN statistics
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p))
    g.train()
    for _ in range(3):
        g(torch.randn(6, 4), _cnd([0, 1, 2, 0, 1, 2]))
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    live = g.state_dict()
    ema.update()
    after = ema.state_dict()
    n_float = n_int = 0
    for key, old in before.items():
        new = live[key]
        if old.is_floating_point():
            n_float += 1
            assert torch.allclose(after[key], 0.9 * old + 0.1 * new, atol=1e-6), key
            if "running" in key:
                assert not torch.allclose(old, new)    # the buffer did change
        else:
            n_int += 1
            assert torch.equal(after[key], new), key   # num_batches_tracked is copied
            assert after[key].item() == 3
    assert n_int == 2 and any("running_mean" in k for k in before) and n_float > 10
    # decay 0 (before ema_start) copies everything
    ema.update(decay=0.0)
    for key, value in ema.state_dict().items():
        assert torch.equal(value, g.state_dict()[key]), key


def test_ema_update_after_load_state_dict():
    """The EMA keeps tracking the live generator after both were restored from a checkpoint."""
    g = _bn_generator()
    ema = GeneratorEMA(g, decay=0.5)
    saved_g = {k: v.clone() + 1 for k, v in g.state_dict().items() if v.is_floating_point()}
    g.load_state_dict(saved_g, strict=False)
    ema.load_state_dict({k: v.clone() * 0 for k, v in ema.state_dict().items()})
    ema.update()
    for key, value in saved_g.items():
        assert torch.allclose(ema.state_dict()[key], 0.5 * value), key


def test_standing_statistics_are_the_plain_mean_of_batch_stats():
    g = _bn_generator()
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.3 * torch.randn_like(p))
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    seen = {id(m): [] for m in bns}
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen[id(mod)].append(inp[0].detach().clone()))
             for m in bns]
    gen = torch.Generator().manual_seed(0)

    def inputs():
        return torch.randn(7, 4, generator=gen), _cnd(torch.randint(3, (7,), generator=gen).tolist())

    standing_statistics(g, inputs, num_batches=4)
    for h in hooks:
        h.remove()
    assert not g.training
    assert [m.momentum for m in bns] == momenta
    for m in bns:
        batches = seen[id(m)]
        assert len(batches) == 4
        means = torch.stack([b.mean((0, 2, 3)) for b in batches])
        vars_ = torch.stack([b.var((0, 2, 3), unbiased=True) for b in batches])
        assert torch.allclose(m.running_mean, means.mean(0), atol=1e-5)
        assert torch.allclose(m.running_var, vars_.mean(0), atol=1e-5)
        assert m.num_batches_tracked.item() == 4
    # deterministic: the same inputs give the same statistics
    stats = [m.running_mean.clone() for m in bns]
    gen.manual_seed(0)
    standing_statistics(g, inputs, num_batches=4)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(stats, bns))


def test_ema_decay_ramps_up_then_caps():
    from torch import nn

    from condgan.training.ema import GeneratorEMA

    ema = GeneratorEMA(nn.Linear(2, 2), decay=0.999)
    assert ema.decay_at(0) == 0.1  # (1 + 0) / (10 + 0)
    assert abs(ema.decay_at(90) - 91 / 100) < 1e-12
    assert ema.decay_at(10**6) == 0.999


def test_minibatch_stddev_by_hand():
    """Groups {i : i mod (n/g) = j}; each gets mean over (c, h, w) of the population std over the
    group, appended as a channel; a batch of 6 with group size 4 uses groups of 3."""
    import math

    from condgan.nets.layers import MinibatchStdDev

    x = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = MinibatchStdDev(4)(x)
    assert out.shape == (6, 3, 3, 3) and torch.equal(out[:, :2], x)
    g, m = 3, 2  # group size 3 divides 6; 2 groups
    for j in range(m):
        members = [i for i in range(6) if i % m == j]
        total = 0.0
        for c in range(2):
            for a in range(3):
                for b in range(3):
                    vals = [float(x[i, c, a, b]) for i in members]
                    mu = sum(vals) / g
                    total += math.sqrt(sum((v - mu) ** 2 for v in vals) / g + 1e-8)
        for i in members:
            assert torch.allclose(out[i, 2], torch.full((3, 3), total / 18, dtype=torch.float64))
    assert torch.equal(MinibatchStdDev(4)(x[:1])[:, 2], torch.zeros(1, 3, 3, dtype=torch.float64))


def test_minibatch_stddev_in_the_trunk_trains(tiny_config, tmp_path):
    from condgan.training.trainer import Trainer

    trainer = Trainer(tiny_config("model.d_minibatch_std=4", "train.steps=3"), tmp_path, progress=False)
    trainer.train()
    assert any(type(m).__name__ == "MinibatchStdDev" for m in trainer.D.modules())
    with pytest.raises(CondganError, match="d_minibatch_std"):
        tiny_config("model.d_minibatch_std=-1")
