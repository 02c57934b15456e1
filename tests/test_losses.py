"""Adversarial losses (docs/methods.md §1) and conditioning methods (docs/methods.md §2) against values computed by
hand in this file (math.log / math.exp on 2–3 element batches), never by re-running the same
torch functions the library uses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels
from condgan.losses.conditioning.concat import ConcatHead
from condgan.losses.conditioning.projection import ProjectionHead
from condgan.nets import Discriminator, LabelInput
from condgan.nets.layers import ConditionalNorm

O_REAL = [0.5, -1.2, 2.0]
O_FAKE = [-0.3, 1.1, 0.0]


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def sigmoid(t):
    return 1.0 / (1.0 + math.exp(-t))


def ce(logits, y):
    """Softmax cross-entropy of one sample, by hand."""
    return -math.log(math.exp(logits[y]) / sum(math.exp(v) for v in logits))


def t(xs):
    return torch.tensor(xs, dtype=torch.float64)


# ------------------------------------------------------------------ §1 adversarial losses
# Written from the probabilistic definitions (not from softplus) where there is one:
# -log σ(o) = softplus(-o), -log(1 - σ(o)) = softplus(o).
HAND = {
    "minimax": (
        lambda r, f: mean(-math.log(sigmoid(o)) for o in r) + mean(-math.log(1 - sigmoid(o)) for o in f),
        lambda f: mean(math.log(1 - sigmoid(o)) for o in f),
    ),
    "ns": (
        lambda r, f: mean(-math.log(sigmoid(o)) for o in r) + mean(-math.log(1 - sigmoid(o)) for o in f),
        lambda f: mean(-math.log(sigmoid(o)) for o in f),
    ),
    "ls": (
        lambda r, f: mean((o - 1) ** 2 for o in r) + mean(o ** 2 for o in f),
        lambda f: mean((o - 1) ** 2 for o in f),
    ),
    "wasserstein": (
        lambda r, f: -mean(r) + mean(f),
        lambda f: -mean(f),
    ),
    "hinge": (
        lambda r, f: mean(max(0.0, 1 - o) for o in r) + mean(max(0.0, 1 + o) for o in f),
        lambda f: -mean(f),
    ),
}


def test_all_adversarial_losses_registered():
    assert set(ADVERSARIAL_LOSSES.names()) >= set(HAND)


@pytest.mark.parametrize("name", sorted(HAND))
def test_adversarial_loss_values(name):
    loss = ADVERSARIAL_LOSSES.get(name)
    d_hand, g_hand = HAND[name]
    assert loss.d_loss(t(O_REAL), t(O_FAKE)).item() == pytest.approx(d_hand(O_REAL, O_FAKE), rel=1e-12, abs=1e-12)
    assert loss.g_loss(t(O_FAKE)).item() == pytest.approx(g_hand(O_FAKE), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", sorted(HAND))
def test_adversarial_per_sample_terms(name):
    """The per-sample terms f_r, f_g, f^G (what `ca` weights by cnd) are the summands of §1."""
    loss = ADVERSARIAL_LOSSES.get(name)
    d_hand, g_hand = HAND[name]
    for i, (r, f) in enumerate(zip(O_REAL, O_FAKE)):
        # one-element batches: the mean is the term itself
        both = loss.real_term(t(O_REAL))[i].item() + loss.fake_term(t(O_FAKE))[i].item()
        assert both == pytest.approx(d_hand([r], [f]), abs=1e-12)
        assert loss.gen_term(t(O_FAKE))[i].item() == pytest.approx(g_hand([f]), abs=1e-12)


def test_minimax_and_ns_differ_only_in_generator():
    mm, ns = ADVERSARIAL_LOSSES.get("minimax"), ADVERSARIAL_LOSSES.get("ns")
    assert mm.d_loss(t(O_REAL), t(O_FAKE)).item() == pytest.approx(ns.d_loss(t(O_REAL), t(O_FAKE)).item())
    # saturating: a confidently rejected fake (o_f → -∞) gives almost no gradient to G
    o = t([-8.0]).requires_grad_(True)
    mm.g_loss(o).backward()
    g_mm = o.grad.item()
    o.grad = None
    ns.g_loss(o).backward()
    assert abs(g_mm) < 1e-3 < abs(o.grad.item())


def test_only_wasserstein_needs_lipschitz():
    assert {n for n in ADVERSARIAL_LOSSES.names() if ADVERSARIAL_LOSSES.get(n).needs_lipschitz} == {"wasserstein"}


# ------------------------------------------------------------------ §2 conditioning methods
K = 3
REAL_CLS = [[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.2, 0.1, 2.0]]
FAKE_CLS = [[0.4, 0.4, -0.6], [2.0, -1.0, 0.0], [-0.7, 1.5, 0.3]]
Y_REAL = [0, 1, 2]
Y_FAKE = [2, 2, 0]
LAM = 0.7


def labels(y, k=K):
    y = torch.tensor(y)
    return Labels(y, nn.functional.one_hot(y, k).double())


def method(name, adv="ns", k=K, lam=LAM):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get(adv), k, lam)


def ac_outputs():
    real = {"adv": t(O_REAL), "cls": t(REAL_CLS)}
    fake = {"adv": t(O_FAKE), "cls": t(FAKE_CLS)}
    return real, fake


@pytest.mark.parametrize("adv", ["ns", "ls", "hinge"])
def test_none_and_concat_losses_are_the_adversarial_loss(adv):
    d_hand, g_hand = HAND[adv]
    for name in ("none", "concat", "pd"):
        m = method(name, adv)
        d, _ = m.d_loss({"adv": t(O_REAL)}, {"adv": t(O_FAKE)}, labels(Y_REAL), labels(Y_FAKE))
        g, _ = m.g_loss({"adv": t(O_FAKE)}, labels(Y_FAKE))
        assert d.item() == pytest.approx(d_hand(O_REAL, O_FAKE), abs=1e-12)
        assert g.item() == pytest.approx(g_hand(O_FAKE), abs=1e-12)


@pytest.mark.parametrize("adv", ["ns", "ls"])
def test_ac_losses(adv):
    d_hand, g_hand = HAND[adv]
    real, fake = ac_outputs()
    m = method("ac", adv)
    d, logs = m.d_loss(real, fake, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss(fake, labels(Y_FAKE))
    ce_real = mean(ce(l, y) for l, y in zip(REAL_CLS, Y_REAL))
    ce_fake = mean(ce(l, y) for l, y in zip(FAKE_CLS, Y_FAKE))
    assert d.item() == pytest.approx(d_hand(O_REAL, O_FAKE) + LAM * (ce_real + ce_fake), abs=1e-12)
    assert g.item() == pytest.approx(g_hand(O_FAKE) + LAM * ce_fake, abs=1e-12)


@pytest.mark.parametrize("adv", ["ns", "hinge"])
def test_ac_mod_losses(adv):
    d_hand, g_hand = HAND[adv]
    real, fake = ac_outputs()
    m = method("ac_mod", adv)
    d, _ = m.d_loss(real, fake, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss(fake, labels(Y_FAKE))
    ce_real = mean(ce(l, y) for l, y in zip(REAL_CLS, Y_REAL))
    ce_fake = mean(ce(l, y) for l, y in zip(FAKE_CLS, Y_FAKE))
    assert d.item() == pytest.approx(d_hand(O_REAL, O_FAKE) + LAM * ce_real, abs=1e-12)
    assert g.item() == pytest.approx(g_hand(O_FAKE) + LAM * ce_fake, abs=1e-12)


def test_ac_mod_d_loss_ignores_fake_class_logits_but_ac_does_not():
    real, fake = ac_outputs()
    real["adv"] = real["adv"].clone().requires_grad_(True)   # so every D loss has a graph
    fake["cls"] = fake["cls"].clone().requires_grad_(True)
    other = dict(fake, cls=fake["cls"].detach() + t([[5.0, -3.0, 1.0]] * 3))
    for name, reads_fakes in (("ac", True), ("ac_mod", False)):
        m = method(name)
        d1, _ = m.d_loss(real, fake, labels(Y_REAL), labels(Y_FAKE))
        d2, _ = m.d_loss(real, other, labels(Y_REAL), labels(Y_FAKE))
        grad = torch.autograd.grad(d1, fake["cls"], allow_unused=True)[0]
        if reads_fakes:
            assert d1.item() != pytest.approx(d2.item())
            assert grad is not None and grad.abs().sum() > 0
        else:
            assert d1.item() == d2.item()
            assert grad is None or grad.abs().sum() == 0


def test_ac_plus_adds_uniform_target_ce_in_d_only():
    real, fake = ac_outputs()
    d_hand, g_hand = HAND["ns"]
    m = method("ac_plus")
    d, logs = m.d_loss(real, fake, labels(Y_REAL), labels(Y_FAKE))
    g, _ = m.g_loss(fake, labels(Y_FAKE))
    ce_real = mean(ce(l, y) for l, y in zip(REAL_CLS, Y_REAL))
    ce_fake = mean(ce(l, y) for l, y in zip(FAKE_CLS, Y_FAKE))
    # H(u, C(x')) = -(1/K) Σ_k log softmax_k, averaged over the fakes
    uniform = mean(mean(ce(l, k) for k in range(K)) for l in FAKE_CLS)
    assert d.item() == pytest.approx(d_hand(O_REAL, O_FAKE) + LAM * (ce_real + uniform), abs=1e-12)
    assert g.item() == pytest.approx(g_hand(O_FAKE) + LAM * ce_fake, abs=1e-12)
    # the G loss is AC-GAN*'s, and the extra term is not the fake-label CE of `ac`
    assert g.item() == pytest.approx(method("ac_mod").g_loss(fake, labels(Y_FAKE))[0].item(), abs=1e-12)
    assert uniform != pytest.approx(ce_fake)
    # uniform fake logits minimize the extra term: it is then exactly log K
    flat = dict(fake, cls=torch.zeros(3, K, dtype=torch.float64))
    d_flat, _ = m.d_loss(real, flat, labels(Y_REAL), labels(Y_FAKE))
    assert d_flat.item() == pytest.approx(d_hand(O_REAL, O_FAKE) + LAM * (ce_real + math.log(K)), abs=1e-12)


# ---- ca: M logits, each condition's GAN sees only the samples that carry it
CA_REAL = [[0.5, -1.0, 0.2], [1.5, 0.3, -0.4]]
CA_FAKE = [[-0.2, 0.9, 1.1], [0.0, -0.6, 0.7]]
CND_REAL = [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]   # sample 0 carries two attributes
CND_FAKE = [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]   # sample 1 carries two attributes


def ca_hand(adv, logits_r, cnd_r, logits_f, cnd_f):
    """Σ_c E_real[f_r(D_c(x)) cnd_c] + Σ_c E_fake[f_g(D_c(x')) cnd'_c] and the G loss, by hand."""
    f_r = {"ls": lambda o: (o - 1) ** 2, "ns": lambda o: -math.log(sigmoid(o)),
           "hinge": lambda o: max(0.0, 1 - o), "wasserstein": lambda o: -o,
           "minimax": lambda o: -math.log(sigmoid(o))}[adv]
    f_g = {"ls": lambda o: o ** 2, "ns": lambda o: -math.log(1 - sigmoid(o)),
           "hinge": lambda o: max(0.0, 1 + o), "wasserstein": lambda o: o,
           "minimax": lambda o: -math.log(1 - sigmoid(o))}[adv]
    f_G = {"ls": lambda o: (o - 1) ** 2, "ns": lambda o: -math.log(sigmoid(o)),
           "hinge": lambda o: -o, "wasserstein": lambda o: -o,
           "minimax": lambda o: math.log(1 - sigmoid(o))}[adv]
    n_r, n_f = len(logits_r), len(logits_f)
    d = sum(f_r(o) * c for row, crow in zip(logits_r, cnd_r) for o, c in zip(row, crow)) / n_r
    d += sum(f_g(o) * c for row, crow in zip(logits_f, cnd_f) for o, c in zip(row, crow)) / n_f
    g = sum(f_G(o) * c for row, crow in zip(logits_f, cnd_f) for o, c in zip(row, crow)) / n_f
    return d, g


@pytest.mark.parametrize("adv", ["ls", "ns", "hinge", "wasserstein", "minimax"])
def test_ca_losses_multi_hot(adv):
    m = method("ca", adv, k=3)
    real_l, fake_l = Labels(None, t(CND_REAL)), Labels(None, t(CND_FAKE))
    d, _ = m.d_loss({"cond": t(CA_REAL)}, {"cond": t(CA_FAKE)}, real_l, fake_l)
    g, _ = m.g_loss({"cond": t(CA_FAKE)}, fake_l)
    d_hand, g_hand = ca_hand(adv, CA_REAL, CND_REAL, CA_FAKE, CND_FAKE)
    assert d.item() == pytest.approx(d_hand, abs=1e-12)
    assert g.item() == pytest.approx(g_hand, abs=1e-12)


def test_ca_ls_explicit_numbers():
    """LS with the multi-hot batch, every term written out: each of sample 0's two real
    conditions and each of fake sample 1's two conditions is counted."""
    m = method("ca", "ls", k=3)
    d, _ = m.d_loss({"cond": t(CA_REAL)}, {"cond": t(CA_FAKE)}, Labels(None, t(CND_REAL)), Labels(None, t(CND_FAKE)))
    g, _ = m.g_loss({"cond": t(CA_FAKE)}, Labels(None, t(CND_FAKE)))
    real = ((0.5 - 1) ** 2 + (-1.0 - 1) ** 2 + (-0.4 - 1) ** 2) / 2
    fake = (0.9 ** 2 + 0.0 ** 2 + 0.7 ** 2) / 2
    gen = ((0.9 - 1) ** 2 + (0.0 - 1) ** 2 + (0.7 - 1) ** 2) / 2
    assert d.item() == pytest.approx(real + fake, abs=1e-12)
    assert g.item() == pytest.approx(gen, abs=1e-12)


def test_ca_ignores_logits_of_conditions_not_carried():
    m = method("ca", "ns", k=3)
    real_l, fake_l = Labels(None, t(CND_REAL)), Labels(None, t(CND_FAKE))
    changed_r = t(CA_REAL)
    changed_r[0, 2] += 10.0   # real sample 0 does not carry condition 2
    changed_f = t(CA_FAKE)
    changed_f[1, 1] -= 10.0   # fake sample 1 does not carry condition 1
    d1, _ = m.d_loss({"cond": t(CA_REAL)}, {"cond": t(CA_FAKE)}, real_l, fake_l)
    d2, _ = m.d_loss({"cond": changed_r}, {"cond": changed_f}, real_l, fake_l)
    assert d1.item() == pytest.approx(d2.item(), abs=1e-12)
    changed_r[0, 1] += 1.0    # but it does carry condition 1
    d3, _ = m.d_loss({"cond": changed_r}, {"cond": changed_f}, real_l, fake_l)
    assert d3.item() != pytest.approx(d1.item())


def test_ca_single_label_is_one_hot():
    m = method("ca", "ls", k=3)
    d, _ = m.d_loss({"cond": t(REAL_CLS)}, {"cond": t(FAKE_CLS)}, labels(Y_REAL), labels(Y_FAKE))
    real = mean((row[y] - 1) ** 2 for row, y in zip(REAL_CLS, Y_REAL))
    fake = mean(row[y] ** 2 for row, y in zip(FAKE_CLS, Y_FAKE))
    assert d.item() == pytest.approx(real + fake, abs=1e-12)


def test_ca_adv_logit_selects_labeled_logits():
    m = method("ca", "ns", k=3)
    out = {"cond": t(CA_REAL)}
    got = m.adv_logit(out, Labels(None, t(CND_REAL))).tolist()
    assert got == pytest.approx([0.5 + (-1.0), -0.4])
    got = m.adv_logit({"cond": t(REAL_CLS)}, labels(Y_REAL)).tolist()
    assert got == pytest.approx([REAL_CLS[i][y] for i, y in enumerate(Y_REAL)])


def test_heads_per_method():
    feat = 5
    assert set(method("none").heads(feat, False)) == {"adv"}
    assert set(method("ac").heads(feat, False)) == {"adv", "cls"}
    assert set(method("ac_mod").heads(feat, False)) == {"adv", "cls"}
    assert set(method("ac_plus").heads(feat, False)) == {"adv", "cls"}
    assert set(method("ca").heads(feat, False)) == {"cond"}   # no separate adversarial head
    assert set(method("pd").heads(feat, False)) == {"adv"}
    h = torch.randn(4, feat)
    cls = method("ac").heads(feat, False)["cls"](h, None)
    assert cls.shape == (4, K)
    assert method("ca").heads(feat, False)["cond"](h, None).shape == (4, K)


# ---- pd: o = ψ(h) + <e(cnd), h>
def _set(linear: nn.Linear, weight, bias=None):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias))


