"""Labeling modes (SPEC §3): where a fake's target label comes from and what condition a real
is trained with. Registry `LABELING`.

A mode is a stateful component the training loop calls at fixed points of every step:

    real(x, y)                 the condition a real batch is trained with (dataset labels, or a
                               network's prediction on x)
    fake(n, generator)         the targets proposed for n fakes; `.cnd` is what G receives
                               (None: G is unconditional)
    relabel_fakes(out, labels, method)
                               after D's forward on the fakes: the labels the losses use (dynamic
                               labeling reads D's class logits here)
    update(step)               per-step state update (e.g. a learned class prior); returns logs
    train_networks(fake, labels) after G's step: train the mode's own networks; returns logs
    networks()                 those networks (the trainer keeps them in sync across processes)
    state_dict / load_state_dict
                               whatever the mode learns, saved with the checkpoint

`generator_conditions(cfg, info)` says how many conditions G takes: it comes from the mode, not
from the data set. `check(cfg)` gives a reason a config cannot run, before any work starts;
`labels_needed(cfg)` says what in a config reads the data's labels (refused on unlabeled data).
Modes may add heads on D's trunk (`discriminator_heads`) and loss terms to D's and G's steps
(`extra_loss`). Self-labeling modes (those with `num_categories(cfg) > 0`) give G categorical
codes: their sample grids have one column per category (`category_conditions`) and their
`category_predictor` gives per-category probabilities (clustering metrics, `condgan cluster`).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import Labels
from condgan.registry import Registry
from condgan.training.distributed import SINGLE
from condgan.training.latents import sample_latents

LABELING: Registry[type["LabelingMode"]] = Registry("labeling mode")


def labels_from_data(y: torch.Tensor | None, num_classes: int, multi_label: bool) -> Labels:
    """Dataset labels → Labels (indices + float condition vector)."""
    if y is None:
        return Labels(None, None)
    if multi_label:
        return Labels(None, y.float())
    return Labels(y, F.one_hot(y, num_classes).float())


class LabelingMode:
    """Base class: reals keep their dataset labels, fakes keep their proposed targets, no state."""

    name = "base"
    dist = SINGLE
    """The process group (set by the trainer): modes with networks average their gradients
    through it, and modes with state computed from reals gather the reals of every rank."""

    def __init__(self, cfg, train_labels: torch.Tensor | None, num_classes: int, multi_label: bool,
                 device: torch.device, sample_shape: tuple | None = None):
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.device = device

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        """A reason why this mode cannot run with `cfg`, or None. Called before any work."""
        return None

    @classmethod
    def labels_needed(cls, cfg) -> list[str]:
        """The settings (`key=value`) of `cfg` that train on the data's labels; empty when the
        mode trains on unlabeled data (`data.unlabeled=true`, a flat folder)."""
        return [f"model.{k}={getattr(cfg.model, k)}" for k in ("conditioning", "g_conditioning")
                if getattr(cfg.model, k) != "none"]

    @classmethod
    def generator_conditions(cls, cfg, info) -> int:
        """Length of the condition vector G receives (0: unconditional G)."""
        return info.num_classes if cfg.model.g_conditioning != "none" else 0

    @classmethod
    def num_categories(cls, cfg) -> int:
        """Categories a self-labeling mode gives G (d_c^d_l joint categories); 0 for the others."""
        return 0

    @classmethod
    def random_conditions(cls, cfg, info, n: int, generator: torch.Generator, device) -> torch.Tensor | None:
        """n conditions for G drawn from `generator` as training draws them (uniform classes here),
        e.g. for re-estimating the EMA generator's batch-norm statistics."""
        from condgan.training.sampling import condition_vectors

        y = torch.randint(max(info.num_classes, 1), (n,), generator=generator)
        return condition_vectors(y.tolist(), info.num_classes, device)

    @classmethod
    def discriminator_heads(cls, cfg, feat_dim: int) -> dict[str, torch.nn.Module]:
        """Extra heads on D's trunk owned by the mode (trained with D's optimizer)."""
        return {}

    def extra_loss(self, out: dict[str, torch.Tensor], labels: Labels, phase: str):
        """A loss term the mode adds to D's (`phase="d"`) or G's (`"g"`) loss from D's outputs on
        the step's fakes, with its logs; (None, {}) when the mode adds none."""
        return None, {}

    def real(self, x: torch.Tensor, y: torch.Tensor | None) -> Labels:
        return labels_from_data(y, self.num_classes, self.multi_label)

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        raise NotImplementedError

    def relabel_fakes(self, out: dict[str, torch.Tensor], labels: Labels, method) -> Labels:
        return labels

    def update(self, step: int) -> dict[str, torch.Tensor]:
        return {}

    def train_networks(self, fake: torch.Tensor, fake_labels: Labels) -> dict[str, torch.Tensor]:
        """After G's step: train the mode's own networks (if any) on the (detached) fakes; logs.
        Under several processes: `self.dist.average_gradients(self.networks())` between backward
        and the optimizer step."""
        return {}

    def networks(self) -> list[torch.nn.Module]:
        """The mode's own trained networks (none by default)."""
        return []

    @classmethod
    def discriminator_conditions(cls, cfg, info) -> int:
        """How many conditions D's conditioning method is built for (default: the data's classes)."""
        return info.num_classes

    @classmethod
    def discriminator_groups(cls, cfg) -> int:
        """How many one-hot groups D's conditions are made of (d_l; 1 unless the mode gives D
        several categorical groups)."""
        return 1

    @classmethod
    def restored_predictor(cls, cfg, info, state: dict, discriminator, method, device):
        """`category_predictor` of a run restored from checkpoint `state` (modes with their own
        networks rebuild them from their saved state)."""
        return cls.category_predictor(discriminator, method)

    @classmethod
    def sampling_generator(cls, cfg, generator: torch.nn.Module, discriminator: torch.nn.Module,
                           method, prior: torch.Tensor | None = None) -> torch.nn.Module:
        """What sampling and evaluation call as `G(z, cnd)` to get images of the requested classes.
        `prior`: the (d_l, d_c) category prior a self-labeling run's generator draws categories
        from when called without a condition (`learned_prior`; None: every category equally often)."""
        return generator

    @classmethod
    def learned_prior(cls, state: dict) -> torch.Tensor | None:
        """The (d_l, d_c) category prior P(C) a mode learned, read from its `state_dict()` (None
        when the mode draws its categories uniformly)."""
        return None

    @classmethod
    def category_predictor(cls, discriminator: torch.nn.Module, method):
        """`x ↦ (B, K) category probabilities` for modes that discover or assign categories with a
        network (what clustering ACC / NMI / ARI and `condgan cluster` read: the category is the
        argmax), or None."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@LABELING.register("predefined")
class PredefinedLabeling(LabelingMode):
    """Targets sampled from a class prior and given to G; reals keep their dataset labels.

    Prior `uniform` (default) or `data` (the train split's class frequencies). For multi-hot
    attribute data, targets are attribute vectors of random training samples, so that the joint
    distribution of attributes (e.g. "male" and "beard") stays realistic. Unlabeled data (no
    classes) gives empty targets: an unconditional GAN.
    """

    name = "predefined"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        self.label_bank = train_labels.to(device).float() if multi_label else None
        self.prior = None  # uniform: randint, cheaper than multinomial
        if not multi_label and num_classes and cfg.model.label_prior == "data":
            self.prior = torch.bincount(train_labels, minlength=num_classes).float().to(device)
            self.prior /= self.prior.sum()

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        if self.multi_label:
            idx = torch.randint(len(self.label_bank), (batch_size,), device=self.device, generator=generator)
            return Labels(None, self.label_bank[idx])
        if not self.num_classes:
            # Unlabeled data (conditioning=none, g_conditioning=none): there is no class to
            # draw, and drawing nothing keeps the RNG stream of the latents unchanged.
            return Labels(None, None)
        if self.prior is None:
            y = torch.randint(self.num_classes, (batch_size,), device=self.device, generator=generator)
        else:
            y = torch.multinomial(self.prior, batch_size, replacement=True, generator=generator)
        return labels_from_data(y, self.num_classes, False)


@LABELING.register("dynamic")
class DynamicLabeling(LabelingMode):
    """Dynamic labeling (Zhou et al., "Activation Maximization Generative Adversarial Nets",
    §5.1): G is unconditional, and each fake's target is the class D currently assigns it,

        y'_i = argmax_{k<K} D_k(x'_i),   taken without gradient, per sample, every forward,

    where D_k are the method's class logits (`ConditioningMethod.class_logits`). Reals keep their
    dataset labels, so D's class head is still trained as a classifier of the data's classes.
    Valid with every method that has class logits (label, am, ac, ac_mod, ac_plus, tac, mh).
    """

    name = "dynamic"

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        from condgan.losses.conditioning import CONDITIONING

        method = CONDITIONING.get(cfg.model.conditioning)
        if not method.has_class_logits:
            with_logits = [n for n in CONDITIONING.names() if CONDITIONING.get(n).has_class_logits]
            return (f"model.labeling=dynamic reads D's class logits, which model.conditioning="
                    f"{cfg.model.conditioning} does not have; use one of: {', '.join(with_logits)}")
        if cfg.data.attributes:
            return "model.labeling=dynamic needs single class labels, but data.attributes makes multi-hot conditions"
        return batch_coupled_predictor(cfg, "each fake's class")

    @classmethod
    def labels_needed(cls, cfg) -> list[str]:
        return ["model.labeling=dynamic (D's class head learns the data's classes)"]

    @classmethod
    def generator_conditions(cls, cfg, info) -> int:
        return 0

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        return Labels(None, None)

    def relabel_fakes(self, out, labels, method) -> Labels:
        y = method.class_logits(out).detach().argmax(1)
        return labels_from_data(y, self.num_classes, False)

    @classmethod
    def sampling_generator(cls, cfg, generator, discriminator, method, prior=None):
        return ClassifiedGenerator(generator, discriminator, method, cfg.seed)

    @classmethod
    def category_predictor(cls, discriminator, method):
        """D's class head: the labels dynamic labeling gave the fakes, read on any images
        (softmax of the class logits)."""
        return lambda x: method.class_logits(discriminator(x, None)).softmax(1)


class ClassifiedGenerator(torch.nn.Module):
    """An unconditional generator made class-conditional by D's class head, for sampling and
    evaluating a dynamic-labeling run: `forward(z, cnd)` returns G(z) for the rows whose D-predicted
    class (the label training gave that fake) is the requested one, and redraws the latent of every
    other row from a private seeded generator, up to `max_rounds` times. Rows that never match keep
    their last draw and are counted in `misses` (a class G does not produce)."""

    def __init__(self, generator: torch.nn.Module, discriminator: torch.nn.Module, method, seed: int,
                 max_rounds: int = 50):
        super().__init__()
        self.generator, self.discriminator, self.method = generator, discriminator, method
        self.seed, self.max_rounds = seed, max_rounds
        self.truncation: float | None = None
        """Truncation of the redrawn latents; `condgan.training.sampling.truncated` sets it to the
        truncation of the first draw for the duration of a call."""
        self.misses = 0

    @torch.no_grad()
    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None) -> torch.Tensor:
        x = self.generator(z, None)
        if cnd is None:
            return x
        # D judges in eval mode (no power-iteration or BN-statistics updates); its own mode is
        # restored, since during training this is the discriminator being trained.
        was_training = self.discriminator.training
        self.discriminator.eval()
        try:
            return self._resample(x, z, cnd.argmax(1))
        finally:
            self.discriminator.train(was_training)

    def _resample(self, x: torch.Tensor, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        rng = batch_rng(self.seed, z)
        todo = torch.ones(len(z), dtype=torch.bool, device=z.device)
        for _ in range(self.max_rounds):
            todo = self.method.class_logits(self.discriminator(x, None)).argmax(1) != target
            if not todo.any():
                break
            fresh = sample_latents(int(todo.sum()), z.shape[1], rng, self.truncation, device=z.device)
            x[todo] = self.generator(fresh, None)
        else:
            todo = self.method.class_logits(self.discriminator(x, None)).argmax(1) != target
        self.misses += int(todo.sum())
        return x


def batch_rng(seed: int, z: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded by `seed` and the batch's first latent, so that what a sampling
    wrapper draws in a call depends only on that call's inputs (not on earlier calls)."""
    return torch.Generator().manual_seed(seed + int(z[0, 0].mul(1e6).round()) % 1_000_003)


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


