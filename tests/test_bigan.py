"""BiGAN / ALI and BigBiGAN (`model.encoder`): the pair losses by hand, the joint discriminator's
arrangements, training (E learns, D sees pairs), bit-identical resume with the encoder's state,
the config refusals, and E's codes behind `condgan cluster` (k-means, DEC soft assignment) and
the linear probe of `condgan evaluate`."""

from __future__ import annotations

import math

import pytest
import torch

from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.bigan import PairLosses
from condgan.losses.conditioning import CONDITIONING, Labels
from condgan.nets.joint import SCORE_XZ, SCORE_Z, JointDiscriminator, pack
from condgan.training.checkpoint import load_checkpoint
from condgan.training.encoder_clusters import soft_assignment
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


def sp(t):  # softplus
    return math.log1p(math.exp(t))


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


NONE = Labels(None, None)


def test_bigbigan_losses_by_hand():
    """ns: L_D = Σ_s [E softplus(−s_real) + E softplus(s_fake)] over s_x, s_z, s_xz;
    L_G,E = E softplus(−s_x(fake)) + E softplus(−s_xz(fake)) + E softplus(s_z(real)) + E softplus(s_xz(real))."""
    method = CONDITIONING.get("none")(ADVERSARIAL_LOSSES.get("ns"), 0)
    losses = PairLosses(method, ADVERSARIAL_LOSSES.get("ns"), unary=True)
    out_r = {"adv": t(0.5, -1.0), SCORE_Z: t(2.0, 0.0), SCORE_XZ: t(-0.3, 1.2)}
    out_f = {"adv": t(-0.2, 0.7), SCORE_Z: t(1.0, -2.0), SCORE_XZ: t(0.4, -0.1)}
    d, d_logs = losses.d_loss(out_r, out_f, NONE, NONE)
    want_d = sum((sp(-a) + sp(-b)) / 2 + (sp(c) + sp(e)) / 2
                 for (a, b), (c, e) in [((0.5, -1.0), (-0.2, 0.7)), ((2.0, 0.0), (1.0, -2.0)), ((-0.3, 1.2), (0.4, -0.1))])
    assert float(d) == pytest.approx(want_d, rel=1e-12)
    assert float(d_logs[f"d_{SCORE_Z}"]) == pytest.approx((sp(-2.0) + sp(0.0)) / 2 + (sp(1.0) + sp(-2.0)) / 2)
    ge, logs = losses.ge_loss(out_r, out_f, NONE, NONE)
    want_g = (sp(0.2) + sp(-0.7)) / 2 + (sp(-0.4) + sp(0.1)) / 2        # G: s_x and s_xz of fake pairs
    want_e = (sp(2.0) + sp(0.0)) / 2 + (sp(-0.3) + sp(1.2)) / 2         # E: s_z and s_xz of real pairs, labels swapped
    assert float(ge) == pytest.approx(want_g + want_e, rel=1e-12)
    assert float(logs["e_loss"]) == pytest.approx(want_e, rel=1e-12)


def test_bigan_losses_use_the_methods_pair_logit_and_the_encoders_hinge_term():
    """bigan (no unary scores): the method's own loss is the pair loss; E's hinge term is +s on
    the real pairs' adversarial logit (BigBiGAN's ℓ_EG = y·s with y = +1), G's is −s on fakes."""
    hinge = ADVERSARIAL_LOSSES.get("hinge")
    method = CONDITIONING.get("pd")(hinge, 3)
    losses = PairLosses(method, hinge, unary=False)
    out_r, out_f = {"adv": t(0.5, -2.0)}, {"adv": t(1.5, -0.25)}
    lab = Labels(torch.tensor([0, 2]), torch.eye(3, dtype=torch.float64)[[0, 2]])
    d, _ = losses.d_loss(out_r, out_f, lab, lab)
    assert float(d) == pytest.approx((0.5 + 3.0) / 2 + (2.5 + 0.75) / 2)
    ge, logs = losses.ge_loss(out_r, out_f, lab, lab)
    assert float(logs["e_loss"]) == pytest.approx((0.5 - 2.0) / 2)
    assert float(ge) == pytest.approx(-(1.5 - 0.25) / 2 + (0.5 - 2.0) / 2)


