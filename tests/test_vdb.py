"""The variational discriminator bottleneck (Peng et al. 2019): the encoder's KL, the
reparameterized sample, the constrained D loss and the dual update of β, against hand
computations; training and a bit-identical resume."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.bottleneck import KL_KEY, VariationalDiscriminator, gaussian_kl
from condgan.training.distributed import SINGLE
from condgan.training.extensions import STEP_EXTENSIONS
from condgan.training.extensions.bottleneck import beta_update
from conftest import train_in_process as run


def test_gaussian_kl_against_torch_distributions():
    torch.manual_seed(0)
    mu, log_sigma = torch.randn(4, 3), torch.randn(4, 3)
    want = torch.distributions.kl_divergence(torch.distributions.Normal(mu, log_sigma.exp()),
                                             torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(gaussian_kl(mu, log_sigma), want, atol=1e-6)
    # by hand: μ = 1, σ = 1 in one dimension: ½ (1 + 1 − 0 − 1) = ½
    assert gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).item() == pytest.approx(0.5)


def test_beta_update_by_hand():
    assert beta_update(0.5, kl=0.3, ic=0.1, step_size=2.0) == pytest.approx(0.9)
    assert beta_update(0.1, kl=0.0, ic=0.1, step_size=2.0) == 0.0     # clamped at 0
    assert beta_update(0.3, kl=0.1, ic=0.1, step_size=2.0) == pytest.approx(0.3)


class Head(nn.Module):
    """z ↦ (the first coordinate of z), so the test reads z itself."""

    def forward(self, z, cnd):
        return z[:, 0]


class Features(nn.Identity):
    out_dim = 3


def _bottleneck_d():
    d = VariationalDiscriminator(Features(), {"adv": Head()}, dim=2)
    with torch.no_grad():   # μ = (x0, x1), log σ = (x2, 0)
        d.encoder.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]]))
        d.encoder.bias.zero_()
    return d


def test_bottleneck_samples_with_the_reparameterization_and_reads_the_mean_in_eval():
    d = _bottleneck_d()
    x = torch.tensor([[0.5, -1.0, 0.2], [2.0, 0.0, -0.7]])
    d.noise = torch.Generator().manual_seed(3)
    out = d(x, None)
    eps = torch.randn((2, 2), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(out["adv"], x[:, 0] + torch.exp(x[:, 2]) * eps[:, 0])
    kl = [0.5 * (x0 ** 2 + x1 ** 2 + math.exp(2 * s) - 2 * s - 1) for x0, x1, s in x.tolist()]
    assert out[KL_KEY].tolist() == pytest.approx(kl)
    d.eval()
    assert torch.equal(d(x, None)["adv"], x[:, 0])


def test_the_constrained_d_loss_and_the_beta_step(tiny_config):
    """E_p̃ KL = ½ (mean over reals + mean over fakes) = ½ (2 + 1) = 1.5; loss + β (1.5 − I_c);
    after the D step β ← max(0, β + α_β (1.5 − I_c))."""
    cfg = tiny_config("model.vdb_dim=4", "loss.vdb_ic=0.5", "loss.vdb_beta_init=0.4", "loss.vdb_beta_step=0.1")
    vdb = STEP_EXTENSIONS.get("vdb")(cfg)
    vdb.attach(SimpleNamespace(D=SimpleNamespace(), noise_rng=None, dist=SINGLE, phases=[]))
    logs = {}
    loss = vdb.d_loss(torch.tensor(2.0), logs, real=None, fake=None,
                      out_real={KL_KEY: torch.tensor([1.0, 3.0])}, out_fake={KL_KEY: torch.tensor([0.0, 2.0])})
    assert loss.item() == pytest.approx(2.0 + 0.4 * (1.5 - 0.5))
    assert logs["vdb_kl"].item() == 1.5 and logs["vdb_beta"].item() == pytest.approx(0.4)
    vdb.after_d_step()
    assert vdb.beta == pytest.approx(0.4 + 0.1 * (1.5 - 0.5))
    assert vdb.state_dict() == {"beta": vdb.beta}


def test_vdb_trains_adapts_beta_and_resumes_bit_identically(tiny_config, tmp_path):
    cfg = tiny_config("model.vdb_dim=6", "loss.vdb_ic=0.01", "loss.vdb_beta_step=0.5", "model.conditioning=pd")
    full, logs = run(cfg, tmp_path / "full", 4)
    assert isinstance(full.D, VariationalDiscriminator) and full.D.heads["adv"].psi.in_features == 6
    assert logs[0]["vdb_beta"] == 0.0 and logs[-1]["vdb_beta"] > 0      # the KL exceeds I_c: β grows
    beta = full.gan_step.extensions[0].beta
    run(cfg, tmp_path / "cut", 2)
    resumed, _ = run(cfg, tmp_path / "cut", 4)
    assert resumed.step == 4 and resumed.gan_step.extensions[0].beta == beta
    for a, b in zip(full.D.state_dict().values(), resumed.D.state_dict().values()):
        assert torch.equal(a, b)


def test_vdb_refuses_consistency_regularization(tiny_config):
    with pytest.raises(CondganError, match="model.vdb_dim makes D stochastic"):
        tiny_config("model.vdb_dim=4", "reg.cr=1")
    tiny_config("model.vdb_dim=4", "reg.r1=1")   # per-sample penalties through the sampled z are fine
