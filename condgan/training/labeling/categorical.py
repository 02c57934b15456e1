"""The base of the self-labeling modes (random, classifier, infogan): G gets categorical codes,
d_l one-hot groups of d_c categories, and the data's labels are never read in training."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.training.labeling.base import LabelingMode, batch_rng


def group_onehots(index: torch.Tensor, d_l: int, d_c: int) -> torch.Tensor:
    """Joint category indices (B,) in [0, d_c^d_l) → (B, d_l·d_c) concatenated one-hots, group 0
    the most significant digit: index = Σ_g c_g · d_c^(d_l−1−g)."""
    digits = [(index // d_c ** (d_l - 1 - g)) % d_c for g in range(d_l)]
    return torch.cat([F.one_hot(c, d_c).float() for c in digits], dim=1)


def joint_probabilities(logits: torch.Tensor, d_l: int) -> torch.Tensor:
    """(B, d_l·d_c) logits → (B, d_c^d_l) probabilities of the joint categories: the product of
    the per-group softmaxes, ordered as `group_onehots` numbers them (d_l = 1: the softmax)."""
    b = logits.shape[0]
    groups = logits.reshape(b, d_l, -1).softmax(2)
    joint = groups[:, 0]
    for g in range(1, d_l):
        joint = (joint[:, :, None] * groups[:, g][:, None, :]).reshape(b, -1)
    return joint


class CategoricalMode(LabelingMode):
    """Base of the self-labeling modes: G gets `d_l` one-hot groups of `d_c` categories (plus
    `continuous_codes(cfg)` numbers for InfoGAN); the data's labels are never read in training.

    Sampling and evaluation call the generator through `CategoryGenerator`: without a condition
    it draws categories from the run's learned prior (`learned_prior`), or cycles through the joint
    categories when the mode has none (or the caller asks for uniform categories); sample grids
    have one column per joint category (`category_conditions`)."""

    @classmethod
    def groups(cls, cfg) -> tuple[int, int]:
        """(d_l, d_c)."""
        return cfg.model.cgp_groups, cfg.model.cgp_categories

    @classmethod
    def continuous_codes(cls, cfg) -> int:
        return 0

    @classmethod
    def labels_needed(cls, cfg) -> list[str]:
        return []

    @classmethod
    def num_categories(cls, cfg) -> int:
        d_l, d_c = cls.groups(cfg)
        return d_c ** d_l

    @classmethod
    def generator_conditions(cls, cfg, info) -> int:
        d_l, d_c = cls.groups(cfg)
        return d_l * d_c + cls.continuous_codes(cfg)

    @classmethod
    def category_conditions(cls, cfg, index: torch.Tensor) -> torch.Tensor:
        """G's conditions for joint category indices (continuous codes, if any, at 0)."""
        d_l, d_c = cls.groups(cfg)
        onehots = group_onehots(index, d_l, d_c)
        extra = cls.continuous_codes(cfg)
        return torch.cat([onehots, onehots.new_zeros(len(index), extra)], 1) if extra else onehots

    @classmethod
    def random_conditions(cls, cfg, info, n, generator, device):
        index = torch.randint(cls.num_categories(cfg), (n,), generator=generator)
        return cls.category_conditions(cfg, index).to(device)

    @classmethod
    def check_groups(cls, cfg) -> Optional[str]:
        m = cfg.model
        if m.g_conditioning == "none":
            return f"model.labeling={cls.name} gives G its categories; set model.g_conditioning (e.g. concat or codebook)"
        if cfg.data.attributes:
            return f"model.labeling={cls.name} discovers single categories; remove data.attributes"
        d_l, _ = cls.groups(cfg)
        if m.g_conditioning == "codebook" and m.codebook_groups != d_l:
            return (f"model.codebook_groups={m.codebook_groups} must equal the {d_l} categorical group(s) "
                    f"of model.labeling={cls.name} (one codebook group per categorical group)")
        return None

    @classmethod
    def sampling_generator(cls, cfg, generator, discriminator, method, prior=None):
        return CategoryGenerator(generator, lambda index: cls.category_conditions(cfg, index),
                                 cls.num_categories(cfg), prior, cfg.seed, cls.continuous_codes(cfg))


class CategoryGenerator(torch.nn.Module):
    """The generator of a self-labeling run as sampling and evaluation call it: `forward(z, cnd)`
    passes G's own conditions through. Without a condition (`cnd=None`: evaluation, whose fakes
    are scored like an unconditional generator's) each row's categories are drawn per group from
    `prior` (d_l, d_c) — the prior P(C) the run learned, as training draws them (seed 000 §2) —
    from a generator seeded by `seed` and the batch's first latent (`batch_rng`); with no prior,
    row i gets the joint category i mod K, every category equally often."""

    def __init__(self, generator: torch.nn.Module, conditions, num_categories: int,
                 prior: torch.Tensor | None = None, seed: int = 0, continuous_codes: int = 0):
        super().__init__()
        self.generator, self.conditions, self.num_categories = generator, conditions, num_categories
        self.prior, self.seed, self.continuous_codes = prior, seed, continuous_codes

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        if cnd is None:
            if self.prior is None:
                cnd = self.conditions(torch.arange(len(z)) % self.num_categories).to(z.device)
            else:
                from condgan.losses.cgp import sample_prior

                cnd = sample_prior(self.prior.cpu(), len(z), batch_rng(self.seed, z))
                if self.continuous_codes:
                    cnd = torch.cat([cnd, cnd.new_zeros(len(z), self.continuous_codes)], 1)
                cnd = cnd.to(z.device)
        return self.generator(z, cnd)


def check_groups_range(cfg) -> Optional[str]:
    m = cfg.model
    for key, ok, want in (("cgp_groups", m.cgp_groups >= 1, "≥ 1"), ("cgp_categories", m.cgp_categories >= 2, "≥ 2")):
        if not ok:
            return f"config key 'model.{key}' must be {want}, got {getattr(m, key)}"
    return None
