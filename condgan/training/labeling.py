"""Labeling modes (SPEC §3): where a fake's target label comes from. Registry `LABELING`.

A mode is built from the config and the training data and provides `real(y)` (the condition a
real batch is trained with) and `fake(batch_size, generator)` (the targets given to G).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import Labels
from condgan.registry import Registry

LABELING: Registry[type] = Registry("labeling mode")


def labels_from_data(y: torch.Tensor | None, num_classes: int, multi_label: bool) -> Labels:
    """Dataset labels → Labels (indices + float condition vector)."""
    if y is None:
        return Labels(None, None)
    if multi_label:
        return Labels(None, y.float())
    return Labels(y, F.one_hot(y, num_classes).float())


@LABELING.register("predefined")
class PredefinedLabeling:
    """Targets sampled from a class prior and given to G; reals keep their dataset labels.

    Prior `uniform` (default) or `data` (the train split's class frequencies). For multi-hot
    attribute data, targets are attribute vectors of random training samples, so that the joint
    distribution of attributes (e.g. "male" and "beard") stays realistic.
    """

    def __init__(self, cfg, train_labels: torch.Tensor | None, num_classes: int, multi_label: bool,
                 device: torch.device):
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.device = device
        if multi_label:
            self.label_bank = train_labels.to(device).float()
            self.prior = None
        elif num_classes == 0:
            self.prior = None  # unlabeled data: fakes carry no label (see fake())
        elif cfg.model.label_prior == "data":
            self.prior = torch.bincount(train_labels, minlength=num_classes).float().to(device)
            self.prior /= self.prior.sum()
        else:
            self.prior = None  # uniform: randint, cheaper than multinomial

    def real(self, y: torch.Tensor | None) -> Labels:
        return labels_from_data(y, self.num_classes, self.multi_label)

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        if self.multi_label:
            idx = torch.randint(len(self.label_bank), (batch_size,), device=self.device, generator=generator)
            return Labels(None, self.label_bank[idx])
        if self.num_classes == 0:
            # Unlabeled data (conditioning=none, g_conditioning=none): there is no class to
            # draw, and drawing nothing keeps the RNG stream of the latents unchanged.
            return Labels(None, None)
        if self.prior is None:
            y = torch.randint(self.num_classes, (batch_size,), device=self.device, generator=generator)
        else:
            y = torch.multinomial(self.prior, batch_size, replacement=True, generator=generator)
        return labels_from_data(y, self.num_classes, False)