def test_joint_discriminator_arrangements():
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6))
    trunk.out_dim = 6
    from condgan.losses.conditioning import LinearHead

    unary = JointDiscriminator(trunk, {"adv": LinearHead(6, 1, False)}, cond_dim=2, z_dim=3, hidden=5, unary=True)
    x, cnd, z = torch.randn(4, 1, 2, 2), torch.eye(2)[[0, 1, 1, 0]], torch.randn(4, 3)
    out = unary(x, pack(cnd, z))
    assert set(out) == {"adv", SCORE_Z, SCORE_XZ} and all(v.shape == (4,) for v in out.values())
    alone = unary(x, cnd)                      # as the gradient penalties call it: s_x only
    assert set(alone) == {"adv"} and torch.equal(alone["adv"], out["adv"])
    other = unary(x, pack(cnd, z + 1))
    assert torch.equal(other["adv"], out["adv"]) and not torch.equal(other[SCORE_XZ], out[SCORE_XZ])
    joint = JointDiscriminator(trunk, {"adv": LinearHead(5, 1, False)}, cond_dim=0, z_dim=3, hidden=5, unary=False)
    a, b = joint(x, z)["adv"], joint(x, z + 1)["adv"]
    assert a.shape == (4,) and not torch.equal(a, b)          # bigan: the method's logit scores the pair
    with pytest.raises(CondganError, match="pairs"):
        joint(x, None)
    with pytest.raises(CondganError, match="latent"):
        unary(x, torch.randn(4, 4))


def _trainer(tmp_path, *extra, name="run"):
    from condgan.validation import load_config

    return Trainer(load_config({}, tiny_overrides(*extra)), tmp_path / name, progress=False)


@pytest.mark.parametrize("encoder", ["bigan", "bigbigan"])
def test_one_step_trains_g_d_and_the_encoder(encoder, tiny_config, set_up_trainer):
    with set_up_trainer(tiny_config(f"model.encoder={encoder}", "model.conditioning=pd", "train.ema=0")) as trainer:
        step = trainer.gan_step
        assert [p.name for p in step.phases] == ["D", "G", "labeling"]
        assert trainer.encoder in trainer.networks and "bigan" in step.stateful
        assert any(p is next(trainer.encoder.parameters()) for p in trainer.opt_g.param_groups[1]["params"])
        before = {n: [p.detach().clone() for p in m.parameters()] for n, m in
                  (("G", trainer.G), ("D", trainer.D), ("E", trainer.encoder))}
        logs = trainer.train_step()
        assert "e_loss" in logs and math.isfinite(float(logs["g_loss"]))
        for n, m in (("G", trainer.G), ("D", trainer.D), ("E", trainer.encoder)):
            assert any(not torch.equal(a, b) for a, b in zip(before[n], m.parameters())), n


