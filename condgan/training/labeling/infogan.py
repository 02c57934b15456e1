"""InfoGAN as a labeling mode (Chen et al. 2016, "InfoGAN"; lecture 5 (seed 002), InfoGAN):
`model.labeling=infogan`.

G receives a categorical code c ~ Uniform{0..K−1} (K = `model.info_categories`, as a one-hot) and
`model.info_continuous` continuous codes u ~ U[−1, 1], concatenated as its condition vector
`[onehot(c), u]` (G's conditioning input: concat / cbn; the codebook reads one-hots only). D is
unconditional (`model.conditioning=none`) and carries one more head on its trunk, the Q head
`info(h)` of K + M outputs. The variational mutual-information bound gives the loss

    L_I = CE(softmax(q_cat), c) + ½ Σ_m (u_m − q_m)²            (Gaussian of unit variance for u,
                                                                   up to a constant)

on the step's fakes, added with weight λ_I = `model.info_weight` to D's loss (trains the Q head
and D's trunk; the fakes are detached there) and to G's loss (trains G through the frozen D):
min_{G,Q} V(D, G) − λ_I·I(c; G(z, c)) with I bounded below by −L_I. The category of an image is the
argmax of the Q head's categorical part (clustering, `condgan cluster`).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import Labels, LinearHead
from condgan.training.labeling.base import LABELING, batch_coupled_predictor
from condgan.training.labeling.categorical import CategoricalMode

INFO_HEAD = "info"


def info_loss(q_out: torch.Tensor, labels: Labels, categories: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_cat, L_cont) of InfoGAN on a batch: the mean cross-entropy of the categorical part of the
    Q head `q_out[:, :K]` against the drawn category, and the mean over the batch of
    ½ Σ_m (u_m − q_out[:, K + m])² for the continuous codes (0 when there are none)."""
    cat = F.cross_entropy(q_out[:, :categories], labels.y)
    u = labels.cnd[:, categories:]
    cont = 0.5 * (u - q_out[:, categories:]).square().sum(1).mean() if u.shape[1] else q_out.new_zeros(())
    return cat, cont


@LABELING.register("infogan")
class InfoGANLabeling(CategoricalMode):
    """InfoGAN (see the module docstring): categorical + continuous codes for G, a Q head on D's
    trunk, λ_I L_I in D's and G's steps. State: none beyond D's Q head (in D's checkpoint)."""

    name = "infogan"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        self.k, self.m = cfg.model.info_categories, cfg.model.info_continuous
        self.weight = cfg.model.info_weight

    @classmethod
    def groups(cls, cfg) -> tuple[int, int]:
        return 1, cfg.model.info_categories

    @classmethod
    def continuous_codes(cls, cfg) -> int:
        return cfg.model.info_continuous

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        m = cfg.model
        if m.conditioning != "none":
            return (f"model.labeling=infogan uses an unconditional D with a Q head; set model.conditioning=none "
                    f"(got {m.conditioning})")
        for key, ok, want in (("info_categories", m.info_categories >= 2, "≥ 2"),
                              ("info_continuous", m.info_continuous >= 0, "≥ 0"),
                              ("info_weight", m.info_weight >= 0, "≥ 0")):
            if not ok:
                return f"config key 'model.{key}' must be {want}, got {getattr(m, key)}"
        if m.g_conditioning == "codebook" and m.info_continuous:
            return ("model.g_conditioning=codebook reads one-hot categories only; with model.labeling=infogan "
                    "set model.info_continuous=0, or use g_conditioning=concat")
        return batch_coupled_predictor(cfg, "the category of an image (the Q head)") or cls.check_groups(cfg)

    @classmethod
    def discriminator_conditions(cls, cfg, info) -> int:
        return 0

    @classmethod
    def discriminator_heads(cls, cfg, feat_dim):
        return {INFO_HEAD: LinearHead(feat_dim, cfg.model.info_categories + cfg.model.info_continuous,
                                      cfg.model.d_spectral_norm)}

    def real(self, x, y):
        return Labels(None, None)

    def fake(self, batch_size, generator):
        c = torch.randint(self.k, (batch_size,), device=self.device, generator=generator)
        cnd = F.one_hot(c, self.k).float()
        if self.m:
            u = torch.rand(batch_size, self.m, device=self.device, generator=generator) * 2 - 1
            cnd = torch.cat([cnd, u], 1)
        return Labels(c, cnd)

    def extra_loss(self, out, labels, phase):
        q_out = out[INFO_HEAD]
        if q_out.dim() == 1:  # LinearHead squeezes one output; K ≥ 2 never has one
            q_out = q_out[:, None]
        cat, cont = info_loss(q_out, labels, self.k)
        loss = self.weight * (cat + cont)
        return loss, {f"{phase}_info_cat": cat, f"{phase}_info_cont": cont, f"{phase}_info": loss}

    @classmethod
    def restored_predictor(cls, cfg, info, state, discriminator, method, device):
        """The Q head's categorical softmax on D's trunk."""
        k = cfg.model.info_categories
        return lambda x: discriminator(x, None)[INFO_HEAD][:, :k].softmax(1)
