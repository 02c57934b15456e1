"""DiffAugment policies and consistency regularization (CR / bCR): each checked against a plain
per-pixel loop over the same random draws, gradients by gradcheck, CR by hand on a linear D."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgan.augment import (AUGMENTATIONS, DiffAugment, color, consistency_transform, cutout, horizontal_flip,
                             translation)
from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels, LinearHead
from condgan.losses.regularizers import REGULARIZERS, PenaltyContext
from condgan.nets import Discriminator


def images(n=4, c=2, h=8, w=8, dtype=torch.float64):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_registered_policies():
    assert AUGMENTATIONS.names() == ["color", "cutout", "translation"]


def test_translation_matches_a_pixel_loop():
    x = images()
    n, c, h, w = x.shape
    out = translation(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    dy = torch.randint(-1, 2, (n,), generator=g)  # int(8 / 8 + 0.5) = 1
    dx = torch.randint(-1, 2, (n,), generator=g)
    want = torch.zeros_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                si, sj = i - int(dy[b]), j - int(dx[b])
                if 0 <= si < h and 0 <= sj < w:
                    want[b, :, i, j] = x[b, :, si, sj]
    assert torch.equal(out, want)
    assert (dy != 0).any() or (dx != 0).any()  # the draw did shift something


def test_translation_with_reflect_padding_matches_a_pixel_loop():
    """Consistency regularization's translation: the uncovered border mirrors the image at its
    edge (index −1 reads row 1, index H reads row H − 2), no zeros."""
    x = images()
    n, c, h, w = x.shape
    out = translation(x, torch.Generator().manual_seed(3), padding="reflect")
    g = torch.Generator().manual_seed(3)
    dy = torch.randint(-1, 2, (n,), generator=g)
    dx = torch.randint(-1, 2, (n,), generator=g)

    def mirror(i, size):
        return -i if i < 0 else 2 * (size - 1) - i if i >= size else i

    want = torch.stack([torch.stack([torch.stack([x[b, :, mirror(i - int(dy[b]), h), mirror(j - int(dx[b]), w)]
                                                  for j in range(w)], -1) for i in range(h)], -2) for b in range(n)])
    assert torch.equal(out, want)
    assert (dy != 0).any()


def test_horizontal_flip_by_hand():
    x = images(n=16)
    out = horizontal_flip(x, torch.Generator().manual_seed(5))
    flip = torch.rand(16, generator=torch.Generator().manual_seed(5)) < 0.5
    for b in range(16):
        assert torch.equal(out[b], x[b].flip(2) if flip[b] else x[b])
    assert 0 < int(flip.sum()) < 16


def test_consistency_transform_is_a_flip_then_a_reflect_padded_translation():
    x = images(n=16)
    g = torch.Generator().manual_seed(6)
    want = translation(horizontal_flip(x, g), g, padding="reflect")
    assert torch.equal(consistency_transform(x, torch.Generator().manual_seed(6)), want)
    v = torch.randn(3, 2)
    assert torch.equal(consistency_transform(v, torch.Generator()), v)


def cutout_loop(x, cy, cx, side):
    """The cutout square by a pixel loop: rows cy − side//2 … cy − side//2 + side − 1, clipped."""
    out = x.clone()
    for b in range(x.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                if (int(cy[b]) - side // 2 <= i < int(cy[b]) - side // 2 + side
                        and int(cx[b]) - side // 2 <= j < int(cx[b]) - side // 2 + side):
                    out[b, :, i, j] = 0
    return out


@pytest.mark.parametrize("h", [8, 6])  # side 4 (even) and 3 (odd)
def test_cutout_zeroes_one_clipped_square_centred_as_in_the_original(h):
    """The centre is uniform in [0, H − (side mod 2)], as the DiffAugment authors' rand_cutout:
    for an even side it may sit at row H (only the top half of the square stays inside)."""
    x = images(n=64, h=h, w=h) + 5.0  # no exact zeros in the input
    side = int(h * 0.5 + 0.5)
    out = cutout(x, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    top = h - side % 2
    cy = torch.randint(0, top + 1, (64,), generator=g)
    cx = torch.randint(0, top + 1, (64,), generator=g)
    assert torch.equal(out, cutout_loop(x, cy, cx, side))
    assert int(cy.max()) == top  # the last centre is drawn (64 draws of 9 or 6 values)


def test_color_formula_by_hand():
    x = images(n=3, c=3)
    out = color(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    u = [torch.rand((3, 1, 1, 1), generator=g, dtype=x.dtype) for _ in range(3)]
    for b in range(3):
        y = x[b] + (u[0][b] - 0.5)
        m = y.mean(0, keepdim=True)
        y = m + (y - m) * 2 * u[1][b]
        m = y.mean()
        y = m + (y - m) * (u[2][b] + 0.5)
        torch.testing.assert_close(out[b], y)


def test_diffaugment_is_differentiable_gradcheck():
    x = images(n=2, c=3, h=6, w=6).requires_grad_(True)

    def augment(inp):
        return DiffAugment(["color", "translation", "cutout"], torch.Generator().manual_seed(7))(inp)

    assert torch.autograd.gradcheck(augment, (x,))


def test_diffaugment_is_deterministic_per_generator_and_leaves_vectors_alone():
    x = images()
    a = DiffAugment(["translation", "cutout"], torch.Generator().manual_seed(0))(x)
    b = DiffAugment(["translation", "cutout"], torch.Generator().manual_seed(0))(x)
    assert torch.equal(a, b) and not torch.equal(a, x)
    v = torch.randn(5, 2)
    assert torch.equal(DiffAugment(["color"], torch.Generator())(v), v)


def test_unknown_policy_is_a_config_error(tiny_config):
    with pytest.raises(CondganError, match=r"train.diffaugment.*'cutot'.*did you mean 'cutout'"):
        tiny_config("train.diffaugment=[color,cutot]")


def linear_d(w: torch.Tensor) -> Discriminator:
    head = LinearHead(w.numel(), 1, spectral_norm=False).double()
    with torch.no_grad():
        head.linear.weight.copy_(w.reshape(1, -1))
        head.linear.bias.fill_(0.4)
    return Discriminator(nn.Flatten(), {"adv": head})


@pytest.mark.parametrize("name, which", [("cr", "real"), ("cr_fake", "fake")])
def test_consistency_regularization_on_a_linear_discriminator(name, which):
    """D(x) = w·x + b: CR = λ · mean_i (w·(x_i − T(x_i)))², T the flip + reflect-padded translation
    drawn from the penalty's generator; cr reads the reals, cr_fake the fakes."""
    w = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    real, fake = images(n=5, c=1), images(n=5, c=1) * -2
    none = Labels(None, None)
    method = CONDITIONING.get("none")(ADVERSARIAL_LOSSES.get("ns"), 1, 1.0)
    ctx = PenaltyContext(linear_d(w), method, real, fake, none, none, 3.0, torch.Generator().manual_seed(9))
    value = REGULARIZERS.get(name)(ctx)
    x = real if which == "real" else fake
    shifted = consistency_transform(x, torch.Generator().manual_seed(9))
    want = 3.0 * ((x - shifted).flatten(1) @ w.flatten()).square().mean()
    assert value.item() == pytest.approx(want.item(), rel=1e-12)
    assert want > 0


def test_consistency_regularization_averages_within_each_head_and_sums_the_heads():
    """An AC-style D with an adversarial head (1 output) and a K = 3 class head, both linear:
    CR = λ · mean_i [ (a·d_i)² + (1/K) Σ_k (C_k·d_i)² ], d_i = x_i − T(x_i) — the MSE of each head
    (PyTorch-StudioGAN's CR adds the class head's MSE to the adversarial one), not the sum over
    the K columns. Its gradient reaches D through D(x) and D(T(x)) both."""
    torch.manual_seed(3)
    x = images(n=6, c=1)
    adv = LinearHead(64, 1, spectral_norm=False).double()
    cls = LinearHead(64, 3, spectral_norm=False).double()
    disc = Discriminator(nn.Flatten(), {"adv": adv, "cls": cls})
    y = torch.randint(3, (6,))
    labels = Labels(y, torch.nn.functional.one_hot(y, 3).double())
    method = CONDITIONING.get("ac")(ADVERSARIAL_LOSSES.get("ns"), 3, 1.0)
    ctx = PenaltyContext(disc, method, x, x, labels, labels, 2.0, torch.Generator().manual_seed(1))
    value = REGULARIZERS.get("cr")(ctx)
    d = (x - consistency_transform(x, torch.Generator().manual_seed(1))).flatten(1)
    a, c = adv.linear.weight, cls.linear.weight
    want = 2.0 * ((d @ a.t()).square().sum(1) + (d @ c.t()).square().mean(1)).mean()
    torch.testing.assert_close(value, want)
    from condgan.losses.regularizers import consistency_sq_distance

    per_sample = consistency_sq_distance(
        PenaltyContext(disc, method, x, x, labels, labels, 2.0, torch.Generator().manual_seed(1)), x, labels)
    torch.testing.assert_close(per_sample, ((d @ a.t()).square().sum(1) + (d @ c.t()).square().mean(1)).detach())
    (g_value,) = torch.autograd.grad(value, c)
    (g_want,) = torch.autograd.grad(want, c)
    torch.testing.assert_close(g_value, g_want)
    assert g_value.abs().sum() > 0


AUGMENTED = ["train.diffaugment=[color,translation,cutout]", "reg.cr=1", "reg.cr_fake=0.5",
             "model.conditioning=ac_mod", "train.checkpoint_every=5", "train.ema=0"]


def train_tiny(tiny_config, out, *extra):
    from condgan.training.trainer import Trainer

    trainer = Trainer(tiny_config(*AUGMENTED, *extra), out, progress=False)
    trainer.train()
    return trainer


def test_augmented_training_logs_cr_and_resumes_bit_identically(tiny_config, tmp_path):
    """DiffAugment and CR draw from the training RNG: 5 + 5 resumed steps equal 10 fresh ones,
    and both consistency terms are logged and added to D's loss."""
    import json

    from condgan.training.checkpoint import load_checkpoint

    fresh = train_tiny(tiny_config, tmp_path / "fresh", "train.steps=10")
    train_tiny(tiny_config, tmp_path / "resumed", "train.steps=5")
    train_tiny(tiny_config, tmp_path / "resumed", "train.steps=10")
    a, b = (load_checkpoint(tmp_path / d / "checkpoints" / "last.pt") for d in ("fresh", "resumed"))
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    record = json.loads((fresh.run.metrics).read_text().splitlines()[0])
    assert record["d_consistency_real"] > 0 and record["d_consistency_fake"] > 0


def test_diffaugment_changes_training(tiny_config, tmp_path):
    from condgan.training.checkpoint import load_checkpoint

    train_tiny(tiny_config, tmp_path / "aug", "train.steps=3", "reg.cr=0", "reg.cr_fake=0")
    train_tiny(tiny_config, tmp_path / "plain", "train.steps=3", "reg.cr=0", "reg.cr_fake=0", "train.diffaugment=[]")
    a, b = (load_checkpoint(tmp_path / d / "checkpoints" / "last.pt")["generator"] for d in ("aug", "plain"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_diffaugment_reaches_every_discriminator_input(tiny_config, tmp_path):
    """Every image D sees in a step goes through DiffAugment: reals and fakes in D's step, the
    inputs of the gradient penalties (R1, R2, GP) and the fakes of G's step. A marking policy
    (x + 100) shows which inputs were augmented."""
    from condgan.training.trainer import Trainer

    cfg = tiny_config("train.diffaugment=[translation]", "reg.r1=1", "reg.r2=1", "reg.gp=1",
                      "model.conditioning=ac_mod", "train.steps=1")
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.setup()
    try:
        trainer.d_fn.augment.policies = [lambda x, g: x + 100.0]
        seen, forward = [], trainer.D.forward

        def spy(x, cnd):
            seen.append(float(x.detach().min()))
            return forward(x, cnd)

        trainer.D.forward = spy
        trainer.train_step()
    finally:
        trainer.close()
    assert len(seen) == 6  # D step: reals, fakes, R1, R2, GP; G step: fakes
    assert all(v > 50 for v in seen), seen
