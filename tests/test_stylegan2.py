"""model.net=stylegan2: the modulated / demodulated convolution against a hand-computed case and
a per-sample reference, FIR resampling against a convolution reference, equalized lr with the
mapping network's lr multiplier, w̄ tracking and truncation toward it, noise inputs, the
skip-output structure, conditional AdaIN, the residual D trunk, shapes at 8–128 px, gradients of
every primitive to second order (R1 differentiates through D, the path-length penalty through G),
and config-time errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.nets.style import (EqualizedConv2d, EqualizedLinear, downsample_2x, fir_filter, modulated_conv2d,
                                normalize_second_moment, upsample_2x)
from condgan.nets.stylegan2 import MappingNetwork, StyleGAN2Generator, StyleGAN2Trunk
from condgan.training.build import DataInfo, build_gan

f64 = torch.float64


def onehot(ys, k=10):
    return F.one_hot(torch.tensor(ys), k).float()


# ------------------------------------------------------------------ modulated convolution
def test_modulated_conv_hand_computed():
    # One output channel, two input channels, a 1×1 kernel w = [3, 4], styles s = [1, 2]:
    # modulated w' = [3, 8]; demodulation d = 1/sqrt(3² + 8²) = 1/sqrt(73).
    x = torch.tensor([[[[1.0, 2.0]], [[1.0, -1.0]]]], dtype=f64)      # (1, 2, 1, 2): pixels (1, 1), (2, −1)
    weight = torch.tensor([[[[3.0]], [[4.0]]]], dtype=f64)             # (1, 2, 1, 1)
    styles = torch.tensor([[1.0, 2.0]], dtype=f64)
    plain = modulated_conv2d(x, weight, styles, demodulate=False)
    assert torch.allclose(plain, torch.tensor([[[[3 + 8, 6 - 8]]]], dtype=f64))
    demod = modulated_conv2d(x, weight, styles, eps=0.0)
    assert torch.allclose(demod, torch.tensor([[[[11 / math.sqrt(73), -2 / math.sqrt(73)]]]], dtype=f64))


def test_modulated_conv_equals_per_sample_weights():
    """The activation-scaling form equals convolving each sample with its own modulated,
    demodulated weight (StyleGAN2 Eqs. 1 and 3, the 'fused' form)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 5, generator=g, dtype=f64)
    weight = torch.randn(6, 4, 3, 3, generator=g, dtype=f64)
    styles = torch.randn(3, 4, generator=g, dtype=f64)
    out = modulated_conv2d(x, weight, styles)
    for b in range(3):
        w1 = weight * styles[b].reshape(1, 4, 1, 1)
        w2 = w1 / (w1.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        assert torch.allclose(out[b], F.conv2d(x[b:b + 1], w2, padding=1)[0])
    # Demodulation: unit-variance i.i.d. inputs give outputs of unit variance per channel.
    big = torch.randn(64, 4, 16, 16, generator=g, dtype=f64)
    y = modulated_conv2d(big, weight, styles[:1].expand(64, -1))[:, :, 1:-1, 1:-1]
    assert torch.allclose(y.var(dim=(0, 2, 3)), torch.ones(6, dtype=f64), atol=0.15)


def test_modulated_conv_second_order_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 4, 4, generator=g, dtype=f64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, generator=g, dtype=f64, requires_grad=True)
    styles = torch.randn(2, 2, generator=g, dtype=f64, requires_grad=True)
    assert torch.autograd.gradgradcheck(modulated_conv2d, (x, weight, styles))


# ------------------------------------------------------------------ resampling
def _fir(gain):
    t = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=f64)
    k = torch.outer(t, t)
    return (k * gain / k.sum())[None, None]


def test_fir_resampling_matches_convolution_reference():
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=f64)
    flat = x.reshape(6, 1, 8, 8)
    down = F.conv2d(F.pad(flat, (1, 1, 1, 1)), _fir(1.0), stride=2).reshape(2, 3, 4, 4)
    up = F.conv_transpose2d(flat, _fir(4.0), stride=2, padding=1).reshape(2, 3, 16, 16)
    assert torch.allclose(downsample_2x(x), down)
    assert torch.allclose(upsample_2x(x), up)
    assert torch.allclose(fir_filter(x), F.conv2d(flat, _fir(1.0)).reshape(2, 3, 5, 5))
    const = torch.ones(1, 1, 6, 6, dtype=f64)
    assert torch.allclose(upsample_2x(const)[..., 1:-1, 1:-1], torch.ones(1, 1, 10, 10, dtype=f64))
    assert torch.allclose(downsample_2x(const)[..., 1:-1, 1:-1], torch.ones(1, 1, 1, 1, dtype=f64))


