"""CGPGAN pieces (Cho, codebook paper (seed 000) §2): the classifier gradient penalty, the
classification loss, the learned prior, and the inner-product `ca_inner` discriminator loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.cgp import (argmax_onehot, cgp_loss, classification_loss, group_log_softmax, sample_prior,
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


def test_cgp_scores_each_group_against_its_own_softmax():
    """d_l = 2 groups of d_c = 3, Q(x) = per-group softmax(W_g x): the penalty is
    E ||∇_x (1/2) Σ_g (1 − p_g)²||², p_g the probability of group g's chosen category, with
    ∇_x (1 − p_g)² = −2 (1 − p_g) p_g (W_{g,k_g} − Σ_j p_{g,j} W_{g,j}). The old reading,
    (1 − Σ_g p_g)², compares a sum of two probabilities with 1."""
    torch.manual_seed(1)
    w = torch.randn(6, 5, dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    k = torch.randint(3, (4, 2))
    c_f = F.one_hot(k, 3).double().reshape(4, 6)
    grad = torch.zeros(4, 5, dtype=torch.float64)
    for g in range(2):
        wg = w[3 * g:3 * g + 3]
        p = torch.softmax(x @ wg.t(), 1)
        pk = p[torch.arange(4), k[:, g]]
        grad += 0.5 * -2 * (1 - pk)[:, None] * pk[:, None] * (wg[k[:, g]] - p @ wg)
    expected = grad.square().sum(1).mean()
    got = cgp_loss(lambda v: v @ w.t(), x, c_f, d_l=2)
    assert torch.allclose(got, expected, rtol=1e-10), (got, expected)


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


@pytest.mark.parametrize("normalize", [False, True])
def test_prior_update_keeps_no_graph(normalize):
    """The prior is a running statistic: updated from predictions that carry Q's graph it must
    not carry it on (a prior with a graph would chain every step's graph into the next one)."""
    logits = torch.randn(4, 6, requires_grad=True)
    prior = update_prior(torch.full((2, 3), 1 / 3), group_log_softmax(logits, 2).exp(), 0.9, 2, normalize)
    assert not prior.requires_grad and prior.grad_fn is None


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


def test_ca_inner_four_groups_is_one_gan_per_group():
    """d_l = 4 groups of d_c = 2: each group's chosen logit D_g·c_g gets the adversarial loss and
    the groups are averaged (the author's multi-group code); the old reading applied the loss once
    to the sum of the 4 chosen logits."""
    real = {"cond": torch.tensor([[0.5, -1., 2., 0., 0.1, 0.3, -0.2, 1.]])}
    fake = {"cond": torch.tensor([[1., 0., -1., 0.5, 0., 2., 0.4, -0.4]])}
    cr = torch.tensor([[1., 0, 1, 0, 0, 1, 0, 1]])
    cf = torch.tensor([[0., 1, 1, 0, 1, 0, 1, 0]])
    r, f = torch.tensor([0.5, 2., 0.3, 1.]), torch.tensor([0., -1., 0., 0.4])  # chosen logit per group
    m = CONDITIONING.get("ca_inner")(ADVERSARIAL_LOSSES.get("ns"), 8, 1.0, groups=4)
    d, _ = m.d_loss(real, fake, Labels(None, cr), Labels(None, cf))
    assert torch.allclose(d, F.softplus(-r).mean() + F.softplus(f).mean())
    g, _ = m.g_loss(fake, Labels(None, cf))
    assert torch.allclose(g, F.softplus(-f).mean())
    # the penalties differentiate the mean of the chosen logits
    assert torch.allclose(m.adv_logit(real, Labels(None, cr)), r.mean()[None])
    # one group (and attribute vectors): the inner product with the whole condition
    one = _method("ca_inner", 8)
    assert torch.allclose(one.adv_logit(real, Labels(None, cr)), r.sum()[None])


def test_ca_inner_reads_its_groups_from_the_labeling_mode(tiny_config):
    from condgan.training.build import DataInfo, build_gan

    info = DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)])
    cfg = tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "model.cgp_groups=4",
                      "model.cgp_categories=2", "data.unlabeled=true")
    assert build_gan(cfg, info, torch.device("cpu")).method.groups == 4
    assert build_gan(tiny_config("model.conditioning=ca_inner"), info, torch.device("cpu")).method.groups == 1


