"""The losses of BiGAN / ALI and BigBiGAN (`model.encoder`) on the discriminator's scores of pairs:
real pairs (x, E(x)) and fake pairs (G(z), z).

D learns to tell the pairs apart; G and the encoder E are trained together, against it, with
the labels swapped: G wants its pairs judged real, E wants the real pairs judged fake (Donahue
et al. 2017, "Adversarial Feature Learning", §3, Eq. 3: min_{G,E} max_D V(D, E, G); Dumoulin et
al. 2017, "Adversarially Learned Inference", §2). With a pair score s and the adversarial loss's
per-sample terms f_r, f_g, f^G (docs/methods.md §1):

    L_D   = E f_r(s(x, E(x))) + E f_g(s(G(z), z))
    L_G,E = E f^G(s(G(z), z)) + E f^E(s(x, E(x)))

f^E is the generator's term for the opposite label (`ENCODER_TERMS`): ns softplus(s) (the
non-saturating form, −log(1 − σ(s))), minimax −softplus(−s) (= log σ(s), the saturating form of
the minimax game), hinge and wasserstein s (BigBiGAN's linear ℓ_EG = y·s with y = +1 for
encoder pairs), ls s² (the fake target 0).

Which scores (`PairLosses`, `unary`):

* bigan: the conditioning method's heads sit on the joint features, so its own D loss is the
  pair loss (its adversarial logit s = D(x, z), plus whatever class terms it has), G's loss is
  its G loss on the fake pairs, and E's term reads its adversarial logit on the real pairs;
* bigbigan (Donahue & Simonyan 2019, "Large Scale Adversarial Representation Learning", §2,
  Eqs. 1–4): the method's losses on the unary image score s_x, plus the pair loss above on the
  unary latent score s_z and on the joint score s_xz, summed. G's term on s_z(z) is left out: a
  fake pair's latent is drawn, not generated, so it carries no gradient to G or E.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from condgan.losses.adversarial import AdversarialLoss
from condgan.losses.conditioning.base import ConditioningMethod, Labels
from condgan.nets.joint import SCORE_XZ, SCORE_Z

ENCODER_TERMS = {
    "ns": F.softplus,
    "minimax": lambda s: -F.softplus(-s),
    "hinge": lambda s: s,
    "wasserstein": lambda s: s,
    "ls": torch.square,
}


class PairLosses:
    """L_D and L_{G,E} of the module docstring for a conditioning method and its adversarial loss."""

    def __init__(self, method: ConditioningMethod, adversarial: AdversarialLoss, unary: bool):
        self.method, self.adv, self.unary = method, adversarial, unary
        self.encoder_term = ENCODER_TERMS[adversarial.name]

    def d_loss(self, out_r, out_f, real_labels: Labels, fake_labels: Labels):
        loss, logs = self.method.d_loss(out_r, out_f, real_labels, fake_labels)
        if self.unary:
            for key in (SCORE_Z, SCORE_XZ):
                term = self.adv.d_loss(out_r[key], out_f[key])
                logs[f"d_{key}"] = term
                loss = loss + term
        return loss, logs

    def ge_loss(self, out_r, out_f, real_labels: Labels, fake_labels: Labels):
        loss, logs = self.method.g_loss(out_f, fake_labels)
        if self.unary:
            joint = self.adv.g_loss(out_f[SCORE_XZ])
            logs[f"g_{SCORE_XZ}"] = joint
            encoder = self.encoder_term(out_r[SCORE_Z]).mean() + self.encoder_term(out_r[SCORE_XZ]).mean()
            loss = loss + joint
        else:
            encoder = self.encoder_term(self.method.adv_logit(out_r, real_labels)).mean()
        logs["e_loss"] = encoder
        return loss + encoder, logs