@pytest.mark.parametrize("fn", [upsample_2x, downsample_2x])
def test_fir_resampling_second_order_gradients(fn):
    x = torch.randn(1, 2, 4, 4, dtype=f64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda v: fn(v).square(), (x,))


def test_downsampling_conv_halves_and_second_order():
    conv = EqualizedConv2d(2, 3, 3, activation=True, down=True, gain=0.5 ** 0.5).double()
    x = torch.randn(2, 2, 8, 8, dtype=f64, requires_grad=True)
    assert conv(x).shape == (2, 3, 4, 4)
    # Low-pass then stride-2 conv equals stride-1 conv then taking the low-passed even pixels.
    plain = F.conv2d(fir_filter(F.pad(x, (2, 2, 2, 2))), conv.weight * conv.weight_gain, conv.bias, stride=2)
    assert torch.allclose(conv(x), F.leaky_relu(plain, 0.2) * math.sqrt(2) * 0.5 ** 0.5)
    assert torch.autograd.gradgradcheck(lambda v: conv(v), (x,))


# ------------------------------------------------------------------ equalized lr, mapping
def test_equalized_linear_runtime_scaling_and_lr_multiplier():
    torch.manual_seed(0)
    layer = EqualizedLinear(400, 300, bias_init=1.0, lr_multiplier=0.01)
    # Stored W ~ N(0, 1/m²), used as W·m/sqrt(in): the effective weight has std 1/sqrt(in).
    assert layer.weight.std().item() == pytest.approx(100.0, rel=0.05)
    effective = layer.weight * layer.weight_gain
    assert effective.std().item() == pytest.approx(1 / 20, rel=0.05)
    x = torch.randn(5, 400)
    assert torch.allclose(layer(x), x @ effective.t() + 1.0, atol=1e-5)
    # The stored weight's gradient is the effective weight's times m/sqrt(in); stored weights of
    # scale 1/m make Adam's scale-free step move the effective weight m times as far (lr × m).
    layer.zero_grad()
    layer(x).sum().backward()
    g_effective = x.sum(0)[None].expand(300, -1)          # d(sum y)/d(effective W)
    assert torch.allclose(layer.weight.grad, g_effective * layer.weight_gain, atol=1e-4)


def test_mapping_normalizes_z_and_tracks_w_average():
    torch.manual_seed(0)
    net = MappingNetwork(8, 6, num_layers=2, lr_multiplier=0.01, w_avg_decay=0.9)
    z = torch.randn(5, 8)
    assert torch.allclose(net(z * 7.0, update_w_avg=False), net(z, update_w_avg=False), atol=1e-5)
    assert torch.equal(net.w_avg, torch.zeros(6))
    w = net(z)
    assert torch.allclose(net.w_avg, 0.1 * w.mean(0))             # β w̄ + (1 − β) mean(w), from 0
    before = net.w_avg.clone()
    w2 = net(torch.randn(5, 8))
    assert torch.allclose(net.w_avg, 0.9 * before + 0.1 * w2.mean(0))
    net.eval()
    net(torch.randn(5, 8))
    assert torch.allclose(net.w_avg, 0.9 * before + 0.1 * w2.mean(0))  # no update in eval mode
    assert torch.allclose(normalize_second_moment(z).square().mean(1), torch.ones(5), atol=1e-5)


def _generator(conditioning="concat", size=16, **kw):
    torch.manual_seed(0)
    g = StyleGAN2Generator(8, 3, size, width=4, w_dim=6, mapping_layers=2, num_conditions=10,
                           conditioning=conditioning, embed_dim=4, **kw)
    with torch.no_grad():  # noise strengths start at 0: make the noise inputs matter
        for layer in g.convs:
            layer.noise_strength.fill_(0.5)
    return g