def test_r2_on_ca_inner_groups_differentiates_the_mean_chosen_logit():
    """R2 = γ/2 E||∇ (1/d_l) Σ_g D_g·c_g||²: with a linear D (logits W x) the gradient is the mean of
    the chosen rows of W — d_l² = 16 times smaller in squared norm than the sum's (the old reading,
    with R2 on the sum of the chosen logits, was that much stronger than the author's setting)."""
    from condgan.losses.regularizers import REGULARIZERS, PenaltyContext

    torch.manual_seed(0)
    w = torch.randn(8, 5, dtype=torch.float64)
    disc = lambda x, cnd: {"cond": x @ w.t()}  # noqa: E731
    fake = torch.randn(3, 5, dtype=torch.float64)
    idx = torch.randint(2, (3, 4))
    cf = F.one_hot(idx, 2).double().reshape(3, 8)
    m = CONDITIONING.get("ca_inner")(ADVERSARIAL_LOSSES.get("ns"), 8, 1.0, groups=4)
    ctx = PenaltyContext(disc, m, fake, fake, Labels(None, cf), Labels(None, cf), 10.0)
    rows = torch.stack([w[2 * torch.arange(4) + idx[i]].mean(0) for i in range(3)])  # (3, 5)
    expected = 0.5 * 10.0 * rows.square().sum(1).mean()
    assert torch.allclose(REGULARIZERS.get("r2")(ctx), expected)


# ------------------------------------------------------------------ the classifier labeling mode
CGP = ("model.labeling=classifier", "model.conditioning=ca_inner", "model.q_width=8", "loss.adversarial=ns", "data.unlabeled=true",
       "reg.r2=1", "train.sample_every=5", "train.checkpoint_every=5", "model.prior_warmup=3")


def test_classifier_mode_resumes_bit_identically(tmp_path):
    from condgan.cli.main import main
    from condgan.training.checkpoint import load_checkpoint
    from test_training import loss_records, train

    train(tmp_path / "a", *CGP, "train.steps=5")
    train(tmp_path / "a", *CGP, "train.steps=10")
    fresh = train(tmp_path / "b", *CGP, "train.steps=10")
    assert fresh.step == 10
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in "ab")
    for key in ("q", "opt_q"):
        assert set(a["labeling"][key]) == set(b["labeling"][key])
    assert all(torch.equal(a["labeling"]["q"][k], b["labeling"]["q"][k]) for k in a["labeling"]["q"])
    assert torch.equal(a["labeling"]["prior"], b["labeling"]["prior"])
    assert (tmp_path / "a/samples/latest.png").read_bytes() == (tmp_path / "b/samples/latest.png").read_bytes()
    rec = loss_records(tmp_path / "b")[-1]
    assert {"q_cls", "q_cgp", "q_loss"} <= rec.keys()
    # Q trained: its weights moved from the initialization (a 1-step run's Q differs from 10 steps)
    one = train(tmp_path / "c", *CGP, "train.steps=1", "train.checkpoint_every=1")
    q1 = load_checkpoint(tmp_path / "c/checkpoints/last.pt")["labeling"]["q"]
    assert any(not torch.equal(q1[k], b["labeling"]["q"][k]) for k in q1)
    assert one.labeling.prior.shape == (1, 10)
    # the run samples and has a category predictor (clustering metrics)
    assert main(["sample", str(tmp_path / "b"), "--out", str(tmp_path / "g.png")]) == 0
    from condgan.training.restore import load_generator

    trained = load_generator(tmp_path / "b")
    images = torch.randn(6, 1, 8, 8)
    predicted = trained.category_predictor(images)
    assert predicted.shape == (6,) and 0 <= int(predicted.min()) and int(predicted.max()) < 10
    assert torch.equal(predicted, fresh.labeling.q(images).argmax(1))


@pytest.mark.parametrize("extra, match", [
    (("model.conditioning=pd",), "per-category"),
    (("model.cgp_categories=1",), "model.cgp_categories"),
    (("model.cgp_groups=0",), "model.cgp_groups"),
    (("model.prior_decay=1",), "model.prior_decay"),
    (("model.cgp_weight=-1",), "model.cgp_weight"),
    (("model.prior_warmup=-1",), "model.prior_warmup"),
    (("model.g_conditioning=codebook", "model.cgp_groups=2", "model.cgp_categories=5"), "model.codebook_groups"),
])
def test_classifier_config_errors(tiny_config, extra, match):
    with pytest.raises(CondganError, match=match):
        tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", *extra)


