"""`mh`: the multi-class hinge GAN (MHingeGAN; Kavalerov, Czaja & Chellappa, WACV 2021), the MH
baseline of seed 004 §4 (Table 3)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead
from condgan.losses.conditioning.label import k_plus_one_reason


def multi_hinge_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """E max(0, 1 - l_t + max_{k≠t} l_k): the Crammer–Singer multi-class hinge, batch mean."""
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).amax(1)
    return F.relu(1 - target_logit + others).mean()


def multi_hinge_fake_class(logits: torch.Tensor) -> torch.Tensor:
    """`multi_hinge_loss` with every target the last (fake) class: max over the real classes."""
    return F.relu(1 - logits[:, -1] + logits[:, :-1].amax(1)).mean()


@CONDITIONING.register("mh")
class MultiHinge(ConditioningMethod):
    """MHingeGAN: a K+1-class critic l(h) (last class = fake) trained with the multi-class hinge
    MH(l, t) = max(0, 1 - l_t + max_{k≠t} l_k) in place of the softmax of `label`/`am`:

    L_D = E_real MH(l(x), y) + E_fake MH(l(x'), K),    L_G = E_fake MH(l(x'), y').

    This is the published K+1 formulation (Kavalerov 2021 §3; the same as PyTorch-StudioGAN's
    `crammer_singer_loss`, which seed 004 ran for its MH numbers). With one real class
    (K = 1, o = l_0 - l_1) the D loss is exactly the `hinge` loss relu(1 - o_r) + relu(1 + o_f), so
    the method accepts `loss.adversarial=hinge` only, and `model.cond_weight` must stay 1: the
    multi-class hinge is the whole loss.
    """

    name = "mh"

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        return super().check(cfg) or k_plus_one_reason(cls, cfg, "hinge")

    def heads(self, feat_dim, spectral_norm):
        return {"logits": LinearHead(feat_dim, self.num_classes + 1, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        real_part = multi_hinge_loss(real["logits"], real_labels.y)
        fake_part = multi_hinge_fake_class(fake["logits"])
        return real_part + fake_part, {"d_real": real_part, "d_fake": fake_part}

    def g_loss(self, fake, fake_labels):
        loss = multi_hinge_loss(fake["logits"], fake_labels.y)
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        """l_y - l_K: the sample's own class against the fake class. Smooth (no max), and the
        margin G's loss pushes up for its target class."""
        logits = out["logits"]
        return logits.gather(1, labels.y[:, None]).squeeze(1) - logits[:, -1]
