"""Gradient penalties (docs/methods.md §5): exact values on discriminators whose input gradient is known in
closed form, and double-backward correctness by finite differences (gradcheck, float64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels, LinearHead
from condgan.losses.regularizers import REGULARIZERS, PenaltyContext
from condgan.nets import Discriminator

W = [0.5, -1.5, 2.0, 0.25]
B = 0.7
NORM_W_SQ = sum(w * w for w in W)   # ||w||² = 6.5625


def method(name="none", k=1):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get("ns"), k, 1.0)


def linear_discriminator(dtype=torch.float64) -> Discriminator:
    """D(x) = w·flatten(x) + b."""
    head = LinearHead(4, 1, spectral_norm=False).to(dtype)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([W]))
        head.linear.bias.fill_(B)
    return Discriminator(nn.Flatten(), {"adv": head})


class SquareNorm(nn.Module):
    """x ↦ ||x||² (as a 1-feature vector): ∇_x (a·||x||² + b) = 2a x."""

    out_dim = 1

    def forward(self, x):
        return x.flatten(1).square().sum(1, keepdim=True)


def quadratic_discriminator(a: float) -> Discriminator:
    head = LinearHead(1, 1, spectral_norm=False).double()
    with torch.no_grad():
        head.linear.weight.fill_(a)
        head.linear.bias.fill_(-0.3)
    return Discriminator(SquareNorm(), {"adv": head})


def ctx(d, m, real, fake, weight, real_labels=None, fake_labels=None, gen=None):
    none = Labels(None, None)
    return PenaltyContext(d, m, real, fake, real_labels or none, fake_labels or none, weight, gen)


def test_registered():
    assert set(REGULARIZERS.names()) >= {"r1", "r2", "gp"}


def test_r1_r2_linear_discriminator_exact():
    d = linear_discriminator()
    real = torch.randn(3, 1, 2, 2, dtype=torch.float64)   # image-shaped: flattened to 4
    fake = torch.randn(5, 1, 2, 2, dtype=torch.float64)
    gamma = 3.0
    for name in ("r1", "r2"):
        value = REGULARIZERS.get(name)(ctx(d, method(), real, fake, gamma))
        assert value.item() == pytest.approx(gamma / 2 * NORM_W_SQ, rel=1e-12)


def test_gp_linear_discriminator_exact():
    d = linear_discriminator()
    real = torch.randn(3, 4, dtype=torch.float64)
    fake = torch.randn(3, 4, dtype=torch.float64)
    lam = 10.0
    value = REGULARIZERS.get("gp")(ctx(d, method(), real, fake, lam, gen=torch.Generator().manual_seed(0)))
    assert value.item() == pytest.approx(lam * (math.sqrt(NORM_W_SQ) - 1) ** 2, rel=1e-9)


def test_penalties_read_reals_or_fakes_per_sample():
    """∇_x D = 2a x: R1 = γ/2 · mean_i 4a²||x_i||² over reals, R2 the same over fakes, and GP
    on the interpolates x̂ = εx + (1-ε)x' with ε ~ U[0,1] from the given generator."""
    a, gamma, lam = 0.8, 2.0, 10.0
    d = quadratic_discriminator(a)
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype=torch.float64)
    fake = torch.tensor([[-1.0, 1.0], [0.2, 0.2], [0.0, 4.0]], dtype=torch.float64)
    sq = lambda rows: [sum(v * v for v in r) for r in rows.tolist()]  # noqa: E731
    r1 = REGULARIZERS.get("r1")(ctx(d, method(), real, fake, gamma)).item()
    r2 = REGULARIZERS.get("r2")(ctx(d, method(), real, fake, gamma)).item()
    assert r1 == pytest.approx(gamma / 2 * sum(4 * a * a * s for s in sq(real)) / 3, rel=1e-12)
    assert r2 == pytest.approx(gamma / 2 * sum(4 * a * a * s for s in sq(fake)) / 3, rel=1e-12)

    gp = REGULARIZERS.get("gp")(ctx(d, method(), real, fake, lam, gen=torch.Generator().manual_seed(5))).item()
    eps = torch.rand((3, 1), generator=torch.Generator().manual_seed(5)).flatten().tolist()
    want = 0.0
    for e, r, f in zip(eps, real.tolist(), fake.tolist()):
        mixed = [e * u + (1 - e) * v for u, v in zip(r, f)]
        norm = 2 * a * math.sqrt(sum(v * v for v in mixed))
        want += lam * (norm - 1) ** 2 / 3
    assert gp == pytest.approx(want, rel=1e-9)


