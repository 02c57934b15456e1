"""The Improved-GAN techniques (Salimans et al. 2016): feature matching, historical averaging,
minibatch discrimination, virtual batch normalization — each against a hand computation, and a
few training steps through the trainer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.minibatch_discrimination import MinibatchDiscrimination
from condgan.nets.normalization import VirtualBatchGenerator, VirtualBatchNorm
from condgan.training.extensions import STEP_EXTENSIONS
from condgan.training.extensions.feature_matching import feature_matching_loss
from condgan.training.extensions.historical_averaging import ParameterHistory
from conftest import train_in_process as _train


# --------------------------------------------------------------------------- feature matching
def test_feature_matching_loss_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])     # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]])  # mean (1, 1)
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.0 + 4.0)


def test_feature_matching_adds_to_or_replaces_the_method_loss(tiny_config):
    """f = D's trunk (here x ↦ 2x): λ‖E f(real) − E f(fake)‖², added to G's loss or replacing it,
    with gradient to the fakes only."""
    trunk = lambda x: 2 * x  # noqa: E731
    it = SimpleNamespace(real=torch.tensor([[1.0, 1.0], [3.0, 1.0]]))   # f mean (4, 2)
    fake = torch.tensor([[0.0, 1.0], [0.0, 3.0]], requires_grad=True)    # f mean (0, 4)
    step = SimpleNamespace(D=SimpleNamespace(trunk=trunk), phases=[])
    for only, expected in ((False, 7.0 + 0.5 * 20.0), (True, 0.5 * 20.0)):
        cfg = tiny_config("loss.feature_matching=0.5", f"loss.feature_matching_only={str(only).lower()}",
                          "model.conditioning=none")
        fm = STEP_EXTENSIONS.get("feature_matching")(cfg)
        fm.attach(step)
        logs = {}
        loss = fm.g_loss(torch.tensor(7.0), logs, it, fake=fake, out_fake={})
        assert loss.item() == pytest.approx(expected) and logs["g_feature_matching"].item() == pytest.approx(10.0)
    (grad,) = torch.autograd.grad(loss, fake)
    # d/dfake_i of 0.5‖m_r − mean_j 2 fake_j‖² = −0.5 · 2 (m_r − m_f) · 2 / 2
    assert torch.allclose(grad, torch.tensor([[-4.0, 2.0], [-4.0, 2.0]]))


def test_feature_matching_config(tiny_config, tmp_path):
    with pytest.raises(CondganError, match="feature_matching_only.*model.conditioning=ca"):
        tiny_config("loss.feature_matching=1", "loss.feature_matching_only=true")
    with pytest.raises(CondganError, match="needs the feature-matching weight"):
        tiny_config("loss.feature_matching_only=true", "model.conditioning=none")
    _, logs = _train(tiny_config("loss.feature_matching=1", "model.conditioning=ac"), tmp_path, 2)
    assert all(math.isfinite(r["g_feature_matching"]) for r in logs)
    assert logs[0]["g_loss"] > logs[0]["g_feature_matching"]  # added to AC's G loss


# --------------------------------------------------------------------------- historical averaging
def test_parameter_history_by_hand():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    history = ParameterHistory([p])
    with torch.no_grad():
        p.copy_(torch.tensor([3.0, 0.0]))
    history.update()                                  # mean of (1, −2), (3, 0) = (2, −1)
    assert history.mean[0].tolist() == [2.0, -1.0] and history.count == 2
    with torch.no_grad():
        p.copy_(torch.tensor([5.0, 3.0]))
    history.update()                                  # mean of three values = (3, 1/3)
    assert history.mean[0].tolist() == pytest.approx([3.0, 1.0 / 3.0])
    value = history.penalty()                         # (5 − 3)² + (3 − 1/3)²
    assert value.item() == pytest.approx(4.0 + (8.0 / 3.0) ** 2)
    (grad,) = torch.autograd.grad(value, p)
    assert grad.tolist() == pytest.approx([4.0, 16.0 / 3.0])


def test_historical_averaging_trains_and_resumes_bit_identically(tiny_config, tmp_path):
    cfg = tiny_config("reg.historical_averaging=0.01", "train.d_steps=2")
    full, logs = _train(cfg, tmp_path / "full", 4)
    # G's first step is at its initial weights (θ = θ̄); D's logged penalty is its second step's
    assert logs[0]["g_historical_averaging"] == 0.0 and logs[0]["d_historical_averaging"] > 0
    ha = full.gan_step.extensions[0]
    assert ha.d_history.count == 1 + 2 * 4 and ha.g_history.count == 1 + 4
    _train(cfg, tmp_path / "cut", 2)
    resumed, _ = _train(cfg, tmp_path / "cut", 4)
    assert resumed.step == 4
    again = resumed.gan_step.extensions[0]
    assert again.d_history.count == ha.d_history.count
    for a, b in zip(ha.d_history.mean + ha.g_history.mean, again.d_history.mean + again.g_history.mean):
        assert torch.equal(a, b)
    for a, b in zip(full.D.state_dict().values(), resumed.D.state_dict().values()):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- minibatch discrimination
def test_minibatch_discrimination_by_hand():
    """One kernel (B = 1) of dimension C = 2, T = identity: M_i = f_i, o_i = Σ_j exp(−‖f_i − f_j‖_1)."""
    layer = MinibatchDiscrimination(2, 1, 2)
    with torch.no_grad():
        layer.T.weight.copy_(torch.eye(2))
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])   # L1 distances 1, 2, 3
    e = math.exp
    expected = [1 + e(-1) + e(-2), e(-1) + 1 + e(-3), e(-2) + e(-3) + 1]
    out = layer(f)
    assert out[:, :2].tolist() == f.tolist()
    assert out[:, 2].tolist() == pytest.approx(expected)


def test_minibatch_discrimination_kernels_against_a_loop():
    torch.manual_seed(0)
    a, b, c, n = 5, 3, 4, 6
    layer = MinibatchDiscrimination(a, b, c)
    f = torch.randn(n, a)
    m = (f @ layer.T.weight.T).view(n, b, c)
    o = torch.zeros(n, b)
    for i in range(n):
        for k in range(b):
            o[i, k] = sum(math.exp(-float((m[i, k] - m[j, k]).abs().sum().detach())) for j in range(n))
    assert torch.allclose(layer(f)[:, a:], o, atol=1e-6)


def test_minibatch_discrimination_in_d(tiny_config, tmp_path):
    trainer, logs = _train(tiny_config("model.d_minibatch_disc=6", "model.d_minibatch_disc_dim=3"), tmp_path, 2)
    assert trainer.D.trunk.out_dim == trainer.D.trunk.trunk.out_dim + 6
    assert trainer.D.heads["cond"].linear.in_features == trainer.D.trunk.out_dim
    assert all(math.isfinite(r["d_loss"]) for r in logs)


# --------------------------------------------------------------------------- virtual batch norm
def test_virtual_batch_norm_vectors_by_hand():
    """Reference rows (1, 3): μ_ref = 2, E_ref[a²] = 5. The sample 5: μ = (5 + 2·2)/3 = 3,
    E[a²] = (25 + 2·5)/3 = 35/3, σ² = 35/3 − 9 = 8/3."""
    vbn = VirtualBatchNorm(1, spatial=False, eps=0.0)
    vbn.reference_size = 2
    out = vbn(torch.tensor([[1.0], [3.0], [5.0]]))
    assert out[:, 0].tolist() == pytest.approx([-1.0, 1.0, 2.0 / math.sqrt(8.0 / 3.0)])


def test_virtual_batch_norm_feature_maps_by_hand():
    """Per channel: the reference statistics over the reference rows and positions; a sample's
    own mean over its positions, weighted 1/(R+1)."""
    torch.manual_seed(1)
    x = torch.randn(5, 2, 3, 3)
    vbn = VirtualBatchNorm(2, eps=1e-5)
    with torch.no_grad():
        vbn.weight.copy_(torch.tensor([2.0, 0.5]))
        vbn.bias.copy_(torch.tensor([0.1, -0.3]))
    vbn.reference_size = r = 3
    out = vbn(x)
    for ch in range(2):
        ref = x[:r, ch]
        ref_m, ref_s = ref.mean().item(), ref.square().mean().item()
        for i in range(5):
            if i < r:
                m, s = ref_m, ref_s
            else:
                m = (x[i, ch].mean().item() + r * ref_m) / (r + 1)
                s = (x[i, ch].square().mean().item() + r * ref_s) / (r + 1)
            want = (x[i, ch] - m) / math.sqrt(s - m * m + 1e-5) * vbn.weight[ch].item() + vbn.bias[ch].item()
            assert torch.allclose(out[i, ch], want, atol=1e-5)


def test_virtual_batch_generator_outputs_do_not_depend_on_the_batch(tiny_config):
    """Through the wrapper every sample is normalized by the reference batch and itself only: a
    sample's output is the same alone or in any batch (with batch norm it would not be)."""
    from condgan.training.build import DataInfo, build_gan

    info = DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)])
    for extra in ((), ("model.g_conditioning=cbn",)):
        torch.manual_seed(0)
        g = build_gan(tiny_config("model.g_norm=virtual_batch", "model.vbn_reference=8", *extra), info, "cpu").generator
        assert isinstance(g, VirtualBatchGenerator) and g.reference_z.shape == (8, 8)
        assert g.reference_cnd.shape == (8, 10) and torch.equal(g.reference_cnd.sum(1), torch.ones(8))
        z, cnd = torch.randn(6, 8), torch.eye(10)[:6]
        together = g(z, cnd)
        alone = torch.cat([g(z[i:i + 1], cnd[i:i + 1]) for i in range(6)])
        assert together.shape == (6, 1, 8, 8) and torch.allclose(together, alone, atol=1e-5)