@LABELING.register("random")
class RandomCategories(CategoricalMode):
    """Categories drawn uniformly (d_l groups of d_c: `model.cgp_groups`, `model.cgp_categories`)
    and given to G only; D is unconditional (`model.conditioning=none`) and nothing assigns
    categories to reals: seed 000's "vanilla GAN with codebook" (§4) with
    `model.g_conditioning=codebook`. No category predictor."""

    name = "random"

    def __init__(self, cfg, train_labels, num_classes, multi_label, device, sample_shape=None):
        super().__init__(cfg, train_labels, num_classes, multi_label, device)
        self.d_l, self.d_c = self.groups(cfg)
        self.prior = torch.full((self.d_l, self.d_c), 1.0 / self.d_c, device=device)

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.model.conditioning != "none":
            return (f"model.labeling=random gives categories to G only; D must be unconditional "
                    f"(model.conditioning=none), got model.conditioning={cfg.model.conditioning}")
        return _check_groups_range(cfg) or cls.check_groups(cfg)

    @classmethod
    def discriminator_conditions(cls, cfg, info) -> int:
        return 0

    def real(self, x, y):
        return Labels(None, None)

    def fake(self, batch_size, generator):
        from condgan.losses.cgp import sample_prior

        return Labels(None, sample_prior(self.prior, batch_size, generator))


