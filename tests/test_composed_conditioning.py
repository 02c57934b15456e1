"""Composed conditioning terms (`model.conditioning=d2dce+tac`, seed 004 App. E): the composed
D and G losses against a hand computation on a tiny batch (Python floats, the D2D-CE double loop
of test_conditioning_methods), each part's gradient reaching its own head and only its own,
equivalence of `tac` with `ac_mod+tac`, the refused combinations, the options and seams a
composition must pass to its parts, and a few training steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING
from condgan.nets import Discriminator
from conftest import tiny_overrides
from test_conditioning_methods import d2dce_naive, labels, log_softmax_hand, mean, random_batch, t
from condgan.validation import load_config

K, LAM, TAU = 3, 0.7, 0.5


def composed(name="d2dce+tac", adv="ns", **options):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get(adv), K, LAM, **options)


def softplus(v):
    return math.log1p(math.exp(v))


# ------------------------------------------------------------------ the losses by hand
def embed_outputs(seed):
    """A head output [f | f·v_k] of normalized f and proxies v, as FeatureNormalizedHead gives."""
    f, v, y = random_batch(4, 5, K, seed)
    return torch.cat([f, f @ v.T], 1), f, v, y


def test_d2dce_plus_tac_losses_by_hand():
    emb_r, f_r, v, y_r = embed_outputs(0)
    emb_f, f_f, v_f, y_f = embed_outputs(1)
    emb_f = torch.cat([f_f, f_f @ v.T], 1)   # the same proxies for reals and fakes
    o_r, o_f = [0.5, -1.2, 2.0, 0.1], [-0.3, 1.1, 0.0, 0.4]
    twin = [[-1.0, 0.5, 0.3], [0.2, 0.2, 1.0], [1.5, -0.5, 0.0], [0.3, 0.9, -0.2]]
    real = {"adv": t(o_r), "embed": emb_r, "twin_cls": t([[0.0] * K] * 4)}
    fake = {"adv": t(o_f), "embed": emb_f, "twin_cls": t(twin)}
    m = composed(temperature=TAU, proj_dim=5)
    d, d_logs = m.d_loss(real, fake, labels(y_r.tolist()), labels(y_f.tolist()))
    g, g_logs = m.g_loss(fake, labels(y_f.tolist()))

    adv_d = mean(softplus(-o) for o in o_r) + mean(softplus(o) for o in o_f)
    adv_g = mean(softplus(-o) for o in o_f)
    d2d_real = d2dce_naive(f_r, v, y_r, TAU, 0.98, 0.02)
    d2d_fake = d2dce_naive(f_f, v, y_f, TAU, 0.98, 0.02)
    ce_twin = mean(-log_softmax_hand(l, y) for l, y in zip(twin, y_f.tolist()))
    # L_D = adv_D + λ [D2D-CE(x, y) + CE(C_mi(x'), y')],  L_G = adv_G + λ [D2D-CE(x', y') - CE(C_mi(x'), y')]
    assert d.item() == pytest.approx(adv_d + LAM * (d2d_real + ce_twin), abs=1e-10)
    assert g.item() == pytest.approx(adv_g + LAM * (d2d_fake - ce_twin), abs=1e-10)
    assert d_logs["d_cls"].item() == pytest.approx(d2d_real, abs=1e-10)
    assert d_logs["d_twin_cls"].item() == pytest.approx(ce_twin, abs=1e-10)
    assert d_logs["d_cond"].item() == pytest.approx(d2d_real + ce_twin, abs=1e-10)
    assert g_logs["g_cond"].item() == pytest.approx(d2d_fake - ce_twin, abs=1e-10)
    # no class-logit term of AC-GAN* rides along: only ψ, D2D-CE's head and the twin
    assert set(m.heads(6, False)) == {"adv", "embed", "twin_cls"}


@pytest.mark.parametrize("adv", ["ns", "hinge", "ls"])
def test_tac_alone_is_ac_mod_plus_tac(adv):
    torch.manual_seed(0)
    out_r = {"adv": torch.randn(5), "cls": torch.randn(5, K), "twin_cls": torch.randn(5, K)}
    out_f = {"adv": torch.randn(5), "cls": torch.randn(5, K), "twin_cls": torch.randn(5, K)}
    lr, lf = labels([0, 1, 2, 0, 1]), labels([2, 2, 0, 1, 0])
    a, b = composed("tac", adv), composed("ac_mod+tac", adv)
    assert CONDITIONING.get("tac").name == "tac" and [p.name for p in CONDITIONING.get("tac").parts] == ["ac_mod", "tac"]
    assert torch.equal(a.d_loss(out_r, out_f, lr, lf)[0], b.d_loss(out_r, out_f, lr, lf)[0])
    assert torch.equal(a.g_loss(out_f, lf)[0], b.g_loss(out_f, lf)[0])


def test_ac_plus_tac_sums_the_uniform_term_and_the_twin():
    torch.manual_seed(1)
    out_r = {"adv": torch.randn(4), "cls": torch.randn(4, K), "twin_cls": torch.randn(4, K)}
    out_f = {"adv": torch.randn(4), "cls": torch.randn(4, K), "twin_cls": torch.randn(4, K)}
    lr, lf = labels([0, 1, 2, 0]), labels([2, 2, 0, 1])
    d, logs = composed("ac_plus+tac").d_loss(out_r, out_f, lr, lf)
    ce = nn.functional.cross_entropy
    adv = ADVERSARIAL_LOSSES.get("ns").d_loss(out_r["adv"], out_f["adv"])
    uniform = -nn.functional.log_softmax(out_f["cls"], 1).mean()
    want = adv + LAM * (ce(out_r["cls"], lr.y) + uniform + ce(out_f["twin_cls"], lf.y))
    assert d.item() == pytest.approx(want.item(), abs=1e-6)
    assert set(logs) >= {"d_adv", "d_cls", "d_uniform", "d_twin_cls", "d_cond"}


# ------------------------------------------------------------------ gradients reach their heads
def grads(loss, params):
    return [g if g is not None else torch.zeros_like(p)
            for g, p in zip(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True), params)]


def test_each_part_trains_its_own_head_and_only_it():
    torch.manual_seed(0)
    m = composed(proj_dim=8)
    heads = m.heads(6, False)
    disc = Discriminator(nn.Identity(), heads)
    x_r, x_f = torch.randn(6, 6), torch.randn(6, 6)
    lr, lf = labels([0, 1, 2, 0, 1, 2]), labels([1, 1, 2, 0, 0, 2])
    _, d_logs = m.d_loss(disc(x_r, None), disc(x_f, None), lr, lf)
    embed = list(heads["embed"].parameters())
    twin = list(heads["twin_cls"].parameters())
    d2d, tw = d_logs["d_cls"], d_logs["d_twin_cls"]
    assert all(g.abs().sum() > 0 for g in grads(d2d, embed))      # D2D-CE trains projection and proxies
    assert all(g.abs().sum() == 0 for g in grads(d2d, twin))
    assert all(g.abs().sum() > 0 for g in grads(tw, twin))        # the twin is trained on fakes
    assert all(g.abs().sum() == 0 for g in grads(tw, embed))
    # G: descends D2D-CE of the fakes and ascends the twin's CE (opposite of D's twin gradient)
    fake = disc(x_f, None)
    twin_logits = fake["twin_cls"].detach().requires_grad_(True)
    fake["twin_cls"] = twin_logits
    g, g_logs = m.g_loss(fake, lf)
    (d_g,) = torch.autograd.grad(g, twin_logits, retain_graph=True)
    (d_ce,) = torch.autograd.grad(nn.functional.cross_entropy(twin_logits, lf.y), twin_logits)
    assert torch.allclose(d_g, -LAM * d_ce, atol=1e-7)
    assert all(gr.abs().sum() > 0 for gr in grads(g, embed))


# ------------------------------------------------------------------ config: accepted, refused, options
def cfg(*extra):
    return load_config({}, tiny_overrides(*extra))


@pytest.mark.parametrize("name, match", [
    ("d2dce+pd", "'pd' does not compose"),
    ("ac_mod+ca", "'ca' does not compose"),
    ("am+tac", "'am' does not compose"),
    ("none+d2dce", "'none' does not compose"),
    ("2c+d2dce", "2c and d2dce both train D's head 'embed'"),
    ("ac+ac_mod", "ac and ac_mod both train D's head 'cls'"),
    ("d2dce+d2dce", "names d2dce twice"),
    ("d2dce+", "empty term"),
    ("d2dce+tak", "did you mean 'tac'"),
])
def test_refused_compositions(name, match):
    with pytest.raises(CondganError, match=match) as err:
        cfg(f"model.conditioning={name}")
    assert "model.conditioning" in str(err.value)


def test_composition_options_and_checks_reach_the_parts():
    c = cfg("model.conditioning=d2dce+tac", "model.cond_temperature=0.25", "model.cond_margin_pos=0.9",
            "model.cond_weight=0.5")
    m = CONDITIONING.get(c.model.conditioning).from_config(c, ADVERSARIAL_LOSSES.get("ns"), 10)
    d2d, twin = m.terms
    assert (d2d.temperature, d2d.margin_pos, m.cond_weight, d2d.cond_weight) == (0.25, 0.9, 0.5, 0.5)
    assert twin.name == "tac" and m.cond_loss_key == "d_cond"
    with pytest.raises(CondganError, match="train.batch_size=1 leaves no other sample"):
        cfg("model.conditioning=d2dce+tac", "train.batch_size=1")
    with pytest.raises(CondganError, match="needs single class labels"):
        cfg("model.conditioning=d2dce+tac", "data.attributes=[even, ge5]")
    with pytest.raises(CondganError, match="dynamic reads D's class logits"):
        cfg("model.conditioning=d2dce+tac", "model.labeling=dynamic")
    cfg("model.conditioning=ac_mod+tac", "model.labeling=dynamic")   # AC-GAN*'s classifier gives them
    with pytest.raises(TypeError, match="no part takes"):
        composed(nonesuch=1)


def test_gather_seam_reaches_the_batch_level_part():
    m = composed(proj_dim=4)
    marker = lambda f, y: (f, y, 0)  # noqa: E731
    m.gather = marker
    assert m.terms[0].gather is marker and m.gather is marker
    assert not hasattr(composed("ac_mod+tac"), "gather")


def test_class_logits_come_from_the_real_classifier():
    m = composed("ac_mod+tac")
    out = {"cls": t([[1.0, 2.0, 3.0]]), "twin_cls": t([[9.0, 9.0, 9.0]])}
    assert m.has_class_logits and m.class_logits(out).tolist() == [[1.0, 2.0, 3.0]]
    assert not CONDITIONING.get("d2dce+tac").has_class_logits


def test_d2dce_plus_tac_trains_and_resumes(tmp_path):
    from condgan.training.checkpoint import load_checkpoint
    from test_training import loss_records, train

    train(tmp_path, "train.steps=3", "train.log_every=1", "model.conditioning=d2dce+tac", "model.cond_proj_dim=8",
          "train.checkpoint_every=2")
    recs = loss_records(tmp_path)
    assert [r["step"] for r in recs] == [1, 2, 3]
    assert all(k in recs[0] for k in ("d_adv", "d_cls", "d_twin_cls", "d_cond", "g_cls", "g_twin_cls", "g_cond"))
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert {k.split(".")[1] for k in state["discriminator"] if k.startswith("heads.")} == {"adv", "embed", "twin_cls"}