def test_generator_and_discriminator_conditions_follow_groups(tiny_config):
    from condgan.training.build import DataInfo, build_gan

    cfg = tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "model.cgp_groups=2",
                      "model.cgp_categories=3", "model.g_label_embedding=onehot")
    gan = build_gan(cfg, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    assert gan.method.num_classes == 6
    assert gan.generator.label_input.out_dim == 6


def test_joint_category_index_for_groups():
    from condgan.training.labeling import ClassifierLabeling

    # d_l = 2, d_c = 3: logits argmax (2, 1) → 2·3 + 1 = 7; (0, 2) → 2
    logits = torch.tensor([[0., 0, 5, 0, 5, 0], [5., 0, 0, 0, 0, 5]])
    predict = ClassifierLabeling.predictor(lambda x: x, 2)
    assert predict(logits).tolist() == [7, 2]
    assert predict(logits).dtype == torch.int64  # category indices, usable as indices


def test_preset_is_valid():
    from condgan.validation import load_config

    cfg = load_config("mnist5k-cgpgan", [])
    assert (cfg.model.labeling, cfg.model.conditioning, cfg.loss.adversarial) == ("classifier", "ca_inner", "ns")
    assert cfg.reg.r2 > 0 and cfg.model.cgp_groups == 1 and cfg.model.cgp_categories == 10
    assert cfg.data.unlabeled  # trained without the labels


def test_codebook_with_classifier_groups(tiny_config):
    from condgan.training.build import DataInfo, build_gan

    cfg = tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "model.cgp_groups=2",
                      "model.cgp_categories=4", "model.g_conditioning=codebook", "model.codebook_groups=2",
                      "model.codebook_dim=8")
    gan = build_gan(cfg, DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)]), torch.device("cpu"))
    assert tuple(gan.generator.codebook.pages.shape) == (2, 4, 8)
    cnd = torch.tensor([[1., 0, 0, 0, 0, 0, 1, 0]])
    assert gan.generator(torch.randn(1, cfg.model.z_dim), cnd).shape == (1, 1, 8, 8)


def _mode(tiny_config, *extra):
    from condgan.training.labeling import ClassifierLabeling

    cfg = tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "model.q_width=4",
                      "data.unlabeled=true", *extra)
    return ClassifierLabeling(cfg, None, 0, False, torch.device("cpu"), sample_shape=(1, 8, 8))


class _FixedQ(torch.nn.Module):
    """A classifier that returns the logits it is given as the image batch (B, d_l·d_c)."""

    def forward(self, x):
        return x


def test_warmup_normalizes_the_reals_targets_and_the_prior_until_its_last_step(tiny_config):
    """Until step model.prior_warmup the reals' categories are the argmax of the normalized
    predictions c − batchmean(c) + 1/d_c (seed 000 Eqs. 9–10, as the author's code does), and the
    prior update uses them; from that step on both use the raw predictions. Both reals here
    prefer category 0; normalized, the second prefers category 1."""
    mode = _mode(tiny_config, "model.cgp_categories=2", "model.prior_warmup=2", "model.prior_decay=0.5")
    mode.q = _FixedQ()
    logits = torch.tensor([[0.9, 0.1], [0.6, 0.4]]).log()
    for step, want_y, normalized in ((0, [0, 1], True), (1, [0, 1], True), (2, [0, 0], False)):
        labels = mode.real(logits, None)
        assert labels.y.tolist() == want_y, step
        before = mode.prior.clone()
        mode.update(step)
        if normalized:
            assert torch.allclose(mode.prior, before), step  # uniform stays uniform
        else:  # 0.5·0.5 + 0.5·mean(0.9, 0.6)
            assert torch.allclose(mode.prior, torch.tensor([[0.625, 0.375]])), step
    # the warm-up state is checkpointed: a mode restored after the warm-up stays out of it
    restored = _mode(tiny_config, "model.cgp_categories=2", "model.prior_warmup=2", "model.prior_decay=0.5")
    restored.q = _FixedQ()
    assert restored.warming_up is True
    restored.load_state_dict(mode.state_dict())
    assert restored.warming_up is False
    assert _mode(tiny_config, "model.cgp_categories=2").warming_up is False  # no warm-up at all
    assert _mode(tiny_config, "model.cgp_categories=2", "model.prior_warmup=1").warming_up is True  # step 0 only


def test_real_labels_per_group(tiny_config):
    """Reals get one argmax per group; class indices y exist only for a single group (a joint
    argmax over all groups would name one category of one group)."""
    mode = _mode(tiny_config, "model.cgp_groups=2", "model.cgp_categories=3")
    mode.q = _FixedQ()
    labels = mode.real(torch.tensor([[0., 2, 1, 3, 0, 0], [1., 0, 0, 0, 0, 5]]), None)
    assert labels.y is None
    assert labels.cnd.tolist() == [[0, 1, 0, 1, 0, 0], [1, 0, 0, 0, 0, 1]]
    one = _mode(tiny_config, "model.cgp_categories=3")
    one.q = _FixedQ()
    assert one.real(torch.tensor([[0., 2, 1], [3., 0, 0]]), None).y.tolist() == [1, 0]


