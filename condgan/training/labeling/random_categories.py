"""Random categories: categories drawn uniformly and given to G only (seed 000's vanilla GAN with
codebook). `model.labeling=random`."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.losses.conditioning.base import Labels
from condgan.training.labeling.base import LABELING
from condgan.training.labeling.categorical import CategoricalMode, check_groups_range


@LABELING.register("random")
class RandomCategories(CategoricalMode):
    """Categories drawn uniformly (d_l groups of d_c: `model.cgp_groups`, `model.cgp_categories`)
    and given to G only; D is unconditional (`model.conditioning=none`) and nothing assigns
    categories to reals: seed 000's "vanilla GAN with codebook" (§4) with
    `model.g_conditioning=codebook`. No category predictor."""

    name = "random"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        self.d_l, self.d_c = self.groups(cfg)
        self.prior = torch.full((self.d_l, self.d_c), 1.0 / self.d_c, device=device)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.model.conditioning != "none":
            return (f"model.labeling=random gives categories to G only; D must be unconditional "
                    f"(model.conditioning=none), got model.conditioning={cfg.model.conditioning}")
        return check_groups_range(cfg) or cls.check_groups(cfg)

    @classmethod
    def discriminator_conditions(cls, cfg, info) -> int:
        return 0

    def real(self, x, y):
        return Labels(None, None)

    def fake(self, batch_size, generator):
        from condgan.losses.cgp import sample_prior

        return Labels(None, sample_prior(self.prior, batch_size, generator))