def test_truncation_pulls_w_toward_the_tracked_average():
    g = _generator()
    g.mapping_net.w_avg.copy_(torch.randn(6))
    g.eval()
    z, c = torch.randn(4, 8), onehot([1, 2, 3, 4])
    w = g.mapping(z, c)
    for psi in (0.0, 0.5, 0.7, 1.0):
        truncated = g.mapping(z, c, truncation_psi=psi)
        assert torch.allclose(truncated, g.w_avg + psi * (w - g.w_avg), atol=1e-6)
        assert torch.allclose(g(z, c, truncation_psi=psi), g.synthesis(g.broadcast(truncated), c), atol=1e-6)
    # ψ = 0: every latent and every class gives the image of w̄.
    x0 = g(z, c, truncation_psi=0.0)
    assert torch.allclose(x0, x0[:1].expand_as(x0), atol=1e-6)


def test_noise_inputs_random_in_training_fixed_in_eval():
    g = _generator()
    z, c = torch.randn(2, 8), onehot([0, 1])
    g.train()
    assert not torch.allclose(g(z, c), g(z, c))
    g.eval()
    assert torch.equal(g(z, c), g(z, c))


def test_skip_output_is_the_sum_of_upsampled_partial_images():
    g = _generator(size=16).eval()
    with torch.no_grad():
        for to_image in g.to_images[1:]:
            to_image.weight.zero_()
            to_image.bias.zero_()
    z, c = torch.randn(2, 8), onehot([0, 5])
    ws = g.broadcast(g.mapping(z, c))
    x = g.convs[0](g.const.unsqueeze(0).expand(2, -1, -1, -1), ws[:, 0])
    first = g.to_images[0](x, ws[:, 1])                    # the 4×4 image
    assert torch.allclose(g.synthesis(ws, c), upsample_2x(upsample_2x(first)), atol=1e-6)


def test_layer_count_and_channel_schedule():
    g = StyleGAN2Generator(8, 1, 32, width=4, w_dim=8, mapping_layers=1, num_conditions=0, conditioning="none")
    assert g.num_ws == 8 and len(g.convs) == 7                   # 1 at 4 px + 2 per 8, 16, 32
    assert [layer.weight.shape[0] for layer in g.convs] == [32, 16, 16, 8, 8, 4, 4]
    d = StyleGAN2Trunk(1, 32, width=4, minibatch_std=0)
    assert d.out_dim == 32 and len(d.blocks) == 3


def test_conditional_adain_feeds_the_label_to_every_layer_not_the_mapping():
    g = _generator("adain").eval()
    z = torch.randn(2, 8)
    a, b = onehot([1, 1]), onehot([1, 7])
    assert torch.equal(g.mapping(z, a), g.mapping(z, b))                     # mapping sees z only
    assert all(layer.affine.weight.shape[1] == 6 + 4 for layer in g.convs)    # [w, e(y)] per affine
    x0 = g(z, b, truncation_psi=0.0)
    assert not torch.allclose(x0[0], x0[1])           # the class survives full truncation
    concat = _generator("concat").eval()
    assert not torch.equal(concat.mapping(z, a), concat.mapping(z, b))
    assert concat.mapping_net.layers[0].weight.shape[1] == 8 + 4              # [norm z, norm e(y)]


def test_onehot_label_input_and_missing_condition():
    g = StyleGAN2Generator(8, 1, 8, width=2, w_dim=4, mapping_layers=1, num_conditions=3,
                           label_embedding="onehot")
    assert g.embed is None and g.mapping_net.layers[0].weight.shape[1] == 8 + 3
    with pytest.raises(CondganError, match="conditional"):
        g(torch.randn(2, 8), None)


