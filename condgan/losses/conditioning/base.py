"""The conditioning-method interface (SPEC §2) and its registry.

A method decides (1) which heads the discriminator has on top of the trunk features h, (2) the
discriminator and generator losses from those heads' outputs, and (3) which scalar per sample the
gradient regularizers differentiate. Everything else (networks, training loop, labeling) is shared.
Adding a method = one subclass + `@CONDITIONING.register(...)` + a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from condgan.losses.adversarial import AdversarialLoss
from condgan.nets.layers import maybe_sn
from condgan.registry import Registry


@dataclass
class Labels:
    """A batch's condition in both forms: class indices `y` (None for multi-hot data) and the
    float condition vector `cnd` (one-hot(y), or the multi-hot attribute vector)."""

    y: Optional[torch.Tensor]
    cnd: Optional[torch.Tensor]

    @staticmethod
    def cat(a: "Labels", b: "Labels") -> "Labels":
        # A part missing on either side (unconditional fakes of dynamic labeling, unlabeled
        # data) makes the joint part missing: heads that need it are rejected at config time.
        cat = lambda u, v: None if u is None or v is None else torch.cat([u, v])  # noqa: E731
        return Labels(cat(a.y, b.y), cat(a.cnd, b.cnd))


Outputs = dict[str, torch.Tensor]


class LinearHead(nn.Module):
    """h → `out_dim` logits (squeezed to (B,) when out_dim = 1). Ignores the condition."""

    def __init__(self, in_dim: int, out_dim: int, spectral_norm: bool):
        super().__init__()
        self.linear = maybe_sn(nn.Linear(in_dim, out_dim), spectral_norm)
        self.squeeze = out_dim == 1

    def forward(self, h: torch.Tensor, cnd: torch.Tensor | None) -> torch.Tensor:
        o = self.linear(h)
        return o.squeeze(1) if self.squeeze else o


class ConditioningMethod:
    """Base class. Subclasses set `name` and override `heads`, `d_loss`, `g_loss`, `adv_logit`.

    `multi_label`: whether the method accepts multi-hot attribute conditions.
    """

    name = "base"
    multi_label = False
    has_class_logits = False
    """Whether `class_logits` gives K class logits (what dynamic labeling reads)."""
    cond_loss_key: Optional[str] = None
    """The key of D's conditioning term in `d_loss`'s logs (for the gradient-norm diagnostic)."""
    default_cond_weight = 1.0
    """λ when `model.cond_weight` is unset: the value of the method's paper (docs/methods.md §2
    cites each)."""

    def __init__(self, adversarial: AdversarialLoss, num_classes: int, cond_weight: Optional[float] = None):
        self.adv = adversarial
        self.num_classes = num_classes
        self.cond_weight = self.default_cond_weight if cond_weight is None else cond_weight

    @classmethod
    def from_config(cls, cfg, adversarial: AdversarialLoss, num_classes: int,
                    groups: int = 1) -> "ConditioningMethod":
        """The method with its options read from a validated `cfg` (unset options: the method's
        defaults). `num_classes` conditions, made of `groups` one-hot groups (the labeling mode's
        `discriminator_groups`; only per-group methods read it). Methods with their own
        hyperparameters (temperature, margins, ...) override this; the build code never names them."""
        return cls(adversarial, num_classes, cfg.model.cond_weight)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        """A reason why this method cannot run with `cfg`, or None. Called before any work."""
        if cfg.data.attributes and not cls.multi_label:
            return (f"model.conditioning={cls.name} needs single class labels, but data.attributes "
                    "makes multi-hot conditions; use ca or pd")
        return None

    def heads(self, feat_dim: int, spectral_norm: bool) -> dict[str, nn.Module]:
        raise NotImplementedError

    def d_loss(self, real: Outputs, fake: Outputs, real_labels: Labels, fake_labels: Labels
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def g_loss(self, fake: Outputs, fake_labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def class_logits(self, out: Outputs) -> torch.Tensor:
        """(B, K) D's class logits, for methods with `has_class_logits`."""
        raise NotImplementedError(f"conditioning method '{self.name}' has no class logits")

    def adv_logit(self, out: Outputs, labels: Labels) -> torch.Tensor:
        """(B,) the real/fake logit of each sample, the scalar gradient penalties differentiate."""
        return out["adv"]


CONDITIONING: Registry[type[ConditioningMethod]] = Registry("conditioning method")
