"""Dynamic labeling (Zhou et al., AM-GAN §5.1): an unconditional G whose fakes are labeled by D's
class head. `model.labeling=dynamic`; `ClassifiedGenerator` samples such a run class by class."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.losses.conditioning.base import Labels
from condgan.training.labeling.base import (LABELING, LabelingMode, batch_coupled_predictor, batch_rng,
                                            labels_from_data)
from condgan.training.latents import sample_latents


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