@pytest.mark.parametrize("size, channels", [(8, 1), (16, 3), (28, 1), (32, 3), (64, 3), (128, 3)])
def test_shapes_at_every_size(size, channels):
    g = StyleGAN2Generator(8, channels, size, width=1, w_dim=4, mapping_layers=1, num_conditions=10)
    d = StyleGAN2Trunk(channels, size, width=1, minibatch_std=2)
    x = g(torch.randn(4, 8), onehot([0, 1, 2, 3]))
    assert x.shape == (4, channels, size, size) and torch.isfinite(x).all()
    n = int(math.log2(size // (7 if size % 7 == 0 else 4)))
    assert d(x).shape == (4, d.out_dim) and d.out_dim == min(2 ** n, 16)


def test_trunk_is_per_sample_without_minibatch_std_and_second_order():
    torch.manual_seed(0)
    d = StyleGAN2Trunk(1, 8, width=2, minibatch_std=0).double()
    x = torch.randn(3, 1, 8, 8, dtype=f64)
    assert torch.allclose(d(x)[1:], d(x[1:]))
    mb = StyleGAN2Trunk(1, 8, width=2, minibatch_std=3).double()
    assert not torch.allclose(mb(x)[1:2], mb(x[1:2]))                   # mbstd couples the batch
    small = x[:2].clone().requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda v: d(v).sum(1), (small,))


def test_residual_block_is_scaled_sum():
    from condgan.nets.stylegan2 import DiscriminatorBlock

    block = DiscriminatorBlock(2, 4)
    x = torch.randn(2, 2, 8, 8)
    main = F.leaky_relu(F.conv2d(fir_filter(F.pad(block.conv0(x), (2, 2, 2, 2))),
                                 block.conv1.weight * block.conv1.weight_gain, block.conv1.bias, stride=2), 0.2)
    skip = F.conv2d(downsample_2x(x), block.skip.weight * block.skip.weight_gain)
    assert torch.allclose(block(x), math.sqrt(0.5) * (skip + math.sqrt(2) * main), atol=1e-5)


# ------------------------------------------------------------------ config and registry
def _cfg(*extra):
    return load_config("mnist5k-quickstart", ["model.net=stylegan2", "data.image_size=16", "model.g_width=2",
                                              "model.d_width=2", "model.mapping_layers=2", *extra])


@pytest.mark.parametrize("method", ["pd", "d2dce", "ac", "2c", "none"])
def test_any_conditioning_method_sits_on_the_trunk(method):
    cfg = _cfg(f"model.conditioning={method}", "model.d_minibatch_std=4")
    torch.manual_seed(0)
    gan = build_gan(cfg, DataInfo((1, 16, 16), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    assert isinstance(gan.generator, StyleGAN2Generator)
    assert isinstance(gan.discriminator.trunk, StyleGAN2Trunk)
    x = gan.generator(torch.randn(4, cfg.model.z_dim), onehot([0, 1, 2, 3]))
    out = gan.discriminator(x, onehot([0, 1, 2, 3]))
    assert out["adv"].shape == (4,)


@pytest.mark.parametrize("overrides, message", [
    (["model.g_conditioning=cbn"], "model.g_conditioning"),
    (["model.d_spectral_norm=true"], "d_spectral_norm"),
    (["model.g_depth=1"], "g_depth"),
    (["model.mapping_layers=0"], "model.mapping_layers"),
    (["model.w_avg_decay=1"], "model.w_avg_decay"),
    (["model.w_dim=0"], "model.w_dim"),
    (["model.attention=[8]"], "model.attention"),
])
def test_config_errors(overrides, message):
    with pytest.raises(CondganError, match=message):
        _cfg(*overrides)


def test_style_options_need_a_style_based_net():
    for key in ("reg.pl=2", "reg.style_mixing=0.9"):
        with pytest.raises(CondganError, match="style-based"):
            load_config("mnist5k-quickstart", [key])
    with pytest.raises(CondganError, match="adain"):
        load_config("mnist5k-quickstart", ["model.g_conditioning=adain"])
    cfg = _cfg("model.g_conditioning=adain", "reg.pl=2", "reg.style_mixing=0.9", "model.w_dim=16")
    assert cfg.model.w_dim == 16


def test_sampling_truncation_is_psi_in_w_for_style_based_generators():
    from condgan.training.labeling import CategoryGenerator
    from condgan.training.latents import latent_truncation
    from condgan.training.sampling import fixed_latents, sample_grid

    g = _generator().eval()
    g.mapping_net.w_avg.copy_(torch.randn(6))
    x, _ = sample_grid(g, 8, [2, 5], 10, 3, seed=4, device="cpu", truncation=0.7)
    z = fixed_latents(8, 3, 4, "cpu").repeat(2, 1)                  # untruncated z
    assert torch.allclose(x, g(z, onehot([2, 2, 2, 5, 5, 5]), truncation_psi=0.7), atol=1e-6)
    assert g.truncation_psi == 1.0                                   # restored after sampling
    wrapped = CategoryGenerator(g, lambda i: onehot(i.tolist()), 10)  # found inside wrappers too
    with latent_truncation(wrapped, 0.5) as z_threshold:
        assert z_threshold is None and g.truncation_psi == 0.5
    from condgan.nets.resnet import ResNetGenerator
    with latent_truncation(ResNetGenerator(8, 1, 8, width=2), 0.5) as z_threshold:
        assert z_threshold == 0.5                                     # other nets: the |z| threshold