PSI_W, PSI_B = [0.5, -1.0, 2.0], 0.25
EMBED = [[1.0, 0.0], [-2.0, 0.5], [0.3, 3.0]]   # E: (feat_dim=3, M=2); e(cnd) = E cnd
H = [[1.0, 2.0, -1.0], [0.5, -0.5, 0.2]]


def pd_hand(h, cnd):
    e = [sum(EMBED[j][c] * cnd[c] for c in range(2)) for j in range(3)]
    return sum(w * v for w, v in zip(PSI_W, h)) + PSI_B + sum(a * b for a, b in zip(e, h))


def test_projection_head_formula():
    head = ProjectionHead(3, 2, spectral_norm=False)
    _set(head.psi, [PSI_W], [PSI_B])
    _set(head.embed, EMBED)
    cnd = [[1.0, 0.0], [1.0, 1.0]]   # one-hot and multi-hot (sum of the two embeddings)
    got = head(torch.tensor(H), torch.tensor(cnd)).tolist()
    assert got == pytest.approx([pd_hand(h, c) for h, c in zip(H, cnd)], abs=1e-6)
    # the class changes the logit through <e_y, h> only
    got1 = head(torch.tensor(H), torch.tensor([[0.0, 1.0], [0.0, 1.0]])).tolist()
    assert got1 == pytest.approx([pd_hand(h, [0.0, 1.0]) for h in H], abs=1e-6)


