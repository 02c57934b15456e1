"""Unrolled GAN (`train.unrolled_steps`): the look-ahead is D's own optimizer, step for step;
G's gradient flows through the unrolled steps (checked by finite differences of the unrolled
objective computed with torch's optimizer); training runs and resumes bit-identically."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call

from condgan.training.extensions.unrolled import unrolled_parameters


class Critic(nn.Module):
    """D(x, cnd) as condgan calls it (the condition is ignored)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x, cnd=None):
        return self.net(x)


def _nets(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double(), Critic().double()


def _d_loss(d, real, fake):  # ns: softplus(−D(x)) + softplus(D(x'))
    return nn.functional.softplus(-d(real)).mean() + nn.functional.softplus(d(fake)).mean()


def _optimizer(d, kind):
    opt = (torch.optim.AdamW(d.parameters(), lr=0.05, betas=(0.5, 0.9), weight_decay=0.1) if kind == "adamw" else
           torch.optim.Adam(d.parameters(), lr=0.05, betas=(0.5, 0.9), weight_decay=0.01))
    g = torch.Generator().manual_seed(1)
    for _ in range(2):  # some optimizer state to start the look-ahead from
        opt.zero_grad()
        _d_loss(d, torch.randn(16, 2, generator=g, dtype=torch.float64),
                torch.randn(16, 2, generator=g, dtype=torch.float64)).backward()
        opt.step()
    return opt


def _reference(g, d, opt, real, z, k):
    """G's unrolled loss computed with torch's own optimizer on copies (no gradient to G)."""
    d2 = copy.deepcopy(d)
    opt2 = type(opt)(d2.parameters(), **{key: v for key, v in opt.defaults.items() if key in
                                         ("lr", "betas", "weight_decay", "eps")})
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict may share the moment tensors
    with torch.no_grad():
        fake = g(z)
    for _ in range(k):
        opt2.zero_grad()
        _d_loss(d2, real, fake).backward()
        opt2.step()
    with torch.no_grad():
        return float(nn.functional.softplus(-d2(g(z))).mean())


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_look_ahead_equals_the_optimizers_steps_and_differentiates_through_them(kind):
    g, d = _nets()
    opt = _optimizer(d, kind)
    gen = torch.Generator().manual_seed(2)
    real, z = (torch.randn(16, 2, generator=gen, dtype=torch.float64) for _ in range(2))
    k = 3

    def unrolled_g_loss():
        fake = g(z)
        params, buffers = unrolled_parameters(d, opt, lambda dd: _d_loss(lambda x: dd(x, None), real, fake), k)
        return nn.functional.softplus(-functional_call(d, {**params, **buffers}, (fake,))).mean()

    d_before = copy.deepcopy(d.state_dict())
    state_before = copy.deepcopy(opt.state_dict())
    loss = unrolled_g_loss()
    assert float(loss.detach()) == pytest.approx(_reference(g, d, opt, real, z, k), rel=1e-10)  # torch's optimizer
    assert all(torch.equal(d_before[n], v) for n, v in d.state_dict().items())          # D and its optimizer untouched
    assert all(torch.equal(a["exp_avg"], b["exp_avg"]) for a, b in zip(state_before["state"].values(),
                                                                       opt.state_dict()["state"].values()))
    # the gradient: finite differences of the unrolled objective along a random direction
    params = list(g.parameters())
    grads = torch.autograd.grad(loss, params)
    direction = [torch.randn_like(p, generator=None) for p in params]
    eps = 1e-5
    with torch.no_grad():
        for p, u in zip(params, direction):
            p.add_(eps * u)
    plus = _reference(g, d, opt, real, z, k)
    with torch.no_grad():
        for p, u in zip(params, direction):
            p.sub_(2 * eps * u)
    minus = _reference(g, d, opt, real, z, k)
    numeric = (plus - minus) / (2 * eps)
    analytic = sum(float((gr * u).sum()) for gr, u in zip(grads, direction))
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    # and it is not the gradient against the current D (the second term of Metz Eq. 7 is present)
    fake = g(z)
    plain = torch.autograd.grad(nn.functional.softplus(-d(fake)).mean(), params)
    assert abs(sum(float((gr * u).sum()) for gr, u in zip(plain, direction)) - numeric) > 1e-4


def test_zero_steps_is_the_current_discriminator():
    g, d = _nets()
    opt = _optimizer(d, "adam")
    params, buffers = unrolled_parameters(d, opt, lambda dd: torch.zeros(()), 0)
    x = torch.randn(5, 2, dtype=torch.float64)
    assert torch.equal(functional_call(d, {**params, **buffers}, (x,)), d(x))


def test_trains_and_resumes_bit_identically(tmp_path, tiny_config):
    from condgan.training.checkpoint import load_checkpoint
    from condgan.training.trainer import Trainer

    extra = ("train.unrolled_steps=2", "model.d_spectral_norm=true", "train.diffaugment=[translation]",
             "model.conditioning=ac", "train.checkpoint_every=1", "train.ema=0", "train.sample_every=0")
    Trainer(tiny_config(*extra, "train.steps=2"), tmp_path / "a", progress=False).train()
    Trainer(tiny_config(*extra, "train.steps=1"), tmp_path / "b", progress=False).train()
    Trainer(tiny_config(*extra, "train.steps=2"), tmp_path / "b", progress=False).train()
    a, b = (load_checkpoint(tmp_path / n / "checkpoints" / "last.pt") for n in "ab")
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part


def test_look_ahead_leaves_the_discriminator_alone(tiny_config, set_up_trainer):
    """One G phase with the unrolled critic changes neither D's weights nor its buffers (BN,
    spectral-norm vectors), and G's loss differs from the plain one."""
    cfg = tiny_config("train.unrolled_steps=3", "model.d_norm=batch", "model.conditioning=none", "train.ema=0")
    with set_up_trainer(cfg) as trainer:
        step = trainer.gan_step
        from condgan.training.step import Iteration

        iteration = Iteration(0)
        step.discriminator_phase(iteration)
        state = copy.deepcopy(trainer.D.state_dict())
        g_state = copy.deepcopy(trainer.G.state_dict())
        rng = step.rng.get_state()
        unrolled = float(step.generator_phase(iteration)["g_loss"].detach())
        assert all(torch.equal(state[k], v) for k, v in trainer.D.state_dict().items())
        trainer.G.load_state_dict(g_state)
        step.rng.set_state(rng)
        step.generator_critic = None
        iteration.fake = iteration.fake_labels = None  # else the G phase reuses them (train.reuse_fakes' path)
        plain = float(step.generator_phase(iteration)["g_loss"].detach())
        assert unrolled != plain
