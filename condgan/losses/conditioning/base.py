"""The conditioning-method interface (docs/methods.md §2) and its registry.

A method decides (1) which heads the discriminator has on top of the trunk features h, (2) the
discriminator and generator losses from those heads' outputs, and (3) which scalar per sample the
gradient regularizers differentiate. Everything else (networks, training loop, labeling) is shared.
Adding a method = one subclass + `@CONDITIONING.register(...)` + a test.

Methods that are a plain adversarial head ψ(h) plus a conditioning term on heads of their own
(`TermConditioning`) compose: `model.conditioning=d2dce+tac` is one D with ψ, D2D-CE's head and
TAC's twin classifier, its losses the sum of the terms (`composed.py`). The registry resolves
such names, so the trainer and the checks see one method like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from condgan.errors import CondganError
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
    composable = False
    """Whether the method is ψ(h) plus a separable conditioning term (`TermConditioning`)."""
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


class TermConditioning(ConditioningMethod):
    """A plain adversarial head ψ(h) plus a conditioning term T on heads of the method's own:

        L_D = adv_D(ψ(x), ψ(x')) + λ T_D,    L_G = adv_G(ψ(x')) + λ T_G.

    Subclasses give `condition_heads`, `d_term` and `g_term` (T_D, T_G unweighted, with their
    logs) and name the heads in `term_heads`, so that a composition can refuse two terms that
    would train the same head. `stands_on`: an add-on term that needs another method's term to
    be a method (TAC's twin classifier): alone, its name means the composition with that one.
    """

    composable = True
    term_heads: tuple[str, ...] = ()
    stands_on: Optional[str] = None

    def condition_heads(self, feat_dim: int, spectral_norm: bool) -> dict[str, nn.Module]:
        """The term's heads on h (named as in `term_heads`); ψ is added by `heads`."""
        raise NotImplementedError

    def d_term(self, real: Outputs, fake: Outputs, real_labels: Labels, fake_labels: Labels):
        """(T_D, logs): the unweighted term of the discriminator loss."""
        raise NotImplementedError

    def g_term(self, fake: Outputs, fake_labels: Labels):
        """(T_G, logs): the unweighted term of the generator loss."""
        raise NotImplementedError

    def heads(self, feat_dim, spectral_norm):
        return {"adv": LinearHead(feat_dim, 1, spectral_norm), **self.condition_heads(feat_dim, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        adv = self.adv.d_loss(real["adv"], fake["adv"])
        term, logs = self.d_term(real, fake, real_labels, fake_labels)
        return adv + self.cond_weight * term, {"d_adv": adv, **logs}

    def g_loss(self, fake, fake_labels):
        adv = self.adv.g_loss(fake["adv"])
        term, logs = self.g_term(fake, fake_labels)
        return adv + self.cond_weight * term, {"g_adv": adv, **logs}


COMPOSE = "+"


class ConditioningRegistry(Registry):
    """The method registry; `get` also resolves compositions: 'a+b' (and an add-on term's own
    name, e.g. 'tac' = 'ac_mod+tac') become one method class built by `composer`, which
    `composed.py` installs (it sits above this module)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.composer = None

    def get(self, name: str):
        lookup = super().get  # the registered classes themselves
        parts = [p.strip() for p in str(name).split(COMPOSE)]
        if len(parts) == 1:
            method = lookup(parts[0])
            if getattr(method, "stands_on", None) is None:
                return method
            return self.composer(parts[0], [lookup(method.stands_on), method])
        if "" in parts:
            raise CondganError(f"conditioning method '{name}' has an empty term; join method names with "
                               f"'{COMPOSE}', e.g. d2dce{COMPOSE}tac")
        return self.composer(COMPOSE.join(parts), [lookup(p) for p in parts])


CONDITIONING = ConditioningRegistry("conditioning method")