@pytest.mark.parametrize("adv", ["hinge", "ns"])
def test_pd_loss_through_discriminator(adv):
    """pd through a Discriminator (identity trunk) equals the adversarial loss of the hand logits."""
    m = method("pd", adv, k=2)
    heads = m.heads(3, False)
    _set(heads["adv"].psi, [PSI_W], [PSI_B])
    _set(heads["adv"].embed, EMBED)
    d = Discriminator(nn.Identity(), heads)
    y_r, y_f = [0, 1], [1, 1]
    real_l, fake_l = labels(y_r, 2), labels(y_f, 2)
    h_fake = [[-1.0, 0.0, 0.5], [2.0, 1.0, 1.0]]
    out_r = d(torch.tensor(H), real_l.cnd.float())
    out_f = d(torch.tensor(h_fake), fake_l.cnd.float())
    o_r = [pd_hand(h, [1.0 - y, float(y)]) for h, y in zip(H, y_r)]
    o_f = [pd_hand(h, [1.0 - y, float(y)]) for h, y in zip(h_fake, y_f)]
    d_loss, _ = m.d_loss(out_r, out_f, real_l, fake_l)
    g_loss, _ = m.g_loss(out_f, fake_l)
    d_hand, g_hand = HAND[adv]
    assert d_loss.item() == pytest.approx(d_hand(o_r, o_f), abs=1e-5)
    assert g_loss.item() == pytest.approx(g_hand(o_f), abs=1e-5)