def per_sample_trunk(model_cfg) -> dict:
    """The `model.*` settings of a D-style trunk whose output for an image depends on that image
    alone: without the minibatch standard-deviation channel and without batch norm."""
    return {"d_minibatch_std": 0, "d_norm": "none" if model_cfg.d_norm == "batch" else model_cfg.d_norm}


def batch_coupled_predictor(cfg, reads: str) -> Optional[str]:
    """The refusal for modes whose category predictor is D itself when D's outputs depend on the
    batch (the minibatch standard-deviation channel; batch norm is per sample in eval mode)."""
    if cfg.model.d_minibatch_std:
        return (f"model.labeling={cfg.model.labeling} reads {reads} from D, and model.d_minibatch_std="
                f"{cfg.model.d_minibatch_std} makes D's output for an image depend on the other images of "
                "its batch (a category would change with the batch); set model.d_minibatch_std=0")
    return None


def _check_groups_range(cfg) -> Optional[str]:
    m = cfg.model
    for key, ok, want in (("cgp_groups", m.cgp_groups >= 1, "≥ 1"), ("cgp_categories", m.cgp_categories >= 2, "≥ 2")):
        if not ok:
            return f"config key 'model.{key}' must be {want}, got {getattr(m, key)}"
    return None


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
        from condgan.training.trainer import make_optimizer

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
        reason = _check_groups_range(cfg)
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


from condgan.training import infogan  # noqa: E402,F401  (registers model.labeling=infogan)
