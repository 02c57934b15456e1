"""InfoGAN labeling mode, the random (vanilla GAN + codebook) mode, self-labeling helpers and
data.unlabeled."""

from __future__ import annotations

import math

import pytest
import torch

from condgan.errors import CondganError
from condgan.losses.conditioning.base import Labels
from condgan.training.build import DataInfo, build_gan
from condgan.training.labeling.infogan import InfoGANLabeling, info_loss
from condgan.training.labeling import CategoryGenerator, group_onehots, joint_probabilities

INFO = ("model.labeling=infogan", "model.conditioning=none", "model.info_categories=3",
        "model.info_continuous=2", "data.unlabeled=true")
UNLABELED = DataInfo((1, 8, 8), 0, False, [])


def test_info_loss_by_hand():
    # K = 3 categories + 1 continuous code, two samples.
    q = torch.tensor([[2.0, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, -0.5]])
    labels = Labels(torch.tensor([0, 2]), torch.tensor([[1.0, 0, 0, 0.3], [0, 0, 1, -0.1]]))
    cat, cont = info_loss(q, labels, 3)
    ce0 = -(2 - math.log(math.exp(2) + 1 + math.exp(1)))
    ce1 = -(0 - math.log(1 + math.e + 1))
    assert float(cat) == pytest.approx((ce0 + ce1) / 2, abs=1e-6)
    # ½ (u − μ)², mean over the batch: ½ · (0.2² + 0.4²) / 2 = 0.05
    assert float(cont) == pytest.approx(0.05, abs=1e-7)
    # no continuous codes: only the cross-entropy
    cat2, cont2 = info_loss(q[:, :3], Labels(labels.y, labels.cnd[:, :3]), 3)
    assert float(cat2) == pytest.approx(float(cat)) and float(cont2) == 0


def test_q_head_and_generator_get_the_mutual_information_gradient(tiny_config):
    cfg = tiny_config(*INFO, "model.info_weight=2")
    torch.manual_seed(0)
    gan = build_gan(cfg, UNLABELED, torch.device("cpu"))
    assert set(gan.discriminator.heads) == {"adv", "info"}
    assert InfoGANLabeling.discriminator_conditions(cfg, UNLABELED) == 0  # D is unconditional
    assert gan.generator.label_input.embed.in_features == 5  # 3 one-hot + 2 continuous codes
    mode = InfoGANLabeling(cfg, None, 0, False, torch.device("cpu"))
    labels = mode.fake(6, torch.Generator().manual_seed(1))
    assert labels.cnd.shape == (6, 5) and torch.equal(labels.cnd[:, :3].argmax(1), labels.y)
    assert labels.cnd[:, 3:].abs().max() <= 1
    codes = mode.fake(2000, torch.Generator().manual_seed(2)).cnd[:, 3:]  # U[-1, 1): both halves
    assert codes.min() < -0.95 and codes.max() > 0.95 and abs(float(codes.mean())) < 0.05
    x = gan.generator(torch.randn(6, cfg.model.z_dim), labels.cnd)
    loss, logs = mode.extra_loss(gan.discriminator(x, None), labels, "g")
    assert float(loss.detach()) == pytest.approx(2 * float((logs["g_info_cat"] + logs["g_info_cont"]).detach()))
    loss.backward()
    head = gan.discriminator.heads["info"].linear.weight.grad
    assert head is not None and head.abs().sum() > 0
    assert gan.discriminator.heads["adv"].linear.weight.grad is None  # L_I does not touch the adv head
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.generator.parameters())


def test_infogan_trains_resumes_bit_identically_and_predicts_with_its_head(tmp_path):
    from condgan.cli.main import main
    from condgan.training.checkpoint import load_checkpoint
    from condgan.training.restore import load_generator
    from test_training import assert_same_state, loss_records, train

    extra = INFO + ("train.sample_every=3", "train.checkpoint_every=3")
    train(tmp_path / "a", *extra, "train.steps=3")
    train(tmp_path / "a", *extra, "train.steps=6")
    train(tmp_path / "b", *extra, "train.steps=6")
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in "ab")
    assert_same_state(a["discriminator"], b["discriminator"])
    assert_same_state(a["generator"], b["generator"])
    assert (tmp_path / "a/samples/latest.png").read_bytes() == (tmp_path / "b/samples/latest.png").read_bytes()
    rec = loss_records(tmp_path / "b")[-1]
    assert {"d_info", "g_info", "d_info_cat", "g_info_cont"} <= rec.keys()
    trained = load_generator(tmp_path / "b")
    x = torch.randn(5, 1, 8, 8)
    probs = trained.category_probabilities(x)
    assert probs.shape == (5, 3) and trained.num_categories == 3
    gan = build_gan(trained.cfg, trained.info, torch.device("cpu"))
    gan.discriminator.load_state_dict(b["discriminator"])
    gan.discriminator.eval()
    with torch.no_grad():
        assert torch.allclose(probs, gan.discriminator(x, None)["info"][:, :3].softmax(1))
    assert main(["sample", str(tmp_path / "b"), "--num", "2", "--out", str(tmp_path / "g.png")]) == 0
    from PIL import Image

    # 2 rows (latents) × 3 columns (categories) of 8 px images with 2 px padding
    assert Image.open(tmp_path / "g.png").size == (3 * 10 + 2, 2 * 10 + 2)