def test_concat_head_formula_and_label_dependence():
    head = ConcatHead(2, 2, spectral_norm=False, embed_dim=2, hidden=3)
    _set(head.embed, [[1.0, -1.0], [0.5, 2.0]])                    # (embed_dim, M)
    _set(head.hidden, [[1.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.0], [0.5, 0.5, -1.0, -1.0]],
         [0.1, -0.2, 0.0])
    _set(head.out, [[1.0, -2.0, 0.5]], [0.3])
    h, cnd = [1.0, -0.5], [0.0, 1.0]

    def lrelu(v):
        return v if v > 0 else 0.2 * v

    e = [1.0 * cnd[0] - 1.0 * cnd[1], 0.5 * cnd[0] + 2.0 * cnd[1]]
    inp = h + e
    hid = [lrelu(sum(w * v for w, v in zip(row, inp)) + b) for row, b in zip(
        [[1.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.0], [0.5, 0.5, -1.0, -1.0]], [0.1, -0.2, 0.0])]
    want = 1.0 * hid[0] - 2.0 * hid[1] + 0.5 * hid[2] + 0.3
    got = head(torch.tensor([h]), torch.tensor([cnd])).item()
    assert got == pytest.approx(want, abs=1e-6)
    other = head(torch.tensor([h]), torch.tensor([[1.0, 0.0]])).item()
    assert other != pytest.approx(got)


