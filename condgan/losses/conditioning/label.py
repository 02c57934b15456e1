"""K+1-class discriminators of seed 003: `label` (LabelGAN, §2.1) and `am` (AM-GAN, §4.1).

One head gives K+1 logits `l(h)`; classes 0..K-1 are the real classes and the last logit (index K)
is the fake class. With the real/fake logit `o = logsumexp(l[:K]) - l[K]` (log D_r/D_{K+1}) the
K+1-way cross-entropy decomposes (seed 003 §4.2, Lemma 2) as

    CE(l, y) = softplus(-o) + CE(l[:K], y)        CE(l, K) = softplus(o),

i.e. the `ns` adversarial loss on `o` plus a K-way classifier on the real-class logits. condgan
computes the losses in this decomposed form, which lets the K+1 methods take any adversarial loss
A (on `o`) and a conditioning weight λ (on the K-way term); with `loss.adversarial=ns` and λ = 1
they are exactly the paper's K+1 softmax losses (tested against the direct formulas).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


def realness_logit(logits: torch.Tensor) -> torch.Tensor:
    """o = logsumexp(l[:K]) - l[K] = log(D_r / D_{K+1}): the logit of "real, any class"."""
    return torch.logsumexp(logits[:, :-1], 1) - logits[:, -1]


@CONDITIONING.register("label")
class LabelGAN(ConditioningMethod):
    """LabelGAN (seed 003 §2.1, Eqs. 2–3; Salimans 2016): K+1 logits l, the last one the fake class.

    Seed 003's losses (adversarial `ns`, λ = 1):
        L_D = E_real CE(l(x), y) + E_fake CE(l(x'), K)
        L_G = -E_fake log Σ_{i<K} softmax(l(x'))_i = E_fake [logsumexp(l(x')) - logsumexp(l(x')[:K])]
    In general (module docstring), with o the realness logit and A any adversarial loss:
        L_D = A_D(o(x), o(x')) + λ E_real CE(l(x)[:K], y),    L_G = A_G(o(x'))

    G's loss ignores the target y' (the "implicit target class" model, seed 003 §3), so G pushes
    every fake towards whichever real class D already finds most likely.
    """

    name = "label"
    has_class_logits = True
    cond_loss_key = "d_cls"

    def class_logits(self, out):
        return out["logits"][:, :-1]

    def heads(self, feat_dim, spectral_norm):
        return {"logits": LinearHead(feat_dim, self.num_classes + 1, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        adv = self.adv.d_loss(realness_logit(real["logits"]), realness_logit(fake["logits"]))
        cls = F.cross_entropy(self.class_logits(real), real_labels.y)
        return adv + self.cond_weight * cls, {"d_adv": adv, "d_cls": cls}

    def g_loss(self, fake, fake_labels):
        logits = fake["logits"]
        if self.adv.name == "ns":
            # Seed 003's -log Σ_{i<K} softmax_i, in log space: no probability is formed, so no log(0).
            loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits[:, :-1], 1)).mean()
        else:
            loss = self.adv.g_loss(realness_logit(logits))
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        """The realness logit o: the K+1 softmax is the `ns` loss on it (module docstring), so
        penalties see what the adversarial part of the loss sees."""
        return realness_logit(out["logits"])


@CONDITIONING.register("am")
class AMGAN(LabelGAN):
    """AM-GAN (seed 003 §4.1, Eqs. 14–15): LabelGAN's D loss, and G asks for its target class,

        L_G = E_fake CE(l(x'), y')   (adversarial `ns`, λ = 1),
        in general L_G = A_G(o(x')) + λ E_fake CE(l(x')[:K], y'),

    which removes LabelGAN's overlaid-gradient problem (seed 003 §4, Fig. 1).
    """

    name = "am"

    def g_loss(self, fake, fake_labels):
        adv = self.adv.g_loss(realness_logit(fake["logits"]))
        cls = F.cross_entropy(self.class_logits(fake), fake_labels.y)
        return adv + self.cond_weight * cls, {"g_adv": adv, "g_cls": cls}
