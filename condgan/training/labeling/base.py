"""The labeling-mode interface (docs/methods.md §3): where a fake's target label comes from and what
condition a real is trained with. Registry `LABELING`; the modes are one module each in this
package (predefined, dynamic, random_categories, classifier, infogan).

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


def batch_rng(seed: int, z: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded by `seed` and the batch's first latent, so that what a sampling
    wrapper draws in a call depends only on that call's inputs (not on earlier calls)."""
    return torch.Generator().manual_seed(seed + int(z[0, 0].mul(1e6).round()) % 1_000_003)


def batch_coupled_predictor(cfg, reads: str) -> Optional[str]:
    """The refusal for modes whose category predictor is D itself when D's outputs depend on the
    batch (the minibatch standard-deviation channel; batch norm is per sample in eval mode)."""
    if cfg.model.d_minibatch_std:
        return (f"model.labeling={cfg.model.labeling} reads {reads} from D, and model.d_minibatch_std="
                f"{cfg.model.d_minibatch_std} makes D's output for an image depend on the other images of "
                "its batch (a category would change with the batch); set model.d_minibatch_std=0")
    return None


def evaluation_classes(cfg, info) -> int:
    """K the evaluator requests classes of: the data's classes for class-conditional runs; 0 for
    multi-label data and for self-labeling runs (their categories are not the data's classes, so
    their generator is sampled with class-balanced categories and scored unconditionally)."""
    if info.multi_label or LABELING.get(cfg.model.labeling).num_categories(cfg):
        return 0
    return info.num_classes