# ------------------------------------------------------------------ generator conditioning
def test_label_input_embedding_onehot_none():
    z = torch.tensor([[0.1, 0.2], [0.3, -0.4]])
    cnd = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    emb = LabelInput("embedding", 3, 2)
    _set(emb.embed, [[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])         # (embed_dim, M)
    assert emb.out_dim == 2
    assert torch.allclose(emb(z, cnd), torch.tensor([[0.1, 0.2, 2.0, 0.5], [0.3, -0.4, 4.0, 3.0]]))
    one = LabelInput("onehot", 3, 2)
    assert one.out_dim == 3
    assert torch.equal(one(z, cnd), torch.tensor([[0.1, 0.2, 0.0, 1.0, 0.0], [0.3, -0.4, 1.0, 0.0, 1.0]]))
    none = LabelInput("embedding", 0, 2)   # no conditions → unconditional
    assert none.out_dim == 0 and torch.equal(none(z, None), z)


def test_conditional_batch_norm_formula():
    x = [[1.0, 2.0], [3.0, -2.0], [0.0, 4.0], [4.0, 0.0]]
    cnd = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
    gain = [[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]]   # W_γ: (C=2, M=3)
    bias = [[1.0, 0.0, -1.0], [0.2, 0.3, 0.4]]
    norm = ConditionalNorm("batch", 2, num_conditions=3, spatial=False)
    assert not norm.norm.affine
    _set(norm.gain, gain)
    _set(norm.bias, bias)
    norm.train()
    got = norm(torch.tensor(x), torch.tensor(cnd)).tolist()
    want = []
    cols = list(zip(*x))
    mu = [mean(c) for c in cols]
    var = [mean((v - m) ** 2 for v in c) for c, m in zip(cols, mu)]   # biased, as BN normalizes
    for row, c in zip(x, cnd):
        out = []
        for ch in range(2):
            xhat = (row[ch] - mu[ch]) / math.sqrt(var[ch] + 1e-5)
            g = sum(gain[ch][k] * c[k] for k in range(3))
            b = sum(bias[ch][k] * c[k] for k in range(3))
            out.append(xhat * (1 + g) + b)
        want.append(out)
    for gr, wr in zip(got, want):
        assert gr == pytest.approx(wr, abs=1e-5)


def test_conditional_batch_norm_spatial_and_identity_at_init():
    torch.manual_seed(0)
    norm = ConditionalNorm("batch", 3, num_conditions=4, spatial=True)
    x = torch.randn(5, 3, 2, 2)
    cnd = nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 0]), 4).float()
    plain = nn.BatchNorm2d(3, affine=False)
    assert torch.allclose(norm(x, cnd), plain(x), atol=1e-6)   # zero-initialized gain and bias
    with torch.no_grad():
        norm.gain.weight[1, 2] = 0.5     # class 2, channel 1
        norm.bias.weight[0, 3] = -1.0    # class 3, channel 0
    out, ref = norm(x, cnd), plain(x)
    assert torch.allclose(out[2, 1], ref[2, 1] * 1.5, atol=1e-6)
    assert torch.allclose(out[3, 0], ref[3, 0] - 1.0, atol=1e-6)
    assert torch.allclose(out[0], ref[0], atol=1e-6)
    plain_layer = ConditionalNorm("batch", 3)
    assert plain_layer.norm.affine and plain_layer(x, None).shape == x.shape


