"""Auxiliary-classifier methods: `ac` (Odena 2017), `ac_mod` (modified AC-GAN = AC-GAN*) and
`ac_plus` (AC-GAN*+). Heads: adversarial logit ψ(h) and K class logits C(h)."""

import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


@CONDITIONING.register("ac")
class AuxiliaryClassifier(ConditioningMethod):
    """Original AC-GAN (seed 001 §1, seed 003 §7.1.5):

    L_D = adv_D + λ [CE(C(x), y) + CE(C(x'), y')],   L_G = adv_G + λ CE(C(x'), y').
    """

    name = "ac"
    classify_fakes_in_d = True
    has_class_logits = True
    cond_loss_key = "d_cls"

    def class_logits(self, out):
        return out["cls"]

    def heads(self, feat_dim, spectral_norm):
        return {"adv": LinearHead(feat_dim, 1, spectral_norm),
                "cls": LinearHead(feat_dim, self.num_classes, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        adv = self.adv.d_loss(real["adv"], fake["adv"])
        cls = F.cross_entropy(real["cls"], real_labels.y)
        if self.classify_fakes_in_d:
            cls = cls + F.cross_entropy(fake["cls"], fake_labels.y)
        return adv + self.cond_weight * cls, {"d_adv": adv, "d_cls": cls}

    def g_loss(self, fake, fake_labels):
        adv = self.adv.g_loss(fake["adv"])
        cls = F.cross_entropy(fake["cls"], fake_labels.y)
        return adv + self.cond_weight * cls, {"g_adv": adv, "g_cls": cls}


@CONDITIONING.register("ac_mod")
class ModifiedAuxiliaryClassifier(AuxiliaryClassifier):
    """Modified AC-GAN / AC-GAN* (seed 001 §1, seed 003 §2.2): D's class loss on reals only,

    L_D = adv_D + λ CE(C(x), y),   L_G = adv_G + λ CE(C(x'), y').
    """

    name = "ac_mod"
    classify_fakes_in_d = False


@CONDITIONING.register("ac_plus")
class AuxiliaryClassifierPlus(ModifiedAuxiliaryClassifier):
    """AC-GAN*+ (seed 003 §5.3): AC-GAN* plus a uniform-target cross-entropy on fakes in L_D,

    L_D = adv_D + λ [CE(C(x), y) + E H(u, C(x'))],  u uniform over K;  L_G as AC-GAN*.

    H(u, p) = -(1/K) Σ_k log p_k pushes D's class prediction on fakes towards uniform.
    """

    name = "ac_plus"

    def d_loss(self, real, fake, real_labels, fake_labels):
        loss, logs = super().d_loss(real, fake, real_labels, fake_labels)
        uniform_ce = -F.log_softmax(fake["cls"], dim=1).mean(1).mean()
        logs["d_uniform"] = uniform_ce
        return loss + self.cond_weight * uniform_ce, logs


@CONDITIONING.register("tac")
class TwinAuxiliaryClassifier(ModifiedAuxiliaryClassifier):
    """TAC-GAN (Gong et al. 2019; seed 004 App. E): AC-GAN* plus a twin classifier C_mi that D
    trains on fakes and G then fights, so G no longer just minimizes the conditional entropy
    H(y|x') (which makes AC-GAN miss overlapping classes, seed 004 Fig. A4):

    L_D = adv_D + λ [CE(C(x), y) + CE(C_mi(x'), y')]
    L_G = adv_G + λ [CE(C(x'), y') - CE(C_mi(x'), y')]

    The minus sign makes G maximize the twin's error; C_mi must be both trained (D loss) and read
    (G loss) — the public implementation that builds it and never reads it is plain AC-GAN*.
    """

    name = "tac"

    def heads(self, feat_dim, spectral_norm):
        heads = super().heads(feat_dim, spectral_norm)
        heads["twin_cls"] = LinearHead(feat_dim, self.num_classes, spectral_norm)
        return heads

    def d_loss(self, real, fake, real_labels, fake_labels):
        loss, logs = super().d_loss(real, fake, real_labels, fake_labels)
        twin = F.cross_entropy(fake["twin_cls"], fake_labels.y)
        logs["d_twin_cls"] = twin
        return loss + self.cond_weight * twin, logs

    def g_loss(self, fake, fake_labels):
        loss, logs = super().g_loss(fake, fake_labels)
        twin = F.cross_entropy(fake["twin_cls"], fake_labels.y)
        logs["g_twin_cls"] = twin
        return loss - self.cond_weight * twin, logs
