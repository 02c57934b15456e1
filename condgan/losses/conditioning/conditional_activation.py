"""`ca`: conditional activation GAN (seed 001 §2): one GAN per condition sharing the trunk."""

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


@CONDITIONING.register("ca")
class ConditionalActivation(ConditioningMethod):
    """M logits D_c(h), one per condition, and no separate adversarial head:

    L_D = Σ_c E_real[f_r(D_c(x)) cnd_c] + Σ_c E_fake[f_g(D_c(x')) cnd'_c],
    L_G = Σ_c E_fake[f^G(D_c(x')) cnd'_c],

    with f_r, f_g, f^G the per-sample terms of the adversarial loss (docs/methods.md §1). Multiplying by
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
    """CGPGAN's discriminator (Cho, codebook paper (seed 000) §2, Eqs. 6–7): `ca`'s per-category
    logits read through the inner product with the condition, one GAN per categorical group,

    L_D = (1/d_l) Σ_g E_real[f_r(D_g(x)·c_g)] + (1/d_l) Σ_g E_fake[f_g(D_g(x')·c'_g)],
    L_G = (1/d_l) Σ_g E_fake[f^G(D_g(x')·c'_g)],

    with c the concatenation of d_l one-hot groups c_g (CGPGAN: argmaxonehot(Q(x)) for reals, the
    sampled c_f for fakes) and D_g the d_c logits of group g: each group's chosen logit gets the
    adversarial loss and the groups are averaged, as the author's multi-group code does. The
    gradient penalties differentiate the mean of the chosen logits, (1/d_l) Σ_g D_g·c_g. For a
    single group (d_l = 1, and for attribute vectors) this is Eqs. 6–7 as printed and equals `ca`.
    `groups` = d_l comes from the labeling mode (`discriminator_groups`).
    """

    name = "ca_inner"

    def __init__(self, adversarial, num_classes, cond_weight=None, groups: int = 1):
        super().__init__(adversarial, num_classes, cond_weight)
        self.groups = groups

    @classmethod
    def from_config(cls, cfg, adversarial, num_classes, groups=1):
        return cls(adversarial, num_classes, cfg.model.cond_weight, groups)

    def group_logits(self, out, labels):
        """(B, d_l): the logit D_g·c_g each group's GAN reads."""
        from condgan.losses.cgp import group_scores

        return group_scores(out["cond"], labels.cnd, self.groups)

    def d_loss(self, real, fake, real_labels, fake_labels):
        loss = (self.adv.real_term(self.group_logits(real, real_labels)).mean()
                + self.adv.fake_term(self.group_logits(fake, fake_labels)).mean())
        return loss, {"d_adv": loss}

    def g_loss(self, fake, fake_labels):
        loss = self.adv.gen_term(self.group_logits(fake, fake_labels)).mean()
        return loss, {"g_adv": loss}

    def adv_logit(self, out, labels):
        return self.group_logits(out, labels).mean(1)