@pytest.mark.parametrize("name", ["ns", "minimax", "ls"])
def test_one_sided_label_smoothing_softens_only_the_real_target(name):
    """α = 0.1: BCE against target 0.9 for the logistic losses, (o − 0.9)² for LS; the fake
    and generator terms are unchanged."""
    o = torch.tensor([-2.0, 0.0, 0.5, 3.0], dtype=torch.float64)
    loss = ADVERSARIAL_LOSSES.get(name)
    smooth = loss.with_label_smoothing(0.1)
    p = torch.sigmoid(o)
    want = (o - 0.9).square() if name == "ls" else -(0.9 * p.log() + 0.1 * (1 - p).log())
    torch.testing.assert_close(smooth.real_term(o), want)
    assert torch.equal(smooth.fake_term(o), loss.fake_term(o))
    assert torch.equal(smooth.gen_term(o), loss.gen_term(o))
    assert loss.with_label_smoothing(0.0) is loss


@pytest.mark.parametrize("name", ["hinge", "wasserstein"])
def test_label_smoothing_rejected_for_losses_without_a_target(tiny_config, name):
    with pytest.raises(CondganError, match=f"label_smoothing.*{name}"):
        tiny_config(f"loss.adversarial={name}", "model.d_spectral_norm=true", "loss.label_smoothing=0.1")
    with pytest.raises(CondganError, match=r"loss.label_smoothing.*\[0, 1\)"):
        tiny_config("loss.label_smoothing=1.0")


def test_labels_cat_joins_present_parts_and_drops_a_part_missing_on_either_side():
    """Mixed-batch training concatenates the reals' and fakes' labels: parts present on both
    sides are joined in order, a part missing on either side (the fakes of dynamic labeling have
    no class index; unlabeled data has neither) is missing in the result."""
    a = Labels(torch.tensor([0, 1]), torch.eye(3)[[0, 1]])
    b = Labels(torch.tensor([2]), torch.eye(3)[[2]])
    joined = Labels.cat(a, b)
    assert joined.y.tolist() == [0, 1, 2] and torch.equal(joined.cnd, torch.eye(3))
    no_index = Labels.cat(a, Labels(None, torch.eye(3)[[2]]))
    assert no_index.y is None and torch.equal(no_index.cnd, torch.eye(3))
    nothing = Labels.cat(Labels(None, None), b)
    assert nothing.y is None and nothing.cnd is None
