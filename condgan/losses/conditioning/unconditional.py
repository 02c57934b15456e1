"""`none`: an unconditional discriminator (one adversarial logit ψ(h)); the plain GAN losses."""

from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, LinearHead


@CONDITIONING.register("none")
class Unconditional(ConditioningMethod):
    """L_D = adv_D(ψ(h(x)), ψ(h(x'))),  L_G = adv_G(ψ(h(x')))."""

    name = "none"
    multi_label = True

    def heads(self, feat_dim, spectral_norm):
        return {"adv": LinearHead(feat_dim, 1, spectral_norm)}

    def d_loss(self, real, fake, real_labels, fake_labels):
        loss = self.adv.d_loss(real["adv"], fake["adv"])
        return loss, {"d_adv": loss}

    def g_loss(self, fake, fake_labels):
        loss = self.adv.g_loss(fake["adv"])
        return loss, {"g_adv": loss}