def test_ca_penalty_differentiates_the_labeled_logits():
    """For ca, D_c(x) = w_c·x + b_c and the penalized scalar is Σ_c cnd_c D_c(x), so
    ∇_x = Σ_c cnd_c w_c: R1 = γ/2 · mean_i ||Σ_c cnd_ic w_c||²."""
    wc = [[1.0, 0.0, 2.0], [0.0, -3.0, 1.0], [0.5, 0.5, 0.5]]
    m = method("ca", k=3)
    heads = {k: v.double() for k, v in m.heads(3, False).items()}
    with torch.no_grad():
        heads["cond"].linear.weight.copy_(torch.tensor(wc))
        heads["cond"].linear.bias.copy_(torch.tensor([5.0, -5.0, 1.0]))
    d = Discriminator(nn.Identity(), heads)
    real = torch.randn(3, 3, dtype=torch.float64)
    cnd = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]   # last one: multi-hot
    labels = Labels(None, torch.tensor(cnd, dtype=torch.float64))
    gamma = 4.0
    r1 = REGULARIZERS.get("r1")(ctx(d, m, real, real, gamma, labels, labels)).item()
    want = 0.0
    for c in cnd:
        g = [sum(c[k] * wc[k][j] for k in range(3)) for j in range(3)]
        want += sum(v * v for v in g) / 3
    assert r1 == pytest.approx(gamma / 2 * want, rel=1e-12)
    # the logits of conditions a sample does not carry do not enter
    one_hot = Labels(torch.tensor([2, 2, 2]), nn.functional.one_hot(torch.tensor([2, 2, 2]), 3).double())
    r1_class2 = REGULARIZERS.get("r1")(ctx(d, m, real, real, gamma, one_hot, one_hot)).item()
    assert r1_class2 == pytest.approx(gamma / 2 * 3 * 0.25, rel=1e-12)


# ------------------------------------------------------------------ double backward (gradcheck)
def small_nonlinear_discriminator(name="none", k=1):
    torch.manual_seed(0)
    m = method(name, k)
    trunk = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Softplus())
    trunk.out_dim = 4
    return Discriminator(trunk, m.heads(4, False)).double(), m


@pytest.mark.parametrize("penalty", ["r1", "r2", "gp"])
@pytest.mark.parametrize("name", ["none", "ca"])
def test_penalty_gradient_wrt_parameters_gradcheck(penalty, name):
    """The penalty's gradient w.r.t. D's weights needs the second derivative of D (it is
    what D's optimizer follows): autograd's value must match finite differences."""
    k = 3 if name == "ca" else 1
    d, m = small_nonlinear_discriminator(name, k)
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    fake = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    labels = (Labels(None, torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float64))
              if name == "ca" else Labels(None, None))
    names = [n for n, _ in d.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in d.parameters())

    def f(*ps):
        module = _Functional(d, dict(zip(names, ps)))
        return REGULARIZERS.get(penalty)(PenaltyContext(
            module, m, real, fake, labels, labels, 2.0, torch.Generator().manual_seed(3)))

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-5)


class _Functional(nn.Module):
    """D with its parameters replaced by given tensors (so gradcheck can perturb them)."""

    def __init__(self, d, params):
        super().__init__()
        self.d, self.params = d, params

    def forward(self, x, cnd):
        return functional_call(self.d, self.params, (x, cnd))


def test_penalty_gradient_matches_manual_double_backward():
    """Same check without gradcheck: d/dw of R1 for D(x) = a·||x||² + b is γ·4a·mean||x||²."""
    a, gamma = 0.8, 2.0
    d = quadratic_discriminator(a)
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    value = REGULARIZERS.get("r1")(ctx(d, method(), real, real, gamma))
    value.backward()
    grad_a = d.heads["adv"].linear.weight.grad.item()
    assert grad_a == pytest.approx(gamma * 4 * a * (5.0 + 1.0) / 2, rel=1e-12)
    bias_grad = d.heads["adv"].linear.bias.grad
    assert bias_grad is None or bias_grad.item() == 0.0   # the bias does not move ∇_x D


