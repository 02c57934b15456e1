"""CGPGAN's classifier labeling: a classifier Q assigns categories to reals, fakes draw theirs
from a learned prior (seed 000). `model.labeling=classifier`."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.losses.conditioning.base import Labels
from condgan.training.labeling.base import LABELING
from condgan.training.labeling.categorical import CategoricalMode, check_groups_range, joint_probabilities
from condgan.training.optimizers import make_optimizer


PER_CATEGORY_METHODS = ("ca", "ca_inner")


@LABELING.register("classifier")
class ClassifierLabeling(CategoricalMode):
    """CGPGAN (Cho, codebook paper (seed 000) §2, Eqs. 1–10): a classifier Q (its own trunk, built
    like D's with `model.q_width`, and a softmax head of d_l groups of d_c categories) assigns the
    categories; the data's labels are never used for training (kept for evaluation only).

    - reals: c = argmaxonehot(Q(x)), per group, without gradient;
    - fakes: c_f drawn from the learned prior P(C), per group, and given to G;
    - Q, after every G step: λ_cls L_cls + λ_cgp L_cgp on the fakes (`condgan.losses.cgp`);
    - prior: P(C) ← EMA(P(C), E_x Q(x)) every step over the step's reals, with the warm-up
      normalization c − batchmean(c) + 1/d_c until `model.prior_warmup`, which also applies to
      the predictions the reals' categories are read from (as in the author's code).

    D is a per-category head (`ca_inner`, or `ca`, equal for d_l = 1). Q, its optimizer and the
    prior are this mode's state, saved in the checkpoint's `labeling` entry. The prior is logged
    every log interval (`prior_g{group}_{category}` in metrics.jsonl).
    """

    name = "classifier"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        m = cfg.model
        self.d_l, self.d_c = m.cgp_groups, m.cgp_categories
        self.cls_weight, self.cgp_weight = m.cgp_cls_weight, m.cgp_weight
        self.decay, self.warmup = m.prior_decay, m.prior_warmup
        self.q = build_classifier(cfg, sample_shape, self.d_l * self.d_c).to(device)
        self.opt_q = make_optimizer(self.q.parameters(), cfg, m.q_lr, cfg.train.d_betas)
        self.prior = torch.full((self.d_l, self.d_c), 1.0 / self.d_c, device=device)
        self._real_probs: list[torch.Tensor] = []
        self.warming_up = self.warmup > 0
        """Whether the current step is in the warm-up (step < model.prior_warmup); `update(step)`
        moves it to the next step, and the checkpoint keeps it."""

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        m = cfg.model
        if m.conditioning not in PER_CATEGORY_METHODS:
            return (f"model.labeling=classifier needs a per-category discriminator, but model.conditioning="
                    f"{m.conditioning}; use one of: {', '.join(PER_CATEGORY_METHODS)}")
        reason = check_groups_range(cfg)
        if reason:
            return reason
        for key, ok, want in (("q_width", m.q_width >= 1, "≥ 1"), ("q_lr", m.q_lr > 0, "> 0"),
                              ("cgp_cls_weight", m.cgp_cls_weight >= 0, "≥ 0"), ("cgp_weight", m.cgp_weight >= 0, "≥ 0"),
                              ("prior_warmup", m.prior_warmup >= 0, "≥ 0"),
                              ("prior_decay", 0 <= m.prior_decay < 1, "in [0, 1)")):
            if not ok:
                return f"config key 'model.{key}' must be {want}, got {getattr(m, key)}"
        return cls.check_groups(cfg)

    @classmethod
    def discriminator_conditions(cls, cfg, info) -> int:
        return cfg.model.cgp_groups * cfg.model.cgp_categories

    @classmethod
    def discriminator_groups(cls, cfg) -> int:
        return cfg.model.cgp_groups

    def _labels(self, cnd: torch.Tensor) -> Labels:
        return Labels(cnd.argmax(1) if self.d_l == 1 else None, cnd)

    def real(self, x, y):
        from condgan.losses.cgp import argmax_onehot, group_log_softmax, normalize_probabilities

        with torch.no_grad():
            probs = group_log_softmax(self.q(x), self.d_l).exp()
        self._real_probs.append(probs)
        # During the warm-up the reals' categories are read from the normalized predictions too
        # (seed 000 Eqs. 9–10 replace the batch c itself, as the author's code does), so every
        # category gets reals while Q is still untrained.
        return self._labels(argmax_onehot(normalize_probabilities(probs, self.d_l) if self.warming_up else probs,
                                          self.d_l))

    def fake(self, batch_size, generator):
        from condgan.losses.cgp import sample_prior

        return self._labels(sample_prior(self.prior, batch_size, generator))

    def train_networks(self, fake, fake_labels):
        from condgan.losses.cgp import cgp_loss, classification_loss

        fake = fake.detach()
        cls = classification_loss(self.q(fake), fake_labels.cnd, self.d_l)
        cgp = cgp_loss(self.q, fake, fake_labels.cnd, self.d_l)
        loss = self.cls_weight * cls + self.cgp_weight * cgp
        self.opt_q.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients([self.q])
        self.opt_q.step()
        return {"q_cls": cls, "q_cgp": cgp, "q_loss": loss}

    def networks(self):
        return [self.q]

    def update(self, step):
        from condgan.losses.cgp import update_prior

        if self._real_probs:
            probs = self.dist.gather_rows(torch.cat(self._real_probs))  # every rank's reals
            self.prior = update_prior(self.prior, probs, self.decay, self.d_l, normalize=step < self.warmup)
            self._real_probs = []
        self.warming_up = step + 1 < self.warmup
        logs = {"prior_max": self.prior.max()}
        logs.update({f"prior_g{g}_{c}": self.prior[g, c] for g in range(self.d_l) for c in range(self.d_c)})
        return logs

    @staticmethod
    def predictor(q, d_l):
        """argmax of Q: the category for d_l = 1; for d_l > 1 the joint index
        Σ_g c_g · d_c^(d_l−1−g) (group 0 most significant), d_c^d_l categories in all."""
        def predict(x):
            logits = q(x)
            b = logits.shape[0]
            idx = logits.reshape(b, d_l, -1).argmax(2)
            d_c = logits.shape[1] // d_l
            weights = d_c ** torch.arange(d_l - 1, -1, -1, device=idx.device)
            return (idx * weights).sum(1)
        return predict

    @classmethod
    def learned_prior(cls, state):
        return state.get("prior")

    @classmethod
    def restored_predictor(cls, cfg, info, state, discriminator, method, device):
        """Q's joint category probabilities (`joint_probabilities`), rebuilt from the checkpoint."""
        mode = cls(cfg, None, info.num_classes, info.multi_label, device, info.sample_shape)
        mode.load_state_dict(state.get("labeling", {}))
        mode.q.eval().requires_grad_(False)
        return lambda x: joint_probabilities(mode.q(x), mode.d_l)

    def state_dict(self):
        return {"q": self.q.state_dict(), "opt_q": self.opt_q.state_dict(), "prior": self.prior.clone(),
                "warming_up": self.warming_up}

    def load_state_dict(self, state):
        if state:
            self.q.load_state_dict(state["q"])
            self.opt_q.load_state_dict(state["opt_q"])
            self.prior = state["prior"].to(self.device)
            self.warming_up = state.get("warming_up", self.warming_up)


