"""ADC-GAN (Hou et al. 2022, "Conditional GANs with Auxiliary Discriminative Classifier", ICML,
§3.2, Eqs. 8–9): `model.conditioning=adc`. Heads: adversarial logit ψ(h) and one classifier
C(h) over 2K classes, "class k of real data" (index k) and "class k of generated data" (index
K + k):

    L_D = adv_D + λ [CE(C(x), y) + CE(C(x'), K + y')]
    L_G = adv_G + λ [CE(C(x'), y') − CE(C(x'), K + y')]

D's classifier learns to tell real from fake *within* each class; G makes its fakes of class y'
look like real class y' and unlike fake class y'. Unlike AC-GAN's classifier (which G can
satisfy with easily classified, collapsed samples), the discriminative classifier's optimum
makes G match the joint distribution P(x, y) (the paper's Theorem 1). The reference
implementation orders the 2K logits as (real 0, fake 0, real 1, ...); the order is a relabeling
and changes nothing. D's class logits (dynamic labeling) are the real half C(x)[:K].
"""

import torch.nn.functional as F

from condgan.losses.conditioning.base import CONDITIONING, LinearHead, TermConditioning


@CONDITIONING.register("adc")
class AuxiliaryDiscriminativeClassifier(TermConditioning):
    """See the module docstring. A term (`TermConditioning`): it composes, e.g. `adc+tac`."""

    name = "adc"
    has_class_logits = True
    cond_loss_key = "d_adc"
    term_heads = ("adc",)

    def condition_heads(self, feat_dim, spectral_norm):
        return {"adc": LinearHead(feat_dim, 2 * self.num_classes, spectral_norm)}

    def class_logits(self, out):
        return out["adc"][:, :self.num_classes]

    def d_term(self, real, fake, real_labels, fake_labels):
        cls = (F.cross_entropy(real["adc"], real_labels.y)
               + F.cross_entropy(fake["adc"], fake_labels.y + self.num_classes))
        return cls, {"d_adc": cls}

    def g_term(self, fake, fake_labels):
        real_class = F.cross_entropy(fake["adc"], fake_labels.y)
        fake_class = F.cross_entropy(fake["adc"], fake_labels.y + self.num_classes)
        cls = real_class - fake_class
        return cls, {"g_adc": cls}