def test_resume_is_bit_identical_with_the_encoder(tmp_path):
    extra = ["model.encoder=bigbigan", "reg.r1=1", "train.checkpoint_every=3", "train.ema=0.9", "train.standing_stats=0"]
    straight = _trainer(tmp_path, *extra, "train.steps=6", name="straight")
    straight.train()
    first = _trainer(tmp_path, *extra, "train.steps=3", name="resumed")
    first.train()
    second = _trainer(tmp_path, *extra, "train.steps=6", name="resumed")
    second.train()
    a, b = (load_checkpoint(tmp_path / n / "checkpoints" / "last.pt") for n in ("straight", "resumed"))
    for part in ("generator", "discriminator", "generator_ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    enc_a, enc_b = a["phases"]["bigan"]["encoder"], b["phases"]["bigan"]["encoder"]
    assert enc_a.keys() == enc_b.keys() and all(torch.equal(enc_a[k], enc_b[k]) for k in enc_a)
    assert len(a["opt_g"]["param_groups"]) == 2


@pytest.mark.parametrize("extra, match", [
    (["model.encoder=bigan", "reg.r1=1"], "bigbigan"),
    (["model.encoder=bigbigan", "model.labeling=dynamic", "model.conditioning=ac", "model.g_conditioning=none"],
     "predefined"),
    (["model.encoder=bigbigan", "loss.mixed_batch=true"], "mixed_batch"),
    (["model.encoder=bigbigan", "train.topk=true"], "topk"),
    (["model.encoder=bigbigan", "reg.lecam=0.1"], "reg.lecam"),
    (["model.encoder=bigbigan", "ada.target=0.6"], "ada"),
    (["model.encoder=bigbigan", "train.reuse_fakes=true"], "reuse_fakes"),
    (["model.encoder=bigbigan", "reg.r1=1", "reg.d_interval=4"], "d_interval"),
    (["model.encoder=bigbgan"], "did you mean 'bigbigan'"),
    (["model.encoder=bigan", "model.encoder_clusters=1"], "encoder_clusters"),
    (["model.encoder=bigbigan", "reg.historical_averaging=0.01"], "historical_averaging step extension"),
    (["model.encoder=bigan", "model.vdb_dim=4"], "vdb step extension"),
])
def test_config_refusals(tiny_config, extra, match):
    with pytest.raises(CondganError, match=match):
        tiny_config(*extra)


def test_soft_assignment_by_hand():
    """DEC: q_ij ∝ 1 / (1 + ‖e_i − μ_j‖²); its argmax is the nearest centre."""
    codes, centres = torch.tensor([[0.0, 0.0], [3.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    q = soft_assignment(codes, centres)
    k0 = [1 / (1 + 1), 1 / (1 + 4)]
    k1 = [1 / (1 + 4 + 1), 1 / (1 + 9 + 1)]
    assert q[0].tolist() == pytest.approx([v / sum(k0) for v in k0])
    assert q[1].tolist() == pytest.approx([v / sum(k1) for v in k1])
    assert q.argmax(1).tolist() == [0, 0]


def test_probe_of_separable_codes_is_exact():
    from condgan.evaluation.encoder import probe_probabilities

    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    centres = torch.tensor([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    train, test = centres[y] + 0.3 * torch.randn(60, 2, generator=g), centres[y] + 0.3 * torch.randn(60, 2, generator=g)
    probs = probe_probabilities(train, y, test)
    assert probs.shape == (60, 3) and probs.sum(1).tolist() == pytest.approx([1.0] * 60, abs=1e-5)
    assert (probs.argmax(1) == y).all()


def test_cluster_and_evaluate_read_the_encoder(tmp_path):
    from condgan.api import train
    from condgan.evaluation import evaluate_run
    from condgan.evaluation.cluster import cluster_run

    from condgan.validation import load_config

    cfg = load_config("mnist5k-bigan", tiny_overrides("train.steps=4", "model.encoder_clusters=4"))
    train(cfg, tmp_path / "run", progress=False)
    result, summary = cluster_run(tmp_path / "run", tmp_path / "c.csv")
    assert result.probabilities.shape[1] == 4 and summary["categories"] == 4
    assert 0 < summary["cluster_acc"] <= 1
    ev = evaluate_run(tmp_path / "run", num_samples=40, metrics=["fid", "clustering", "linear_probe"])
    assert {"cluster_acc", "cluster_nmi", "cluster_ari", "linear_probe_acc"} <= set(ev["metrics"])
    assert ev["metrics"]["cluster_acc"] == pytest.approx(summary["cluster_acc"])  # same test split, same k-means
