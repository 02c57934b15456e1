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
    state_dict / load_state_dict
                               whatever the mode learns, saved with the checkpoint

`generator_conditions(cfg, info)` says how many conditions G takes: it comes from the mode, not
from the data set. `check(cfg)` gives a reason a config cannot run, before any work starts.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from condgan.losses.conditioning.base import Labels
from condgan.registry import Registry
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

    def __init__(self, cfg, train_labels: torch.Tensor | None, num_classes: int, multi_label: bool,
                 device: torch.device):
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.device = device

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        """A reason why this mode cannot run with `cfg`, or None. Called before any work."""
        return None

    @classmethod
    def generator_conditions(cls, cfg, info) -> int:
        """Length of the condition vector G receives (0: unconditional G)."""
        return info.num_classes if cfg.model.g_conditioning != "none" else 0

    def real(self, x: torch.Tensor, y: torch.Tensor | None) -> Labels:
        return labels_from_data(y, self.num_classes, self.multi_label)

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        raise NotImplementedError

    def relabel_fakes(self, out: dict[str, torch.Tensor], labels: Labels, method) -> Labels:
        return labels

    def update(self, step: int) -> dict[str, torch.Tensor]:
        return {}

    @classmethod
    def sampling_generator(cls, generator: torch.nn.Module, discriminator: torch.nn.Module, method,
                           seed: int) -> torch.nn.Module:
        """What sampling and evaluation call as `G(z, cnd)` to get images of the requested classes."""
        return generator

    @classmethod
    def category_predictor(cls, discriminator: torch.nn.Module, method):
        """`x ↦ (B,) category indices` for modes that discover or assign categories with a network
        (what clustering ACC / NMI / ARI and `condgan cluster` read), or None."""
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

    def __init__(self, cfg, train_labels, num_classes, multi_label, device):
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
        return None

    @classmethod
    def generator_conditions(cls, cfg, info) -> int:
        return 0

    def fake(self, batch_size: int, generator: torch.Generator) -> Labels:
        return Labels(None, None)

    def relabel_fakes(self, out, labels, method) -> Labels:
        y = method.class_logits(out).detach().argmax(1)
        return labels_from_data(y, self.num_classes, False)

    @classmethod
    def sampling_generator(cls, generator, discriminator, method, seed):
        return ClassifiedGenerator(generator, discriminator, method, seed)

    @classmethod
    def category_predictor(cls, discriminator, method):
        """D's class head: the labels dynamic labeling gave the fakes, read on any images."""
        return lambda x: method.class_logits(discriminator(x, None)).argmax(1)


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
        """Truncation of the redrawn latents (callers that truncate the first draw set it)."""
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
        # Seeded by the batch's first latent, so a call's redraws depend only on its inputs.
        rng = torch.Generator().manual_seed(self.seed + int(z[0, 0].mul(1e6).round()) % 1_000_003)
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
