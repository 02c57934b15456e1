"""Auxiliary-classifier methods: `ac` (Odena 2017), `ac_mod` (modified AC-GAN = AC-GAN*),
`ac_plus` (AC-GAN*+) and TAC's twin classifier `tac`. Heads: adversarial logit ψ(h), K class
logits C(h) and, for `tac`, K twin logits C_mi(h). All are `TermConditioning` terms, so they
compose with the other terms (`d2dce+tac`, see composed.py)."""

import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, LinearHead, TermConditioning


@CONDITIONING.register("ac")
class AuxiliaryClassifier(TermConditioning):
    """Original AC-GAN (seed 001 §1, seed 003 §7.1.5):

    L_D = adv_D + λ [CE(C(x), y) + CE(C(x'), y')],   L_G = adv_G + λ CE(C(x'), y').
    """

    name = "ac"
    classify_fakes_in_d = True
    has_class_logits = True
    cond_loss_key = "d_cls"
    term_heads = ("cls",)

    def class_logits(self, out):
        return out["cls"]

    def condition_heads(self, feat_dim, spectral_norm):
        return {"cls": LinearHead(feat_dim, self.num_classes, spectral_norm)}

    def d_term(self, real, fake, real_labels, fake_labels):
        cls = F.cross_entropy(real["cls"], real_labels.y)
        if self.classify_fakes_in_d:
            cls = cls + F.cross_entropy(fake["cls"], fake_labels.y)
        return cls, {"d_cls": cls}

    def g_term(self, fake, fake_labels):
        cls = F.cross_entropy(fake["cls"], fake_labels.y)
        return cls, {"g_cls": cls}


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

    def d_term(self, real, fake, real_labels, fake_labels):
        cls, logs = super().d_term(real, fake, real_labels, fake_labels)
        uniform_ce = -F.log_softmax(fake["cls"], dim=1).mean(1).mean()
        logs["d_uniform"] = uniform_ce
        return cls + uniform_ce, logs


@CONDITIONING.register("tac")
class TwinClassifier(TermConditioning):
    """TAC-GAN's twin classifier C_mi (Gong et al. 2019; seed 004 App. E), an add-on term: D
    trains C_mi on fakes and G fights it, so G no longer just minimizes the conditional entropy
    H(y|x') (which makes AC-GAN miss overlapping classes, seed 004 Fig. A4):

        T_D = CE(C_mi(x'), y'),    T_G = -CE(C_mi(x'), y').

    Alone, `tac` is TAC-GAN = AC-GAN* plus this term (`ac_mod+tac`):

        L_D = adv_D + λ [CE(C(x), y) + CE(C_mi(x'), y')]
        L_G = adv_G + λ [CE(C(x'), y') - CE(C_mi(x'), y')]

    and `d2dce+tac` is ReACGAN + TAC (seed 004 App. E): the twin beside D2D-CE's head. The minus
    sign makes G maximize the twin's error; C_mi must be both trained (D loss) and read (G loss)
    — the public implementation that builds it and never reads it is plain AC-GAN*.
    """

    name = "tac"
    stands_on = "ac_mod"
    term_heads = ("twin_cls",)

    def condition_heads(self, feat_dim, spectral_norm):
        return {"twin_cls": LinearHead(feat_dim, self.num_classes, spectral_norm)}

    def d_term(self, real, fake, real_labels, fake_labels):
        twin = F.cross_entropy(fake["twin_cls"], fake_labels.y)
        return twin, {"d_twin_cls": twin}

    def g_term(self, fake, fake_labels):
        twin = F.cross_entropy(fake["twin_cls"], fake_labels.y)
        return -twin, {"g_twin_cls": twin}
