"""Adversarial losses (docs/methods.md §1) as per-sample terms on discriminator logits.

Each loss is three elementwise functions of a logit `o`:
  real_term f_r(o_r)  and  fake_term f_g(o_f)  — the discriminator minimizes E f_r + E f_g,
  gen_term  f^G(o_f)                           — the generator minimizes E f^G.
Keeping them per-sample lets conditional activation (seed 001 §2) weight each sample by its
condition vector, and every other method just takes batch means.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from condgan.registry import Registry

Term = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    real_term: Term
    fake_term: Term
    gen_term: Term
    needs_lipschitz: bool = False
    """True when the loss is only meaningful for a Lipschitz-constrained critic (WGAN)."""
    real_term_with_target: Optional[Callable[[torch.Tensor, float], torch.Tensor]] = None
    """f_r with the real target t instead of 1, for one-sided label smoothing; None where the
    loss has no target to soften (hinge, wasserstein)."""
    boundary: float = 0.0
    """The logit halfway between D's fake and real targets: sign(o − boundary) says which side
    D puts a sample on (the overfitting heuristic of ADA / APA). 0, except ½ for least squares."""

    def with_label_smoothing(self, alpha: float) -> "AdversarialLoss":
        """One-sided label smoothing (Salimans et al. 2016, "Improved Techniques for Training
        GANs", §3.4): D's real target 1 becomes 1 − α; fakes and the generator keep theirs.
        ns/minimax: f_r(o) = (1−α)·softplus(−o) + α·softplus(o) (cross-entropy with target 1−α);
        ls: f_r(o) = (o − (1−α))²."""
        if alpha == 0:
            return self
        if self.real_term_with_target is None:
            raise ValueError(f"adversarial loss '{self.name}' has no real target to smooth")
        return replace(self, real_term=functools.partial(self.real_term_with_target, target=1.0 - alpha))

    def d_loss(self, o_real: torch.Tensor, o_fake: torch.Tensor) -> torch.Tensor:
        return self.real_term(o_real).mean() + self.fake_term(o_fake).mean()

    def g_loss(self, o_fake: torch.Tensor) -> torch.Tensor:
        return self.gen_term(o_fake).mean()


ADVERSARIAL_LOSSES: Registry[AdversarialLoss] = Registry("adversarial loss")


def _register(loss: AdversarialLoss) -> None:
    ADVERSARIAL_LOSSES.register(loss.name)(loss)


def _neg(o):
    return -o


def _logistic_real_term(o: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy of σ(o) against target t: t·softplus(−o) + (1−t)·softplus(o)."""
    return target * F.softplus(-o) + (1 - target) * F.softplus(o)


def _ls_real_term(o: torch.Tensor, target: float) -> torch.Tensor:
    return (o - target).square()


_register(AdversarialLoss(
    # Goodfellow 2014, saturating: D: -log σ(o_r) - log(1-σ(o_f)); G: log(1-σ(o_f)) = -softplus(o_f).
    "minimax", real_term=lambda o: F.softplus(-o), fake_term=F.softplus, gen_term=lambda o: -F.softplus(o),
    real_term_with_target=_logistic_real_term))
_register(AdversarialLoss(
    # Non-saturating / logistic: G maximizes log σ(o_f), i.e. minimizes softplus(-o_f).
    "ns", real_term=lambda o: F.softplus(-o), fake_term=F.softplus, gen_term=lambda o: F.softplus(-o),
    real_term_with_target=_logistic_real_term))
_register(AdversarialLoss(
    # Least squares (Mao 2017), targets a=0 (fake), b=c=1 (real / G).
    "ls", real_term=lambda o: (o - 1).square(), fake_term=torch.square, gen_term=lambda o: (o - 1).square(),
    real_term_with_target=_ls_real_term, boundary=0.5))
_register(AdversarialLoss(
    # Wasserstein (Arjovsky 2017): critic maximizes E o_r - E o_f.
    "wasserstein", real_term=_neg, fake_term=lambda o: o, gen_term=_neg, needs_lipschitz=True))
_register(AdversarialLoss(
    # Hinge (Lim 2017; Miyato 2018).
    "hinge", real_term=lambda o: F.relu(1 - o), fake_term=lambda o: F.relu(1 + o), gen_term=_neg))
