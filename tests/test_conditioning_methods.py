"""The conditioning methods label, am, mh, tac, 2c and d2dce (docs/methods.md §2): each loss against a naive
evaluation of its formula written here (Python floats / float64 double loops, never the library's
own vectorized expression), numerical stability at τ = 0.01, gradients, and the config checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels
from condgan.losses.conditioning.contrastive import (
    FeatureNormalizedHead,
    contrastive_2c_loss,
    d2dce_loss,
    proxy_softmax_loss,
    split_embedding,
)
from conftest import tiny_overrides

K = 3
LAM = 0.7


def labels(y, k=K):
    y = torch.tensor(y)
    return Labels(y, nn.functional.one_hot(y, k).double())


def method(name, adv="ns", k=K, lam=LAM, **options):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get(adv), k, lam, **options)


def t(xs):
    return torch.tensor(xs, dtype=torch.float64)


def log_softmax_hand(logits, i):
    return logits[i] - math.log(sum(math.exp(v) for v in logits))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


# ------------------------------------------------------------------ label / am (seed 003)
# K = 3 real classes + the fake class (last logit).
REAL_L = [[1.0, -0.5, 0.2, 0.3], [0.3, 0.8, -1.0, 1.2], [-0.2, 0.1, 2.0, -0.4]]
FAKE_L = [[0.4, 0.4, -0.6, 0.9], [2.0, -1.0, 0.0, -0.3], [-0.7, 1.5, 0.3, 0.0]]
Y_REAL = [0, 1, 2]
Y_FAKE = [2, 2, 0]


def label_d_hand():
    return (mean(-log_softmax_hand(l, y) for l, y in zip(REAL_L, Y_REAL))
            + mean(-log_softmax_hand(l, K) for l in FAKE_L))


@pytest.mark.parametrize("name", ["label", "am"])
def test_label_and_am_d_loss(name):
    # seed 003's K+1 softmax losses are the `ns`, λ = 1 case
    d, logs = method(name, lam=1.0).d_loss({"logits": t(REAL_L)}, {"logits": t(FAKE_L)}, labels(Y_REAL), labels(Y_FAKE))
    assert d.item() == pytest.approx(label_d_hand(), abs=1e-12)
    assert set(logs) == {"d_adv", "d_cls"}


@pytest.mark.parametrize("adv", ["ls", "hinge"])
def test_label_and_am_with_other_adversarial_losses_use_the_decomposition(adv):
    """L_D = A_D(o_r, o_f) + λ CE(l[:K], y); LabelGAN L_G = A_G(o_f); AM-GAN adds λ CE(l[:K], y')."""
    A = ADVERSARIAL_LOSSES.get(adv)
    lam = 0.5
    make = lambda name: CONDITIONING.get(name)(A, K, lam)  # noqa: E731
    o = lambda rows: t([math.log(sum(math.exp(v) for v in l[:K])) - l[K] for l in rows])  # noqa: E731
    ce_k = lambda rows, ys: mean(-log_softmax_hand(l[:K], y) for l, y in zip(rows, ys))  # noqa: E731
    d, _ = make("label").d_loss({"logits": t(REAL_L)}, {"logits": t(FAKE_L)}, labels(Y_REAL), labels(Y_FAKE))
    assert d.item() == pytest.approx(A.d_loss(o(REAL_L), o(FAKE_L)).item() + lam * ce_k(REAL_L, Y_REAL), abs=1e-12)
    g_label, _ = make("label").g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    assert g_label.item() == pytest.approx(A.g_loss(o(FAKE_L)).item(), abs=1e-12)
    g_am, _ = make("am").g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    assert g_am.item() == pytest.approx(A.g_loss(o(FAKE_L)).item() + lam * ce_k(FAKE_L, Y_FAKE), abs=1e-12)


def test_labelgan_g_loss_is_minus_log_real_mass():
    g, _ = method("label").g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    hand = mean(-math.log(sum(math.exp(v) for v in l[:K]) / sum(math.exp(v) for v in l)) for l in FAKE_L)
    assert g.item() == pytest.approx(hand, abs=1e-12)
    # the target class does not enter LabelGAN's G loss
    g2, _ = method("label").g_loss({"logits": t(FAKE_L)}, labels([0, 1, 1]))
    assert g2.item() == g.item()


def test_labelgan_g_loss_finite_when_fake_class_dominates():
    """-log Σ_{i<K} softmax_i with a real mass of e^-200: a float64 softmax underflows to log(0)."""
    logits = t([[-100.0, -100.0, -100.0, 100.0]]).requires_grad_(True)
    g, _ = method("label").g_loss({"logits": logits}, labels([0]))
    g.backward()
    assert g.item() == pytest.approx(200.0 - math.log(3), rel=1e-9)
    assert torch.isfinite(logits.grad).all()


def test_am_g_loss_is_ce_with_target():
    g, _ = method("am", lam=1.0).g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    assert g.item() == pytest.approx(mean(-log_softmax_hand(l, y) for l, y in zip(FAKE_L, Y_FAKE)), abs=1e-12)


def test_label_adv_logit_is_log_real_over_fake():
    o = method("label").adv_logit({"logits": t(REAL_L)}, labels(Y_REAL)).tolist()
    hand = [math.log(sum(math.exp(v) for v in l[:K])) - l[K] for l in REAL_L]
    assert o == pytest.approx(hand, abs=1e-12)


def test_k_plus_one_decomposes_into_ns_plus_classifier():
    """Why label/am compute A(o) + CE(l[:K], y): CE(l, y) = softplus(-o) + CE(l[:K], y) with the adv_logit o."""
    m = method("label")
    logits = t(REAL_L)
    o = m.adv_logit({"logits": logits}, labels(Y_REAL))
    ns = ADVERSARIAL_LOSSES.get("ns")
    lhs = nn.functional.cross_entropy(logits, torch.tensor(Y_REAL), reduction="none")
    rhs = ns.real_term(o) + nn.functional.cross_entropy(logits[:, :K], torch.tensor(Y_REAL), reduction="none")
    assert torch.allclose(lhs, rhs, atol=1e-12)


# ------------------------------------------------------------------ mh (Kavalerov 2021)
def mh_hand(l, target):
    return max(0.0, 1 - l[target] + max(v for k, v in enumerate(l) if k != target))


def test_multi_hinge_losses():
    m = method("mh", "hinge")
    d, _ = m.d_loss({"logits": t(REAL_L)}, {"logits": t(FAKE_L)}, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    d_hand = mean(mh_hand(l, y) for l, y in zip(REAL_L, Y_REAL)) + mean(mh_hand(l, K) for l in FAKE_L)
    assert d.item() == pytest.approx(d_hand, abs=1e-12)
    assert g.item() == pytest.approx(mean(mh_hand(l, y) for l, y in zip(FAKE_L, Y_FAKE)), abs=1e-12)
    # explicit numbers for the first real sample: 1 - 1.0 + max(-0.5, 0.2, 0.3) = 0.3
    assert mh_hand(REAL_L[0], 0) == pytest.approx(0.3)


def test_multi_hinge_with_one_class_is_the_hinge_loss():
    m = method("mh", "hinge", k=1)
    real, fake = t([[0.5, -0.3], [2.0, 0.1]]), t([[0.2, 0.4], [-1.0, 0.5]])
    d, _ = m.d_loss({"logits": real}, {"logits": fake}, labels([0, 0], 1), labels([0, 0], 1))
    o_r, o_f = real[:, 0] - real[:, 1], fake[:, 0] - fake[:, 1]
    assert d.item() == pytest.approx(ADVERSARIAL_LOSSES.get("hinge").d_loss(o_r, o_f).item(), abs=1e-12)


def test_multi_hinge_adv_logit():
    o = method("mh", "hinge").adv_logit({"logits": t(REAL_L)}, labels(Y_REAL)).tolist()
    assert o == pytest.approx([l[y] - l[K] for l, y in zip(REAL_L, Y_REAL)], abs=1e-12)


# ------------------------------------------------------------------ tac (Gong 2019)
O_REAL, O_FAKE = [0.5, -1.2, 2.0], [-0.3, 1.1, 0.0]
CLS_R = [[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.2, 0.1, 2.0]]
CLS_F = [[0.4, 0.4, -0.6], [2.0, -1.0, 0.0], [-0.7, 1.5, 0.3]]
TWIN_F = [[-1.0, 0.5, 0.3], [0.2, 0.2, 1.0], [1.5, -0.5, 0.0]]


def tac_outputs():
    return ({"adv": t(O_REAL), "cls": t(CLS_R), "twin_cls": t([[0.0] * 3] * 3)},
            {"adv": t(O_FAKE), "cls": t(CLS_F), "twin_cls": t(TWIN_F)})


def test_tac_losses_by_hand():
    real, fake = tac_outputs()
    m = method("tac")
    d, logs = m.d_loss(real, fake, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss(fake, labels(Y_FAKE))
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    adv_d = mean(sp(-o) for o in O_REAL) + mean(sp(o) for o in O_FAKE)
    adv_g = mean(sp(-o) for o in O_FAKE)
    ce_real = mean(-log_softmax_hand(l, y) for l, y in zip(CLS_R, Y_REAL))
    ce_c = mean(-log_softmax_hand(l, y) for l, y in zip(CLS_F, Y_FAKE))
    ce_mi = mean(-log_softmax_hand(l, y) for l, y in zip(TWIN_F, Y_FAKE))
    assert d.item() == pytest.approx(adv_d + LAM * (ce_real + ce_mi), abs=1e-12)
    assert g.item() == pytest.approx(adv_g + LAM * (ce_c - ce_mi), abs=1e-12)
    assert logs["d_twin_cls"].item() == pytest.approx(ce_mi, abs=1e-12)


def test_tac_twin_head_trained_in_d_and_opposed_in_g():
    torch.manual_seed(0)
    m = method("tac")
    heads = m.heads(5, False)
    assert set(heads) == {"adv", "cls", "twin_cls"}
    from condgan.nets import Discriminator

    disc = Discriminator(nn.Identity(), heads)
    x_r, x_f = torch.randn(4, 5), torch.randn(4, 5)
    lr, lf = labels([0, 1, 2, 0]), labels([1, 1, 2, 0])
    d, _ = m.d_loss(disc(x_r, None), disc(x_f, None), lr, lf)
    d.backward()
    twin_w = heads["twin_cls"].linear.weight
    assert twin_w.grad is not None and twin_w.grad.abs().sum() > 0   # D trains the twin on fakes
    # D descends +λ CE(C_mi(x'), y'); G descends -λ CE(C_mi(x'), y') (opposite gradient)
    twin_logits = heads["twin_cls"](x_f, None).detach().requires_grad_(True)
    ce = nn.functional.cross_entropy(twin_logits, lf.y)
    (d_ce,) = torch.autograd.grad(ce, twin_logits)
    real = {k: v.detach() for k, v in disc(x_r, None).items()}
    fake = {k: v.detach() for k, v in disc(x_f, None).items()}
    fake["twin_cls"] = twin_logits
    (d_d,) = torch.autograd.grad(m.d_loss(real, fake, lr, lf)[0], twin_logits)
    (d_g,) = torch.autograd.grad(m.g_loss(fake, lf)[0], twin_logits)
    assert torch.allclose(d_d, LAM * d_ce, atol=1e-7)
    assert torch.allclose(d_g, -LAM * d_ce, atol=1e-7)
    assert (d_g * d_ce).sum() < 0


# ------------------------------------------------------------------ feature-normalized head
def test_feature_normalized_head():
    torch.manual_seed(0)
    head = FeatureNormalizedHead(6, 4, 5, spectral_norm=False)
    h = torch.randn(3, 6)
    f, sims = split_embedding(head(h, None), 4)
    assert f.shape == (3, 5) and sims.shape == (3, 4)
    p = head.projection(h)
    v = head.proxies.weight
    for i in range(3):
        assert f[i].tolist() == pytest.approx((p[i] / p[i].norm()).tolist(), abs=1e-6)
        for k in range(4):
            cos = (p[i] @ v[k] / (p[i].norm() * v[k].norm())).item()
            assert sims[i, k].item() == pytest.approx(cos, abs=1e-6)
    # the proxies' scale does not matter (normalized), only their direction
    with torch.no_grad():
        head.proxies.weight.mul_(7.0)
    assert torch.allclose(split_embedding(head(h, None), 4)[1], sims, atol=1e-6)


# ------------------------------------------------------------------ D2D-CE, proxy-only, 2C vs naive loops
def random_batch(n, d, k, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    f = nn.functional.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=1)
    v = nn.functional.normalize(torch.randn(k, d, generator=g, dtype=dtype), dim=1)
    y = torch.randint(k, (n,), generator=g)
    y[:2] = 0   # at least one repeated label (false negatives to exclude)
    return f, v, y


def dot(a, b):
    return sum(x * z for x, z in zip(a, b))


def d2dce_naive(f, v, y, tau, m_p=None, m_n=None, anchors=None):
    """Seed 004 Eq. 6 (Eq. 5 without margins) as written: double loop over Python floats, mean
    over `anchors` (default all rows); every row is a key."""
    f, v, y = f.tolist(), v.tolist(), y.tolist()
    anchors = range(len(f)) if anchors is None else anchors
    terms = []
    for i in anchors:
        s = dot(f[i], v[y[i]])
        pos = math.exp((min(s - m_p, 0.0) if m_p is not None else s) / tau)
        den = pos
        for j in range(len(f)):
            if y[j] != y[i]:
                c = dot(f[i], f[j])
                den += math.exp((max(c - m_n, 0.0) if m_n is not None else c) / tau)
        terms.append(-math.log(pos / den))
    return mean(terms)


def contrastive_2c_naive(f, v, y, tau, anchors=None):
    f, v, y = f.tolist(), v.tolist(), y.tolist()
    anchors = range(len(f)) if anchors is None else anchors
    terms = []
    for i in anchors:
        pos = math.exp(dot(f[i], v[y[i]]) / tau)
        num, den = pos, pos
        for k in range(len(f)):
            if k != i:
                e = math.exp(dot(f[i], f[k]) / tau)
                den += e
                if y[k] == y[i]:
                    num += e
        terms.append(-math.log(num / den))
    return mean(terms)


def library_d2dce(f, v, y, tau, m_p=None, m_n=None):
    return d2dce_loss(f, (f * v[y]).sum(1), y, tau, m_p, m_n)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tau", [0.5, 0.1])
@pytest.mark.parametrize("margins", [(0.98, 0.02), (0.3, 0.1), None])
def test_d2dce_equals_naive_double_loop(seed, tau, margins):
    f, v, y = random_batch(9, 6, 4, seed)
    m_p, m_n = margins if margins else (None, None)
    got = library_d2dce(f, v, y, tau, m_p, m_n).item()
    assert got == pytest.approx(d2dce_naive(f, v, y, tau, m_p, m_n), rel=1e-12, abs=1e-12)


def test_d2dce_through_method_matches_naive_and_options():
    """The method path: proxy similarities read from the head output, margins from the options,
    m_n = 1 - m_p when unset."""
    f, v, y = random_batch(8, 5, 3, 3)
    embed = torch.cat([f, f @ v.T], 1)
    m = method("d2dce", temperature=0.3, margin_pos=0.4)
    assert m.margin_neg == pytest.approx(0.6)
    assert m.class_loss(embed, y).item() == pytest.approx(d2dce_naive(f, v, y, 0.3, 0.4, 0.6), rel=1e-12)
    m = method("d2dce", temperature=0.3, margin_pos=0.4, variant="no_margin")
    assert m.class_loss(embed, y).item() == pytest.approx(d2dce_naive(f, v, y, 0.3), rel=1e-12)
    m = method("d2dce", temperature=0.3, margin_pos=0.4, margin_neg=-0.2)
    assert m.class_loss(embed, y).item() == pytest.approx(d2dce_naive(f, v, y, 0.3, 0.4, -0.2), rel=1e-12)


def test_d2dce_in_d_and_g_losses():
    f_r, v, y_r = random_batch(6, 5, 3, 4)
    f_f, _, y_f = random_batch(6, 5, 3, 5)
    m = method("d2dce", "hinge", temperature=0.5)
    real = {"adv": t([0.2, -0.5, 1.5, 0.3, 0.0, -2.0]), "embed": torch.cat([f_r, f_r @ v.T], 1)}
    fake = {"adv": t([-0.4, 0.8, 0.1, -1.2, 0.6, 0.9]), "embed": torch.cat([f_f, f_f @ v.T], 1)}
    d, _ = m.d_loss(real, fake, Labels(y_r, None), Labels(y_f, None))
    g, _ = m.g_loss(fake, Labels(y_f, None))
    hinge = ADVERSARIAL_LOSSES.get("hinge")
    adv_d = mean(max(0, 1 - o) for o in real["adv"].tolist()) + mean(max(0, 1 + o) for o in fake["adv"].tolist())
    assert d.item() == pytest.approx(adv_d + LAM * d2dce_naive(f_r, v, y_r, 0.5, 0.98, 0.02), rel=1e-12)
    assert g.item() == pytest.approx(hinge.g_loss(fake["adv"]).item()
                                     + LAM * d2dce_naive(f_f, v, y_f, 0.5, 0.98, 0.02), rel=1e-12)


def overflowing_batch(dtype):
    """Negatives almost identical to their anchor (cosine ≈ 1) and positives far from their proxy:
    at τ = 0.01 the naive terms are e^{~100}, beyond float32 (max ≈ e^88.7)."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 16, generator=g, dtype=torch.float64)
    f = nn.functional.normalize(base + 1e-3 * torch.randn(8, 16, generator=g, dtype=torch.float64), dim=1)
    v = nn.functional.normalize(torch.randn(4, 16, generator=g, dtype=torch.float64), dim=1)
    v[0] = -f[0]   # class-0 proxy opposite to the data: positive similarity ≈ -1
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    return f.to(dtype), v.to(dtype), y


@pytest.mark.parametrize("margins", [(0.98, 0.02), None])
def test_d2dce_finite_at_tau_001(margins):
    f, v, y = overflowing_batch(torch.float32)
    m_p, m_n = margins if margins else (None, None)
    assert not torch.isfinite(torch.exp((f @ f.T) / 0.01)).all()   # the naive evaluation overflows
    f = f.clone().requires_grad_(True)
    v = v.clone().requires_grad_(True)
    loss = library_d2dce(f, v, y, 0.01, m_p, m_n)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all() and torch.isfinite(v.grad).all()
    # and it is the exact loss, not a rescaled one: float64 naive evaluation (e^100 fits there)
    f64, v64, _ = overflowing_batch(torch.float64)
    assert loss.item() == pytest.approx(d2dce_naive(f64, v64, y, 0.01, m_p, m_n), rel=1e-4)


def test_2c_finite_at_tau_001():
    f, v, y = overflowing_batch(torch.float32)
    f = f.clone().requires_grad_(True)
    loss = contrastive_2c_loss(f, (f * v[y]).sum(1), y, 0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all()
    f64, v64, _ = overflowing_batch(torch.float64)
    assert loss.item() == pytest.approx(contrastive_2c_naive(f64, v64, y, 0.01), rel=1e-4)


def test_d2dce_gradcheck_away_from_kinks():
    """gradcheck in float64 through normalization, margins and the log-sum-exp, on inputs whose
    clamped quantities are all ≥ 1e-2 away from the kinks (m_p for positives, m_n for negatives)."""
    g = torch.Generator().manual_seed(7)
    raw_f = torch.randn(7, 5, generator=g, dtype=torch.float64)
    raw_v = torch.randn(3, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 2, 1, 2, 0])
    m_p, m_n = 0.1, 0.05

    def loss(rf, rv):
        f, v = nn.functional.normalize(rf, dim=1), nn.functional.normalize(rv, dim=1)
        return library_d2dce(f, v, y, 0.5, m_p, m_n)

    f = nn.functional.normalize(raw_f, dim=1)
    v = nn.functional.normalize(raw_v, dim=1)
    pos = (f * v[y]).sum(1)
    neg = (f @ f.T)[y[:, None] != y[None, :]]
    assert (pos - m_p).abs().min() > 1e-2 and (neg - m_n).abs().min() > 1e-2
    # both sides of each clamp occur, so the check covers the active and the suppressed branch
    assert (pos > m_p).any() and (pos < m_p).any() and (neg > m_n).any() and (neg < m_n).any()
    assert torch.autograd.gradcheck(loss, (raw_f.requires_grad_(True), raw_v.requires_grad_(True)))


def test_d2dce_easy_positives_and_negatives_give_no_gradient():
    """Seed 004 Properties 2 and 3: f·v_y ≥ m_p and f_i·f_j ≤ m_n contribute no gradient."""
    f, v, y = random_batch(6, 5, 3, 8)
    positive = (f * v[y]).sum(1).requires_grad_(True)
    keys = f.clone().requires_grad_(True)
    d2dce_loss(f, positive, y, 0.5, -1.0, 0.5, keys, y).backward()   # every positive is easy (≥ -1)
    assert torch.equal(positive.grad, torch.zeros(6, dtype=torch.float64))
    assert keys.grad.abs().sum() > 0                                  # the hard negatives still pull
    positive.grad, keys.grad = None, None
    d2dce_loss(f, positive, y, 0.5, 0.98, 1.0, keys, y).backward()   # every negative is easy (≤ 1)
    assert torch.equal(keys.grad, torch.zeros_like(keys))
    assert positive.grad.abs().sum() > 0


def test_proxy_only_by_hand():
    f, v, y = random_batch(5, 4, 3, 9)
    got = proxy_softmax_loss(f @ v.T, y, 0.2).item()
    fl, vl, yl = f.tolist(), v.tolist(), y.tolist()
    hand = mean(-log_softmax_hand([dot(fl[i], vk) / 0.2 for vk in vl], yl[i]) for i in range(5))
    assert got == pytest.approx(hand, rel=1e-12)
    m = method("d2dce", temperature=0.2, variant="proxy_only")
    assert m.class_loss(torch.cat([f, f @ v.T], 1), y).item() == pytest.approx(hand, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tau", [0.5, 0.1])
def test_2c_equals_naive_double_loop(seed, tau):
    f, v, y = random_batch(9, 6, 4, seed)
    got = contrastive_2c_loss(f, (f * v[y]).sum(1), y, tau).item()
    assert got == pytest.approx(contrastive_2c_naive(f, v, y, tau), rel=1e-12)
    m = method("2c", k=4, temperature=tau)
    assert m.class_loss(torch.cat([f, f @ v.T], 1), y).item() == pytest.approx(got, rel=1e-12)


@pytest.mark.parametrize("name", ["2c", "d2dce"])
def test_gather_seam_adds_other_ranks_negatives(name, monkeypatch):
    """A gather that appends a second rank's embeddings after the local ones (offset 0) gives the
    loss with the local rows as anchors and all rows as keys, as the naive loop says."""
    f, v, y = random_batch(10, 5, 3, 11)
    local, remote = slice(0, 5), slice(5, 10)
    m = method(name, temperature=0.5)
    monkeypatch.setattr(type(m), "gather", staticmethod(
        lambda f_local, y_local: (torch.cat([f_local, f[remote]]), torch.cat([y_local, y[remote]]), 0)))
    got = m.class_loss(torch.cat([f[local], f[local] @ v.T], 1), y[local]).item()
    if name == "d2dce":
        want = d2dce_naive(f, v, y, 0.5, 0.98, 0.02, anchors=range(5))
    else:
        want = contrastive_2c_naive(f, v, y, 0.5, anchors=range(5))
    assert got == pytest.approx(want, rel=1e-12)
    # the remote rows really are used: the local-only loss differs
    if name == "d2dce":
        local_only = d2dce_naive(f[local], v, y[local], 0.5, 0.98, 0.02)
    else:
        local_only = contrastive_2c_naive(f[local], v, y[local], 0.5)
    assert got != pytest.approx(local_only, rel=1e-6)


# ------------------------------------------------------------------ heads and config checks
def test_heads_of_new_methods():
    shapes = {"label": {"logits": (4, K + 1)}, "am": {"logits": (4, K + 1)}, "mh": {"logits": (4, K + 1)},
              "tac": {"adv": (4,), "cls": (4, K), "twin_cls": (4, K)},
              "2c": {"adv": (4,), "embed": (4, 16 + K)}, "d2dce": {"adv": (4,), "embed": (4, 16 + K)}}
    h = torch.randn(4, 5)
    for name, want in shapes.items():
        opts = {"proj_dim": 16} if name in ("2c", "d2dce") else {}
        heads = method(name, **opts).heads(5, False)
        assert {k: tuple(m(h, None).shape) for k, m in heads.items()} == want, name


def cfg(*extra):
    return load_config({}, tiny_overrides(*extra))


def test_from_config_reads_method_options():
    from condgan.training.build import DataInfo, build_gan

    c = cfg("model.conditioning=d2dce", "model.cond_temperature=0.25", "model.cond_margin_pos=0.95",
            "model.cond_proj_dim=7", "model.d2dce_variant=no_margin", "model.cond_weight=0.5")
    gan = build_gan(c, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    m = gan.method
    assert (m.temperature, m.variant, m.cond_weight, m.margin_pos) == (0.25, "no_margin", 0.5, None)
    assert gan.discriminator.heads["embed"].projection.out_features == 7
    m = CONDITIONING.get("d2dce").from_config(cfg("model.conditioning=d2dce", "model.cond_margin_pos=0.9"),
                                              ADVERSARIAL_LOSSES.get("ns"), 10)
    assert (m.margin_pos, m.margin_neg) == (0.9, pytest.approx(0.1))
    m = CONDITIONING.get("ac").from_config(cfg("model.cond_weight=0.3"), ADVERSARIAL_LOSSES.get("ns"), 10)
    assert m.cond_weight == 0.3


@pytest.mark.parametrize("extra, match", [
    (["model.conditioning=d2dce", "model.cond_temperature=0"], "model.cond_temperature.*> 0"),
    (["model.conditioning=2c", "model.cond_temperature=-0.5"], "model.cond_temperature.*> 0"),
    (["model.conditioning=d2dce", "model.cond_margin_pos=1.5"], r"model.cond_margin_pos.*\[-1, 1\]"),
    (["model.conditioning=d2dce", "model.cond_margin_neg=-2"], r"model.cond_margin_neg.*\[-1, 1\]"),
    (["model.conditioning=d2dce", "model.d2dce_variant=no_margins"], "did you mean 'no_margin'"),
    (["model.conditioning=d2dce", "train.batch_size=1"], "train.batch_size=1 leaves no other sample"),
    (["model.conditioning=2c", "train.batch_size=1"], "train.batch_size=1 leaves no other sample"),
    (["model.conditioning=d2dce", "model.cond_proj_dim=0"], "model.cond_proj_dim"),
    (["model.conditioning=mh", "model.cond_weight=0.5"], "cond_weight=0.5 would be ignored"),
    (["model.conditioning=mh", "loss.label_smoothing=0.1"], "would smooth the fake class"),
    (["model.conditioning=tac", "data.attributes=[even, ge5]"], "needs single class labels"),
    (["model.conditioning=d2dce", "data.attributes=[even, ge5]"], "needs single class labels"),
])
def test_config_rejects(extra, match):
    with pytest.raises(CondganError, match=match):
        cfg(*extra)


def test_config_accepts():
    cfg("model.conditioning=d2dce", "model.d2dce_variant=proxy_only", "train.batch_size=1")  # no negatives needed
    cfg("model.conditioning=label", "loss.adversarial=ls")
    cfg("model.conditioning=am", "loss.adversarial=hinge", "model.cond_weight=0.5")
    cfg("model.conditioning=label", "loss.adversarial=ns", "loss.label_smoothing=0.1")
    cfg("model.conditioning=mh", "loss.adversarial=ns")
    cfg("model.conditioning=d2dce", "model.cond_margin_pos=-1", "model.cond_margin_neg=1", "model.cond_temperature=0.01")
    cfg("model.conditioning=ca", "model.cond_temperature=0.5")


def test_multi_hinge_with_other_losses_passes_margins_through_the_real_term():
    """ls: (m − 1)² for the target-class margin of reals, the fake-class margin of fakes, and the
    G target margin; with hinge this is exactly the multi-class hinge above."""
    m = method("mh", "ls")
    d, _ = m.d_loss({"logits": t(REAL_L)}, {"logits": t(FAKE_L)}, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss({"logits": t(FAKE_L)}, labels(Y_FAKE))
    margin = lambda l, tgt: l[tgt] - max(v for k, v in enumerate(l) if k != tgt)  # noqa: E731
    d_hand = (mean((margin(l, y) - 1) ** 2 for l, y in zip(REAL_L, Y_REAL))
              + mean((margin(l, K) - 1) ** 2 for l in FAKE_L))
    assert d.item() == pytest.approx(d_hand, abs=1e-12)
    assert g.item() == pytest.approx(mean((margin(l, y) - 1) ** 2 for l, y in zip(FAKE_L, Y_FAKE)), abs=1e-12)


@pytest.mark.parametrize("name, logits_key", [("label", "logits"), ("am", "logits"), ("mh", "logits"),
                                              ("ac", "cls"), ("tac", "cls")])
def test_class_logits_for_dynamic_labeling(name, logits_key):
    m = method(name, "hinge" if name == "mh" else "ns")
    out = {logits_key: t(REAL_L if logits_key == "logits" else [l[:K] for l in REAL_L])}
    assert m.has_class_logits
    assert m.class_logits(out).tolist() == [l[:K] for l in REAL_L]


# ------------------------------------------------------------------ published defaults
@pytest.mark.parametrize("name, weight, temperature", [
    ("d2dce", 0.5, 0.5),   # seed 004 App. C.2, CIFAR-10: λ = τ = 0.5
    ("2c", 1.0, 1.0),      # the ContraGAN authors' configurations: λ = 1, τ = 1.0
    ("ac", 1.0, None), ("ac_mod", 1.0, None), ("tac", 1.0, None), ("am", 1.0, None),
])
def test_unset_options_take_the_methods_published_defaults(name, weight, temperature):
    """`model.cond_weight` / `model.cond_temperature` unset: each method's paper's value (they
    were one shared λ = 1, τ = 0.5, which is neither D2D-CE's λ nor 2C's τ)."""
    m = CONDITIONING.get(name).from_config(cfg(f"model.conditioning={name}"), ADVERSARIAL_LOSSES.get("hinge"), 10)
    assert m.cond_weight == weight
    if temperature is not None:
        assert m.temperature == temperature
    assert CONDITIONING.get(name).from_config(
        cfg(f"model.conditioning={name}", "model.cond_weight=0.25"), ADVERSARIAL_LOSSES.get("hinge"), 10).cond_weight == 0.25


@pytest.mark.parametrize("name", ["2c", "d2dce"])
def test_feature_normalized_losses_read_the_labels_g_and_the_data_gave(name, tiny_config, tmp_path):
    """No label mix-up on the 2c / d2dce path: in a training step the class loss on reals gets the
    batch's dataset labels, the one on fakes the labels G was conditioned on (the same rows), and
    its positive similarity is f_i·v_{y_i} with v the normalized class-embedding row y_i."""
    import torch.nn.functional as F

    from condgan.training.trainer import Trainer

    trainer = Trainer(tiny_config(f"model.conditioning={name}", "model.cond_proj_dim=16", "train.steps=1"),
                      tmp_path / "run", progress=False)
    trainer.setup()
    try:
        calls, g_conditions = [], []
        class_loss, g_forward = trainer.method.class_loss, trainer.G.forward
        proxies = trainer.D.heads["embed"].proxies.weight
        trainer.method.class_loss = lambda embed, y: (calls.append((embed.detach(), y, F.normalize(proxies.detach().clone(), dim=1)))
                                                      or class_loss(embed, y))
        trainer.G.forward = lambda z, cnd: g_conditions.append(cnd) or g_forward(z, cnd)
        real_batches = []
        real_batch = trainer.gan_step.real_batch
        trainer.gan_step.real_batch = lambda: real_batches.append(real_batch()) or real_batches[-1]
        trainer.train_step()
    finally:
        trainer.close()
    (embed_r, y_r, v_r), (embed_f, y_f, v_f) = calls  # D step on reals, G step on fakes
    assert torch.equal(y_r, real_batches[0][1].y)
    assert torch.equal(y_f, g_conditions[-1].argmax(1))  # the G step's fakes
    for embed, y, v in ((embed_r, y_r, v_r), (embed_f, y_f, v_f)):
        f, _, positive = trainer.method.split(embed, y)
        torch.testing.assert_close(positive, (f * v[y]).sum(1), rtol=1e-5, atol=1e-6)
