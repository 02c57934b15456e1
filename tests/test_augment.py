"""DiffAugment policies and consistency regularization (CR / bCR): each checked against a plain
per-pixel loop over the same random draws, gradients by gradcheck, CR by hand on a linear D."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgan.augment import AUGMENTATIONS, DiffAugment, color, cutout, translation
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


def test_cutout_zeroes_one_clipped_square():
    x = images(n=6) + 5.0  # no exact zeros in the input
    n, c, h, w = x.shape
    out = cutout(x, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    cy = torch.randint(0, h, (n,), generator=g)
    cx = torch.randint(0, w, (n,), generator=g)
    for b in range(n):
        zeroed = {(i, j) for i in range(h) for j in range(w) if (out[b, :, i, j] == 0).all()}
        want = {(i, j) for i in range(h) for j in range(w)
                if int(cy[b]) - 2 <= i < int(cy[b]) + 2 and int(cx[b]) - 2 <= j < int(cx[b]) + 2}
        assert zeroed == want
        kept = [(i, j) for i in range(h) for j in range(w) if (i, j) not in want]
        for i, j in kept:
            assert torch.equal(out[b, :, i, j], x[b, :, i, j])


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
    """D(x) = w·x + b: CR = λ · mean_i (w·(x_i − T(x_i)))², T the translation drawn from the
    penalty's generator; cr reads the reals, cr_fake the fakes."""
    w = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    real, fake = images(n=5, c=1), images(n=5, c=1) * -2
    none = Labels(None, None)
    method = CONDITIONING.get("none")(ADVERSARIAL_LOSSES.get("ns"), 1, 1.0)
    ctx = PenaltyContext(linear_d(w), method, real, fake, none, none, 3.0, torch.Generator().manual_seed(9))
    value = REGULARIZERS.get(name)(ctx)
    x = real if which == "real" else fake
    shifted = translation(x, torch.Generator().manual_seed(9))
    want = 3.0 * ((x - shifted).flatten(1) @ w.flatten()).square().mean()
    assert value.item() == pytest.approx(want.item(), rel=1e-12)
    assert want > 0


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