@pytest.mark.parametrize("extra, match", [
    (("model.conditioning=ca",), "model.conditioning=none"),
    (("model.info_categories=1",), "model.info_categories"),
    (("model.info_continuous=-1",), "model.info_continuous"),
    (("model.g_conditioning=codebook", "model.codebook_dim=16"), "info_continuous=0"),
    (("model.g_conditioning=none",), "model.g_conditioning"),
])
def test_infogan_config_errors(tiny_config, extra, match):
    with pytest.raises(CondganError, match=match):
        tiny_config(*INFO, *extra)


def test_group_onehots_and_joint_probabilities_by_hand():
    # d_l = 2, d_c = 3: joint index 7 = 2·3 + 1 → groups (2, 1); 2 → (0, 2)
    assert group_onehots(torch.tensor([7, 2]), 2, 3).tolist() == [[0, 0, 1, 0, 1, 0], [1, 0, 0, 0, 0, 1]]
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25, 0.1, 0.6, 0.3]]))
    joint = joint_probabilities(logits, 2)
    assert joint.shape == (1, 9)
    assert float(joint[0, 7]) == pytest.approx(0.25 * 0.6)  # (2, 1)
    assert float(joint[0, 0]) == pytest.approx(0.5 * 0.1)
    assert float(joint.sum()) == pytest.approx(1.0)
    assert torch.equal(joint_probabilities(logits[:, :3], 1), logits[:, :3].softmax(1))


def test_category_generator_cycles_through_the_categories_without_a_condition():
    seen = []
    g = CategoryGenerator(lambda z, cnd: seen.append(cnd) or z, lambda idx: group_onehots(idx, 1, 4), 4)
    g(torch.zeros(6, 2), None)
    assert seen[-1].argmax(1).tolist() == [0, 1, 2, 3, 0, 1]
    given = torch.eye(4)[:2]
    g(torch.zeros(2, 2), given)
    assert seen[-1] is given


def test_category_generator_draws_from_a_prior_per_group_deterministically():
    """With a prior (d_l, d_c), rows without a condition get per-group categories drawn from it,
    from a generator seeded by the seed and the batch's latents (so repeated calls agree)."""
    seen = []
    prior = torch.tensor([[0., 0., 1.], [0.5, 0.5, 0.]])
    g = CategoryGenerator(lambda z, cnd: seen.append(cnd) or z, lambda idx: group_onehots(idx, 2, 3), 9,
                          prior=prior, seed=4)
    z = torch.randn(400, 2)
    g(z, None)
    cnd = seen[-1].reshape(400, 2, 3)
    assert (cnd[:, 0].argmax(1) == 2).all()  # group 0: always its category 2
    second = cnd[:, 1].argmax(1)
    assert set(second.tolist()) == {0, 1} and 150 < int((second == 0).sum()) < 250
    g(z, None)
    assert torch.equal(seen[-1], seen[-2])


def test_random_labeling_gives_g_uniform_categories_and_d_nothing(tiny_config, tmp_path):
    from condgan.training.labeling import RandomCategories
    from condgan.training.restore import load_generator
    from test_training import train

    cfg = tiny_config("model.labeling=random", "model.conditioning=none", "model.g_conditioning=codebook",
                      "model.cgp_categories=4", "model.codebook_dim=16", "data.unlabeled=true")
    mode = RandomCategories(cfg, None, 0, False, torch.device("cpu"))
    labels = mode.fake(4000, torch.Generator().manual_seed(0))
    counts = torch.bincount(labels.cnd.argmax(1), minlength=4).float() / 4000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.03)
    assert mode.real(torch.zeros(2, 1, 8, 8), None) == Labels(None, None)
    with pytest.raises(CondganError, match="model.conditioning=none"):
        tiny_config("model.labeling=random", "model.conditioning=ca", "data.unlabeled=true")
    train(tmp_path / "r", "model.labeling=random", "model.conditioning=none", "model.g_conditioning=codebook",
          "model.cgp_categories=4", "model.codebook_dim=16", "data.unlabeled=true", "train.steps=2")
    trained = load_generator(tmp_path / "r")
    assert trained.category_probabilities is None and trained.num_categories == 4