def test_virtual_batch_norm_trains_and_is_generator_only(tiny_config, tmp_path):
    trainer, logs = _train(tiny_config("model.g_norm=virtual_batch", "model.vbn_reference=8", "train.ema=0.9"),
                           tmp_path, 3)
    assert all(math.isfinite(r["g_loss"]) for r in logs)
    # the EMA copy keeps the exact reference batch (identical float buffers stay identical)
    assert torch.equal(trainer.ema.module.reference_z, trainer.G.reference_z)
    with pytest.raises(CondganError, match="model.d_norm=virtual_batch is a generator normalization"):
        tiny_config("model.d_norm=virtual_batch")
    with pytest.raises(CondganError, match="model.vbn_reference"):
        tiny_config("model.g_norm=virtual_batch", "model.vbn_reference=0")


# --------------------------------------------------------------------------- with the step's hooks
def test_extension_state_and_hook_state_both_resume_bit_identically(tiny_config, tmp_path):
    """A step extension (historical averaging: checkpoint entry 'extensions') next to the step's
    stateful hooks (LeCam's anchors: entry 'phases') and a lazy DRAGAN phase (its own D step every
    2nd iteration, D's lr · 2/3): a run cut at step 3 and resumed ends where the uncut run ends."""
    cfg = tiny_config("reg.historical_averaging=0.01", "reg.lecam=0.1", "reg.dragan=1", "reg.d_interval=2")
    full, logs = _train(cfg, tmp_path / "full", 5)
    assert [p.name for p in full.gan_step.phases] == ["D", "D_reg", "G", "G_ema", "labeling"]
    assert full.opt_d.param_groups[0]["lr"] == pytest.approx(cfg.train.d_lr * 2 / 3)
    assert ["d_dragan_penalty" in r for r in logs] == [True, False, True, False, True]
    assert all("d_lecam" in r and "d_historical_averaging" in r for r in logs)
    _train(cfg, tmp_path / "cut", 3)
    resumed, rest = _train(cfg, tmp_path / "cut", 5)
    assert rest == logs[3:]
    from condgan.training.checkpoint import load_checkpoint

    saved = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert set(saved["phases"]) == {"lecam"} and set(saved["extensions"]) == {"historical_averaging"}
    a, b = full.gan_step.state_dict(), resumed.gan_step.state_dict()
    assert a.keys() == b.keys() == {"lecam"}
    for key in a["lecam"]:
        assert torch.equal(torch.as_tensor(a["lecam"][key]), torch.as_tensor(b["lecam"][key]))
    ha, again = full.gan_step.extensions[0], resumed.gan_step.extensions[0]
    for x, y in zip(ha.d_history.mean + ha.g_history.mean, again.d_history.mean + again.g_history.mean):
        assert torch.equal(x, y)
    for net in ("G", "D"):
        for x, y in zip(getattr(full, net).state_dict().values(), getattr(resumed, net).state_dict().values()):
            assert torch.equal(x, y)


def test_every_extension_is_named_by_its_registry_key():
    """The name keys the extension's state in the checkpoint: two extensions sharing one (the
    base class's) would restore each other's state."""
    assert all(STEP_EXTENSIONS.get(name).name == name for name in STEP_EXTENSIONS.names())
