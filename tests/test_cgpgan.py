"""CGPGAN pieces (Cho, codebook paper (seed 000) §2): the classifier gradient penalty, the
classification loss, the learned prior, and the inner-product `ca_inner` discriminator loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condgan.errors import CondganError
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
