"""The variational discriminator bottleneck's KL constraint and adaptive β (Peng et al. 2019,
"Variational Discriminator Bottleneck", the constrained discriminator objective and its dual
update of β, applied to GANs as "VGAN"): `model.vdb_dim` with
`loss.vdb_ic`, `loss.vdb_beta_step`, `loss.vdb_beta_init`. The stochastic encoder itself is
`condgan.nets.bottleneck.VariationalDiscriminator`."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.nets.bottleneck import KL_KEY
from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension


def beta_update(beta: float, kl: float, ic: float, step_size: float) -> float:
    """The dual ascent step on β: β ← max(0, β + α_β (E KL − I_c))."""
    return max(0.0, beta + step_size * (kl - ic))


@STEP_EXTENSIONS.register("vdb")
class VariationalBottleneck(StepExtension):
    """D's loss gets β (E_{x∼p̃} KL(E(z|x) ‖ N(0, I)) − I_c), p̃ = ½ p_data + ½ p_G: the mean of
    the per-sample KL over the D step's reals and over its fakes, averaged. After every D step β
    takes the dual step `beta_update` with that step's E KL (averaged over the processes), so the
    bottleneck holds the information D's encoder keeps about x near I_c nats: D cannot become
    arbitrarily sure, and G keeps getting informative gradients. G's step reads D's heads on a
    sampled z too (the objective's expectation over E(z|x)); the KL does not enter G's loss."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.model.vdb_dim > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.reg.cr > 0 or cfg.reg.cr_fake > 0:
            return ("model.vdb_dim makes D stochastic, so consistency regularization (reg.cr, reg.cr_fake) "
                    "would penalize the bottleneck's own noise ‖D(x) − D(T(x))‖² and push σ to 0; "
                    "use one of the two")
        return None

    def __init__(self, cfg):
        super().__init__(cfg)
        self.beta = float(cfg.loss.vdb_beta_init)
        self.kl = None

    def attach(self, step) -> None:
        super().attach(step)
        step.D.noise = step.noise_rng

    def d_loss(self, loss, logs, *, out_real, out_fake, **_) -> torch.Tensor:
        kl = 0.5 * (out_real[KL_KEY].mean() + out_fake[KL_KEY].mean())
        self.kl = kl.detach()
        logs["vdb_kl"], logs["vdb_beta"] = kl, kl.new_tensor(self.beta)
        return loss + self.beta * (kl - self.cfg.loss.vdb_ic)

    def after_d_step(self) -> None:
        kl = float(self.step.dist.mean({"kl": self.kl})["kl"])
        self.beta = beta_update(self.beta, kl, self.cfg.loss.vdb_ic, self.cfg.loss.vdb_beta_step)

    def state_dict(self) -> dict:
        return {"beta": self.beta}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.beta = state["beta"]