def build_classifier(cfg, sample_shape, outputs: int) -> torch.nn.Module:
    """Q: a D-style trunk (the network's trunk builder with `model.q_width`) + a linear head of
    `outputs` logits (per-group softmax is applied by the losses).

    Q leaves out D's layers that couple the samples of a batch — the minibatch standard-deviation
    channel (`model.d_minibatch_std`) and batch norm (`model.d_norm=batch`, replaced by no
    normalization) — so an image's category never depends on the other images it is classified
    with (`condgan cluster` gives an image the same category alone as in any batch)."""
    import dataclasses

    from condgan.nets import NETWORKS

    q_cfg = dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, d_width=cfg.model.q_width, g_conditioning="none", **per_sample_trunk(cfg.model)))
    _, trunk = NETWORKS.get(cfg.model.net)(q_cfg, sample_shape, 0)
    q = torch.nn.Sequential(trunk, torch.nn.Linear(trunk.out_dim, outputs))
    if cfg.model.equalized_lr:
        from condgan.nets.layers import apply_equalized_lr

        apply_equalized_lr(q)
    return q


def per_sample_trunk(model_cfg) -> dict:
    """The `model.*` settings of a D-style trunk whose output for an image depends on that image
    alone: without the minibatch standard-deviation channel and without batch norm."""
    return {"d_minibatch_std": 0, "d_norm": "none" if model_cfg.d_norm == "batch" else model_cfg.d_norm}
