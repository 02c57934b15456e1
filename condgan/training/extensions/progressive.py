"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs", §2): the step side of
`model.net=progan` with `train.progressive_stable` / `train.progressive_fade`. The networks and
the schedule are `condgan.nets.progan`."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.nets.progan import fade_reals, growth_stage, set_grow_step
from condgan.nets.dcgan import resolution_schedule
from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension
from condgan.training.step import Phase


@STEP_EXTENSIONS.register("progressive")
class ProgressiveGrowing(StepExtension):
    """A first phase, `grow`, sets G's and D's stage to the iteration's step (level L and α from
    `growth_stage`, logged as `grow_level` / `grow_alpha`); the real batches of the iteration
    are faded in at that stage (`fade_reals`). The stage is a function of the step, so a resume
    mid-fade continues with the same α, bit for bit."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.model.net == "progan" and (cfg.train.progressive_stable > 0 or cfg.train.progressive_fade > 0)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.train.compile:
            return ("train.compile with progressive growing: α changes every step of a fade-in, which "
                    "recompiles the networks every step; set train.compile=false")
        return None

    def __init__(self, cfg):
        super().__init__(cfg)
        self.levels = resolution_schedule(cfg.data.image_size)[1]
        self.level, self.alpha = 0, 1.0

    def phases(self) -> list:
        return [(Phase("grow", self.grow), None)]

    def grow(self, it) -> dict[str, torch.Tensor]:
        t = self.cfg.train
        self.level, self.alpha = growth_stage(it.step, self.levels, t.progressive_stable, t.progressive_fade)
        set_grow_step(self.step.G, it.step)
        set_grow_step(self.step.D, it.step)
        device = self.step.rng.device
        return {"grow_level": torch.tensor(float(self.level), device=device),
                "grow_alpha": torch.tensor(self.alpha, device=device)}

    def real_batch(self, x: torch.Tensor) -> torch.Tensor:
        return fade_reals(x, self.level, self.alpha, self.levels)