def test_fakes_draw_their_categories_from_the_learned_prior(tiny_config):
    mode = _mode(tiny_config, "model.cgp_groups=2", "model.cgp_categories=3")
    mode.prior = torch.tensor([[0., 0., 1.], [1., 0., 0.]])
    labels = mode.fake(50, torch.Generator().manual_seed(0))
    assert labels.y is None
    assert (labels.cnd == torch.tensor([0., 0, 1, 1, 0, 0])).all()


def test_q_is_trained_towards_the_fakes_categories_with_both_terms(tiny_config):
    """train_networks: L_cls and L_cgp of Q on the fakes and their c_f (not another condition),
    weighted by model.cgp_cls_weight / model.cgp_weight, and both reach Q's optimizer."""
    torch.manual_seed(0)
    fake = torch.randn(6, 1, 8, 8)
    c_f = F.one_hot(torch.tensor([0, 1, 2, 3, 4, 5]), 10).float()
    labels = Labels(c_f.argmax(1), c_f)
    for cls_w, cgp_w in ((1.0, 0.0), (0.0, 10.0)):
        mode = _mode(tiny_config, f"model.cgp_cls_weight={cls_w}", f"model.cgp_weight={cgp_w}")
        logits = mode.q(fake).detach()
        want_cls = -(F.log_softmax(logits, 1) * c_f).sum(1).mean()
        want_cgp = cgp_loss(mode.q, fake, c_f, d_l=1).detach()
        before = [p.detach().clone() for p in mode.q.parameters()]
        logs = mode.train_networks(fake, labels)
        assert torch.allclose(logs["q_cls"], want_cls) and torch.allclose(logs["q_cgp"], want_cgp)
        assert torch.allclose(logs["q_loss"], cls_w * want_cls + cgp_w * want_cgp)
        assert any(not torch.equal(a, b) for a, b in zip(before, mode.q.parameters())), (cls_w, cgp_w)
    mode = _mode(tiny_config, "model.cgp_cls_weight=0", "model.cgp_weight=0")
    before = [p.detach().clone() for p in mode.q.parameters()]
    mode.train_networks(fake, labels)
    assert all(torch.equal(a, b) for a, b in zip(before, mode.q.parameters()))


def test_restored_predictor_gives_joint_probabilities_of_the_groups(tiny_config):
    """For d_l = 2 groups of d_c = 3 the category probabilities are the d_c^d_l = 9 products
    p_0[a]·p_1[b] at index 3a + b (a softmax over all 6 logits would be something else)."""
    from condgan.training.build import DataInfo
    from condgan.training.labeling import ClassifierLabeling

    mode = _mode(tiny_config, "model.cgp_groups=2", "model.cgp_categories=3")
    info = DataInfo((1, 8, 8), 0, False, [])
    probs = ClassifierLabeling.restored_predictor(mode_cfg(tiny_config, "model.cgp_groups=2", "model.cgp_categories=3"),
                                                  info, {"labeling": mode.state_dict()}, None, None,
                                                  torch.device("cpu"))
    x = torch.randn(5, 1, 8, 8)
    logits = mode.q(x).detach()
    p0, p1 = logits[:, :3].softmax(1), logits[:, 3:].softmax(1)
    want = torch.stack([p0[:, a] * p1[:, b] for a in range(3) for b in range(3)], 1)
    got = probs(x)
    assert got.shape == (5, 9) and torch.allclose(got, want, atol=1e-6)
    assert not got.requires_grad  # Q restored frozen, for clustering
    assert torch.equal(ClassifierLabeling.predictor(mode.q, 2)(x), want.argmax(1))


def mode_cfg(tiny_config, *extra):
    return tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "model.q_width=4",
                       "data.unlabeled=true", *extra)


@pytest.mark.parametrize("equalized", [False, True])
def test_q_follows_model_equalized_lr(tiny_config, equalized):
    """Q is built like D's trunk: with equalized-learning-rate layers exactly when D has them."""
    from torch.nn.utils import parametrize

    from condgan.training.labeling.classifier import build_classifier

    cfg = tiny_config("model.labeling=classifier", "model.conditioning=ca_inner", "data.unlabeled=true",
                      f"model.equalized_lr={str(equalized).lower()}", "model.d_spectral_norm=false",
                      "model.g_spectral_norm=false")
    q = build_classifier(cfg, (1, 8, 8), 10)
    layers = [m for m in q.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert layers and all(parametrize.is_parametrized(m, "weight") is equalized for m in layers)
