"""`mh`: the multi-class hinge GAN (MHingeGAN; Kavalerov, Czaja & Chellappa, WACV 2021), the MH
baseline of seed 004 §4 (Table 3)."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


def class_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """m_t(l) = l_t − max_{k≠t} l_k: how far the target class's logit is ahead of the best other."""
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).amax(1)
    return target_logit - others


def fake_class_margin(logits: torch.Tensor) -> torch.Tensor:
    """`class_margin` with every target the last (fake) class."""
    return logits[:, -1] - logits[:, :-1].amax(1)


@CONDITIONING.register("mh")
class MultiHinge(ConditioningMethod):
    """MHingeGAN: a K+1-class critic l(h) (last class = fake) trained with the Crammer–Singer
    multi-class hinge MH(l, t) = max(0, 1 − m_t(l)), m_t the class margin, in place of the softmax
    of `label`/`am`:

        L_D = E_real MH(l(x), y) + E_fake MH(l(x'), K),    L_G = E_fake MH(l(x'), y').

    This is the published K+1 formulation (Kavalerov 2021 §3; PyTorch-StudioGAN's
    `crammer_singer_loss`, which seed 004 ran for its MH numbers), obtained with
    `loss.adversarial=hinge`, whose real term is relu(1 − m). With another adversarial loss the
    margins go through that loss's real term f_r instead (ls: (m − 1)², ns: softplus(−m)) — every
    margin is one the sample's target class should win — a generalization so that `mh` runs with
    every loss; it is not from the paper. With one real class (K = 1, o = l_0 − l_1) the hinge D
    loss is exactly the `hinge` loss relu(1 − o_r) + relu(1 + o_f) (tested). There is no separate
    conditioning term: `model.cond_weight` must stay 1, and one-sided label smoothing (which would
    also soften the fake-class term) is refused.
    """

    name = "mh"
    has_class_logits = True

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.model.cond_weight not in (None, 1.0):
            return (f"model.conditioning=mh has no separate conditioning term, so "
                    f"model.cond_weight={cfg.model.cond_weight} would be ignored; leave it at 1")
        if cfg.loss.label_smoothing:
            return (f"model.conditioning=mh applies the loss's real term to every class margin, so "
                    f"loss.label_smoothing={cfg.loss.label_smoothing} would smooth the fake class too; leave it at 0")
        return super().check(cfg)

    def class_logits(self, out):
        return out["logits"][:, :-1]

    def heads(self, feat_dim, spectral_norm):
        return {"logits": LinearHead(feat_dim, self.num_classes + 1, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        real_part = self.adv.real_term(class_margin(real["logits"], real_labels.y)).mean()
        fake_part = self.adv.real_term(fake_class_margin(fake["logits"])).mean()
        return real_part + fake_part, {"d_real": real_part, "d_fake": fake_part}

    def g_loss(self, fake, fake_labels):
        loss = self.adv.real_term(class_margin(fake["logits"], fake_labels.y)).mean()
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        """l_y − l_K: the sample's own class against the fake class. Smooth (no max), and the
        margin G's loss pushes up for its target class."""
        logits = out["logits"]
        return logits.gather(1, labels.y[:, None]).squeeze(1) - logits[:, -1]
