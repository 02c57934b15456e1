"""`ca`: conditional activation GAN (seed 001 §2): one GAN per condition sharing the trunk."""

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


@CONDITIONING.register("ca")
class ConditionalActivation(ConditioningMethod):
    """M logits D_c(h), one per condition, and no separate adversarial head:

    L_D = Σ_c E_real[f_r(D_c(x)) cnd_c] + Σ_c E_fake[f_g(D_c(x')) cnd'_c],
    L_G = Σ_c E_fake[f^G(D_c(x')) cnd'_c],

    with f_r, f_g, f^G the per-sample terms of the adversarial loss (SPEC §1). Multiplying by
    `cnd` means each condition's GAN sees only the samples that carry it; with single labels
    cnd = one-hot(y), with attributes it is multi-hot.
    """

    name = "ca"
    multi_label = True

    def heads(self, feat_dim, spectral_norm):
        return {"cond": LinearHead(feat_dim, self.num_classes, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        real_part = (self.adv.real_term(real["cond"]) * real_labels.cnd).sum(1).mean()
        fake_part = (self.adv.fake_term(fake["cond"]) * fake_labels.cnd).sum(1).mean()
        loss = real_part + fake_part
        return loss, {"d_adv": loss}

    def g_loss(self, fake, fake_labels):
        loss = (self.adv.gen_term(fake["cond"]) * fake_labels.cnd).sum(1).mean()
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        # The logits of the conditions the sample carries: what its GANs' losses read.
        return (out["cond"] * labels.cnd).sum(1)


@CONDITIONING.register("ca_inner")
class ConditionalActivationInner(ConditionalActivation):
    """CGPGAN's discriminator (Cho, codebook paper (seed 000) §2, Eqs. 5–6): `ca`'s per-category
    logits read through the inner product with the condition,

    L_D = E_real[f_r(D(x)·cnd)] + E_fake[f_g(D(x')·cnd')],   L_G = E_fake[f^G(D(x')·cnd')],

    with cnd the concatenation of d_l one-hot groups (CGPGAN: argmaxonehot(Q(x)) for reals, the
    sampled c_f for fakes). For a single one-hot (d_l = 1) this equals `ca`; for d_l > 1 the
    adversarial loss is applied once to the sum of the chosen logits, not once per group.
    """

    name = "ca_inner"

    def d_loss(self, real, fake, real_labels, fake_labels):
        loss = (self.adv.real_term(self.adv_logit(real, real_labels)).mean()
                + self.adv.fake_term(self.adv_logit(fake, fake_labels)).mean())
        return loss, {"d_adv": loss}

    def g_loss(self, fake, fake_labels):
        loss = self.adv.gen_term(self.adv_logit(fake, fake_labels)).mean()
        return loss, {"g_adv": loss}
