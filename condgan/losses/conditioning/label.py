"""K+1-class discriminators of seed 003: `label` (LabelGAN, §2.1) and `am` (AM-GAN, §4.1).

One head gives K+1 logits `l(h)`; classes 0..K-1 are the real classes and the last logit (index K)
is the fake class. There is no separate adversarial head: the K+1-way softmax is itself the
adversarial loss. With the real/fake logit `o = logsumexp(l[:K]) - l[K]` (log D_r/D_{K+1}) the
cross-entropy decomposes (seed 003 §4.2, Lemma 2) as

    CE(l, y) = softplus(-o) + CE(l[:K], y)        CE(l, K) = softplus(o),

i.e. the `ns` adversarial loss on `o` plus a K-way classifier on the real-class logits. So these
methods accept `loss.adversarial=ns` only (any other choice would be silently ignored), and
`model.cond_weight` must stay 1 (there is no separate conditioning term to weigh).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


def k_plus_one_reason(cls, cfg, adversarial: str) -> Optional[str]:
    """Part of `check` shared by the K+1-logit methods (label, am, mh), whose K+1-way loss *is* the
    adversarial loss: accept only the adversarial loss it reduces to, and no conditioning weight."""
    if cfg.loss.adversarial != adversarial:
        return (f"model.conditioning={cls.name} defines its own adversarial term through its K+1 logits "
                f"(it reduces to {adversarial}), so loss.adversarial={cfg.loss.adversarial} would be "
                f"ignored; set loss.adversarial={adversarial}")
    if cfg.model.cond_weight != 1.0:
        return (f"model.conditioning={cls.name} has no separate conditioning term, so "
                f"model.cond_weight={cfg.model.cond_weight} would be ignored; leave it at 1")
    return None


def fake_class_ce(logits: torch.Tensor) -> torch.Tensor:
    """E CE(l, K) with K the last (fake) class, without materializing a target tensor."""
    return (torch.logsumexp(logits, 1) - logits[:, -1]).mean()


@CONDITIONING.register("label")
class LabelGAN(ConditioningMethod):
    """LabelGAN (seed 003 §2.1, Eqs. 2–3; Salimans 2016): K+1 logits l, the last one the fake class.

    L_D = E_real CE(l(x), y) + E_fake CE(l(x'), K)
    L_G = -E_fake log Σ_{i<K} softmax(l(x'))_i = E_fake [logsumexp(l(x')) - logsumexp(l(x')[:K])]

    G's loss ignores the target y' (the "implicit target class" model, seed 003 §3), so G pushes
    every fake towards whichever real class D already finds most likely.
    """

    name = "label"

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        return super().check(cfg) or k_plus_one_reason(cls, cfg, "ns")

    def heads(self, feat_dim, spectral_norm):
        return {"logits": LinearHead(feat_dim, self.num_classes + 1, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        ce_real = F.cross_entropy(real["logits"], real_labels.y)
        ce_fake = fake_class_ce(fake["logits"])
        return ce_real + ce_fake, {"d_real": ce_real, "d_fake": ce_fake}

    def g_loss(self, fake, fake_labels):
        logits = fake["logits"]
        # -log Σ_{i<K} softmax_i in log space: no probability is formed, so no log(0).
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits[:, :-1], 1)).mean()
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        """o = logsumexp(l[:K]) - l[K] = log(D_r / D_{K+1}), the logit of "real, any class": the
        K+1 softmax is the `ns` loss on it (module docstring), so penalties see what the loss sees."""
        logits = out["logits"]
        return torch.logsumexp(logits[:, :-1], 1) - logits[:, -1]


@CONDITIONING.register("am")
class AMGAN(LabelGAN):
    """AM-GAN (seed 003 §4.1, Eqs. 14–15): LabelGAN's D loss, and G asks for its target class,

    L_D = E_real CE(l(x), y) + E_fake CE(l(x'), K),    L_G = E_fake CE(l(x'), y'),

    which removes LabelGAN's overlaid-gradient problem (seed 003 §4, Fig. 1).
    """

    name = "am"

    def g_loss(self, fake, fake_labels):
        loss = F.cross_entropy(fake["logits"], fake_labels.y)
        return loss, {"g_adv": loss}