def test_dragan_quadratic_discriminator_by_hand():
    """DRAGAN on D(x) = a·‖x‖² − 0.3 (∇D(x̂) = 2a·x̂): λ · mean_i (2a‖x̂_i‖ − 1)² at the perturbed
    reals x̂ = x + α·0.5·std(x)·u, drawn in the documented order (u per element, then α per
    sample) from the context's generator; the fakes play no part."""
    a, lam = 0.8, 10.0
    d = quadratic_discriminator(a)
    real = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fake = torch.full((6, 3), 100.0, dtype=torch.float64)
    value = REGULARIZERS.get("dragan")(ctx(d, method(), real, fake, lam, gen=torch.Generator().manual_seed(5)))
    g = torch.Generator().manual_seed(5)
    u = torch.rand(6, 3, generator=g, dtype=torch.float64)
    alpha = torch.rand(6, 1, generator=g, dtype=torch.float64)
    std = float(real.flatten().std())  # the batch's standard deviation over all elements (n − 1)
    expected = 0.0
    for i in range(6):
        x_hat = [float(real[i, j]) + float(alpha[i, 0]) * 0.5 * std * float(u[i, j]) for j in range(3)]
        expected += (2 * a * math.sqrt(sum(v * v for v in x_hat)) - 1) ** 2 / 6
    assert value.item() == pytest.approx(lam * expected, rel=1e-9)
    # the perturbation moves the points: the penalty at the reals themselves differs
    at_reals = lam * float(((2 * a * real.norm(dim=1)) - 1).square().mean())
    assert abs(value.item() - at_reals) > 1e-3


def test_dragan_with_batch_norm_in_d_rejected(tiny_config):
    from condgan.errors import CondganError

    with pytest.raises(CondganError, match="reg.dragan with model.d_norm=batch"):
        tiny_config("reg.dragan=10", "model.d_norm=batch")
    tiny_config("reg.dragan=10", "model.d_norm=layer")


@pytest.mark.parametrize("name", ["r1", "r2", "gp", "cr", "cr_fake", "dragan"])
def test_penalties_train_d_not_what_produced_their_inputs(name):
    """The penalty's inputs are detached: back-propagating R1 / R2 / GP / CR / DRAGAN reaches D's weights,
    never the network that made the images (here a scale `s` applied to them)."""
    d = quadratic_discriminator(0.8)
    s = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    real = torch.randn(3, 1, 4, 4, dtype=torch.float64) * s
    fake = torch.randn(3, 1, 4, 4, dtype=torch.float64) * s
    value = REGULARIZERS.get(name)(ctx(d, method(), real, fake, 2.0, gen=torch.Generator().manual_seed(0)))
    value.backward()
    assert s.grad is None
    assert d.heads["adv"].linear.weight.grad.abs().sum() > 0


def test_loss_scaled_input_gradients_are_unscaled():
    """fp16 training takes the input gradient of S·D and divides it by S: the same penalty for
    any scale S."""
    from condgan.losses.regularizers import scalar_input_gradient_sq_norm

    x = torch.randn(4, 3, dtype=torch.float64)
    fn = lambda v: (v ** 3).sum(1)  # noqa: E731
    plain = scalar_input_gradient_sq_norm(fn, x)
    torch.testing.assert_close(scalar_input_gradient_sq_norm(fn, x, scale=1024.0).double(), plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain, (3 * x ** 2).square().sum(1))


def test_gp_is_finite_where_the_input_gradient_vanishes():
    """A flat D (zero input gradient): GP = λ (0 − 1)², and its parameter gradient is finite (the
    square root of the squared norm gets a tiny positive constant, sqrt'(0) being infinite)."""
    head = LinearHead(4, 1, spectral_norm=False).double()
    with torch.no_grad():
        head.linear.weight.zero_()
    d = Discriminator(nn.Flatten(), {"adv": head})
    real, fake = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    value = REGULARIZERS.get("gp")(ctx(d, method(), real, fake, 10.0, gen=torch.Generator().manual_seed(0)))
    assert value.item() == pytest.approx(10.0 * (1 - 1e-6) ** 2, rel=1e-9)  # sqrt(0 + 1e-12) = 1e-6
    value.backward()
    assert torch.isfinite(head.linear.weight.grad).all()
