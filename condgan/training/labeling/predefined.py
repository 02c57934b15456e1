"""Predefined labeling (docs/methods.md §3): fakes get targets drawn from a class prior, reals keep their
dataset labels. `model.labeling=predefined`, the default."""

from __future__ import annotations

import torch

from condgan.losses.conditioning.base import Labels
from condgan.training.labeling.base import LABELING, LabelingMode, labels_from_data


@LABELING.register("predefined")
class PredefinedLabeling(LabelingMode):
    """Targets sampled from a class prior and given to G; reals keep their dataset labels.

    Prior `uniform` (default) or `data` (the train split's class frequencies). For multi-hot
    attribute data, targets are attribute vectors of random training samples, so that the joint
    distribution of attributes (e.g. "male" and "beard") stays realistic. Unlabeled data (no
    classes) gives empty targets: an unconditional GAN.
    """

    name = "predefined"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        self.label_bank = train_labels.to(device).float() if multi_label else None
        self.prior = None  # uniform: randint, cheaper than multinomial
        if not multi_label and num_classes and cfg.model.label_prior == "data":
            self.prior = torch.bincount(train_labels, minlength=num_classes).float().to(device)
            self.prior /= self.prior.sum()

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        if self.multi_label:
            idx = torch.randint(len(self.label_bank), (batch_size,), device=self.device, generator=generator)
            return Labels(None, self.label_bank[idx])
        if not self.num_classes:
            # Unlabeled data (conditioning=none, g_conditioning=none): there is no class to
            # draw, and drawing nothing keeps the RNG stream of the latents unchanged.
            return Labels(None, None)
        if self.prior is None:
            y = torch.randint(self.num_classes, (batch_size,), device=self.device, generator=generator)
        else:
            y = torch.multinomial(self.prior, batch_size, replacement=True, generator=generator)
        return labels_from_data(y, self.num_classes, False)
