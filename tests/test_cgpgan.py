"""CGPGAN pieces (Cho, codebook paper (seed 000) §2): the classifier gradient penalty, the
classification loss, the learned prior, and the inner-product `ca_inner` discriminator loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.cgp import (argmax_onehot, cgp_loss, classification_loss, sample_prior,
                                update_prior)
from condgan.losses.conditioning import CONDITIONING, Labels


def test_cgp_matches_hand_gradient():
    # Q(x) = softmax(W x): ∇_x p_k = p_k (W_k − Σ_j p_j W_j), ∇_x (1 − p_k)² = −2 (1 − p_k) ∇_x p_k.
    torch.manual_seed(0)
    w = torch.randn(3, 5, dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    k = torch.tensor([0, 2, 1, 2])
    c_f = F.one_hot(k, 3).double()
    p = torch.softmax(x @ w.t(), 1)
    pk = p[torch.arange(4), k]
    grad_pk = pk[:, None] * (w[k] - p @ w)
    grad = -2 * (1 - pk)[:, None] * grad_pk
    expected = grad.square().sum(1).mean()
    got = cgp_loss(lambda v: v @ w.t(), x, c_f, d_l=1)
    assert torch.allclose(got, expected, rtol=1e-10), (got, expected)
    assert got > 0


def test_cgp_is_differentiable_wrt_classifier():
    w = torch.randn(4, 3, requires_grad=True)
    c_f = torch.tensor([[1., 0, 0, 1], [0, 1, 1, 0]])  # d_l = 2 groups of d_c = 2
    cgp_loss(lambda v: v @ w.t(), torch.randn(2, 3), c_f, d_l=2).backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_classification_loss_sums_groups():
    logits = torch.tensor([[1., 2., 0., 3.]])
    c_f = torch.tensor([[0., 1., 1., 0.]])
    expected = -(F.log_softmax(torch.tensor([1., 2.]), 0)[1] + F.log_softmax(torch.tensor([0., 3.]), 0)[0])
    assert torch.allclose(classification_loss(logits, c_f, d_l=2), expected)


def test_prior_update_raw_and_normalized():
    prior = torch.tensor([[0.5, 0.5]])
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3]])
    raw = update_prior(prior, probs, decay=0.9, d_l=1, normalize=False)
    # 0.9·0.5 + 0.1·mean(0.9, 0.7) = 0.45 + 0.08
    assert torch.allclose(raw, torch.tensor([[0.53, 0.47]]))
    warm = update_prior(prior, probs, decay=0.9, d_l=1, normalize=True)
    assert torch.allclose(warm, torch.tensor([[0.5, 0.5]]))
    # From a non-uniform prior the warm-up pulls it towards uniform: 0.9·0.8 + 0.1·0.5
    assert torch.allclose(update_prior(torch.tensor([[0.8, 0.2]]), probs, 0.9, 1, True),
                          torch.tensor([[0.77, 0.23]]))


def test_sample_prior_and_argmax_onehot():
    g = torch.Generator().manual_seed(0)
    c = sample_prior(torch.tensor([[0., 1., 0.], [1., 0., 0.]]), 5, g)
    assert c.shape == (5, 6)
    assert torch.equal(c, torch.tensor([[0., 1, 0, 1, 0, 0]]).expand(5, 6))
    probs = torch.tensor([[0.2, 0.8, 0.6, 0.4]])
    assert torch.equal(argmax_onehot(probs, 2), torch.tensor([[0., 1, 1, 0]]))


def _method(name, k):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get("ns"), k, 1.0)


def test_ca_inner_equals_ca_for_one_group():
    torch.manual_seed(0)
    real, fake = {"cond": torch.randn(6, 4)}, {"cond": torch.randn(6, 4)}
    ly = Labels(None, F.one_hot(torch.randint(4, (6,)), 4).float())
    lf = Labels(None, F.one_hot(torch.randint(4, (6,)), 4).float())
    ca, inner = _method("ca", 4), _method("ca_inner", 4)
    assert torch.allclose(ca.d_loss(real, fake, ly, lf)[0], inner.d_loss(real, fake, ly, lf)[0])
    assert torch.allclose(ca.g_loss(fake, lf)[0], inner.g_loss(fake, lf)[0])


def test_ca_inner_four_groups_is_inner_product():
    # d_l = 4 groups of d_c = 2: the loss reads the sum of the 4 chosen logits once.
    real = {"cond": torch.tensor([[0.5, -1., 2., 0., 0.1, 0.3, -0.2, 1.]])}
    fake = {"cond": torch.tensor([[1., 0., -1., 0.5, 0., 2., 0.4, -0.4]])}
    cr = torch.tensor([[1., 0, 1, 0, 0, 1, 0, 1]])
    cf = torch.tensor([[0., 1, 1, 0, 1, 0, 1, 0]])
    sr, sf = 0.5 + 2. + 0.3 + 1., 0. - 1. + 0. + 0.4
    m = _method("ca_inner", 8)
    d, _ = m.d_loss(real, fake, Labels(None, cr), Labels(None, cf))
    assert torch.allclose(d, F.softplus(torch.tensor(-sr)) + F.softplus(torch.tensor(sf)))
    g, _ = m.g_loss(fake, Labels(None, cf))
    assert torch.allclose(g, F.softplus(torch.tensor(-sf)))
    ca_d, _ = _method("ca", 8).d_loss(real, fake, Labels(None, cr), Labels(None, cf))
    assert not torch.allclose(d, ca_d)  # per-condition sum differs for d_l > 1
