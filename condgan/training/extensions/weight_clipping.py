"""WGAN's weight clipping (Arjovsky et al. 2017, "Wasserstein GAN", §3, Algorithm 1 line 7):
`reg.weight_clip=c`."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension
from condgan.training.extras import lazy_ratio


@STEP_EXTENSIONS.register("weight_clip")
class WeightClipping(StepExtension):
    """After every discriminator step, every parameter w of D (trunk, heads, the bottleneck's
    encoder) is clamped: w ← clip(w, −c, c). Compact weights make the critic K-Lipschitz for
    some K, which is what the Wasserstein loss needs (the paper's c = 0.01, RMSProp, lr 5e-5,
    n_critic = 5). Runs before the other extensions' hooks, so they see the clamped weights."""

    order = -1

    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.reg.weight_clip > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if lazy_ratio(cfg, "d") < 1:
            return ("reg.weight_clip with lazy regularization (reg.d_interval > 1 and a reg.* penalty): the "
                    "penalties' own D step would leave D's weights unclipped; set reg.d_interval=1")
        return None

    @torch.no_grad()
    def after_d_step(self) -> None:
        c = self.cfg.reg.weight_clip
        params = [p for p in self.step.D.parameters()]
        torch._foreach_clamp_min_(params, -c)
        torch._foreach_clamp_max_(params, c)