def test_unlabeled_data_hides_the_labels_from_training(tiny_config, tmp_path):
    from condgan.training.trainer import Trainer

    with pytest.raises(CondganError, match="data.unlabeled=true hides the labels, but model.conditioning=ca"):
        tiny_config("data.unlabeled=true")
    with pytest.raises(CondganError, match="model.labeling=dynamic"):
        tiny_config("data.unlabeled=true", "model.labeling=dynamic", "model.conditioning=am")
    cfg = tiny_config("data.unlabeled=true", "model.labeling=classifier", "model.conditioning=ca_inner",
                      "model.cgp_categories=3", "model.q_width=4", "train.steps=1")
    trainer = Trainer(cfg, tmp_path / "u", progress=False)
    trainer.setup()
    try:
        assert trainer.labels is None and trainer.info.num_classes == 0
        x, labels = trainer.gan_step.real_batch()
        assert labels.cnd.shape == (16, 3)  # Q's categories, not the data's 10 classes
    finally:
        trainer.close()
    # an unconditional GAN trains on labels hidden
    unconditional = tiny_config("data.unlabeled=true", "model.conditioning=none", "model.g_conditioning=none",
                                "train.steps=1")
    Trainer(unconditional, tmp_path / "v", progress=False).train()


def test_self_labeling_grid_has_one_column_per_category(tmp_path):
    """d_l = 2, d_c = 3: 9 joint categories; the trainer's grid and api.sample put category j in
    column j (G fed group_onehots(j)) and latent i in row i."""
    from PIL import Image

    from condgan import api
    from condgan.training.restore import load_generator
    from condgan.training.sampling import fixed_latents
    from test_training import train

    train(tmp_path / "r", "model.labeling=classifier", "model.conditioning=ca_inner", "model.cgp_groups=2",
          "model.cgp_categories=3", "model.q_width=4", "data.unlabeled=true", "train.steps=2")
    assert Image.open(tmp_path / "r/samples/latest.png").size == (9 * 10 + 2, 10 * 10 + 2)
    trained = load_generator(tmp_path / "r")
    x = api.sample(trained, num=2, seed=5)
    assert x.shape == (2 * 9, 1, 8, 8)
    z = fixed_latents(trained.cfg.model.z_dim, 2, 5, "cpu")
    with torch.no_grad():
        expected = trained.generator(z[1:2].repeat(9, 1), group_onehots(torch.arange(9), 2, 3))
    assert torch.allclose(x[9:], expected, atol=1e-6)
    with pytest.raises(CondganError, match="out of range"):
        api.sample(trained, classes=[9])


def test_the_mutual_information_loss_trains_d_in_ds_step_and_g_in_gs(tiny_config, tmp_path):
    """L_I enters D's step (the Q head learns on the detached fakes, seed 002's InfoGAN: both D/Q
    and G minimize it) and G's step: after one D step alone the Q head has moved, and the G step's
    extra loss is the same λ_I (L_cat + L_cont)."""
    from condgan.training.trainer import Trainer

    cfg = tiny_config(*INFO, "model.info_weight=2", "train.steps=1")
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.setup()
    try:
        before = trainer.D.heads["info"].linear.weight.detach().clone()
        labels = trainer.labeling.fake(4, torch.Generator().manual_seed(0))
        out = {"info": torch.randn(4, 5)}
        for phase in ("d", "g"):
            loss, logs = trainer.labeling.extra_loss(out, labels, phase)
            cat, cont = info_loss(out["info"], labels, 3)
            assert loss is not None and torch.allclose(loss, 2 * (cat + cont)), phase
            assert f"{phase}_info" in logs
        trainer.train_step()  # the G step freezes D: only D's step can move the head
        assert not torch.equal(trainer.D.heads["info"].linear.weight, before)
    finally:
        trainer.close()


def test_info_loss_by_hand_with_two_continuous_codes():
    """L_cont = mean over the batch of ½ Σ_m (u_m − q_m)²: the sum runs over the codes."""
    k = 3
    y = torch.tensor([0, 2])
    u = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    q_out = torch.zeros(2, k + 2)
    cat, cont = info_loss(q_out, Labels(y, torch.cat([torch.eye(k)[y], u], 1)), k)
    assert cont.item() == pytest.approx(0.5 * (5.0 + 1.0) / 2)
    assert cat.item() == pytest.approx(math.log(3))  # uniform logits over 3 categories
