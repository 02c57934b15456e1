"""The per-step additions of the StyleGAN2 family and the limited-data methods, each off unless
configured, behind one object the training step calls at fixed points:

- generation: style mixing (`reg.style_mixing`, style-based G) in every training forward of G;
- D inputs: ADA (`ada.*`) — with DiffAugment (`train.diffaugment`) — on every D input;
- D step: APA (`apa.*`) replaces reals by fakes; the reals' adversarial logits feed ADA's and
  APA's r_t; LeCam (`reg.lecam`) adds its term; the gradient penalties run lazily
  (`reg.d_interval`: every k-th D step, weight × k);
- G step: the lazy path-length penalty (`reg.pl`, every `reg.pl_interval`-th G step, × interval);
- after the step: ADA's and APA's p adjustments.

Everything that carries over between steps (the two p's and their r_t accumulators, LeCam's
anchors, the path-length mean) is in `state_dict()`, which the checkpoint keeps, so a resumed run
stays bit-identical. The formulas are in the modules this one wires up: condgan.adaptive,
condgan.losses.lecam, condgan.losses.path_length, condgan.training.style_mixing.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from condgan.adaptive import AdaptiveAugment, AdaptiveProbability, adaptive_enabled, pseudo_augment
from condgan.augment import DiffAugment
from condgan.losses.conditioning.base import Labels
from condgan.losses.lecam import LeCam
from condgan.losses.path_length import PathLengthPenalty
from condgan.training.style_mixing import generate

Reduce = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
FakeBatch = Callable[[int], tuple[torch.Tensor, Labels]]


class ComposedAugment:
    """ADA's pipeline, then DiffAugment's policies (either may be absent)."""

    def __init__(self, *augments):
        self.augments = [a for a in augments if a is not None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for augment in self.augments:
            x = augment(x)
        return x


class TrainingExtras:
    def __init__(self, cfg, method, noise_rng: torch.Generator, images_per_step: int,
                 reduce: Optional[Reduce] = None, device: torch.device | str = "cpu"):
        """`images_per_step`: real images D sees per generator step over all processes
        (batch · d_steps · world size); `reduce`: the mean over processes (None: one process);
        `device`: where the logged values live (with the losses)."""
        self.cfg, self.method, self.rng, self.reduce = cfg, method, noise_rng, reduce
        self.device = torch.device(device)
        boundary = method.adv.boundary
        self.ada = self.apa = None
        self.ada_augment = None
        if adaptive_enabled(cfg.ada):
            a = cfg.ada
            self.ada = AdaptiveProbability(a.p, a.target, a.interval, a.kimg, images_per_step, boundary)
            self.ada_augment = AdaptiveAugment(a.pipeline, noise_rng, a.p)
        if adaptive_enabled(cfg.apa):
            a = cfg.apa
            self.apa = AdaptiveProbability(a.p, a.target, a.interval, a.kimg, images_per_step, boundary)
        self.diffaugment = DiffAugment(cfg.train.diffaugment, noise_rng) if cfg.train.diffaugment else None
        self.lecam = LeCam(cfg.reg.lecam, cfg.reg.lecam_decay) if cfg.reg.lecam > 0 else None
        self.path_length = PathLengthPenalty(cfg.reg.pl, cfg.reg.pl_decay) if cfg.reg.pl > 0 else None

    # ------------------------------------------------------------------ generation and D inputs
    def augment(self) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """What every D input goes through (None: nothing)."""
        if self.ada_augment is None and self.diffaugment is None:
            return None
        return ComposedAugment(self.ada_augment, self.diffaugment)

    def generate(self, generator, z: torch.Tensor, cnd: Optional[torch.Tensor]) -> torch.Tensor:
        """G's training forward: with style mixing when configured."""
        if self.cfg.reg.style_mixing > 0:
            return generate(generator, z, cnd, self.cfg.reg.style_mixing, self.rng)[0]
        return generator(z, cnd)

    # ------------------------------------------------------------------ D step
    def real_inputs(self, real: torch.Tensor, labels: Labels, fakes: FakeBatch
                    ) -> tuple[torch.Tensor, Labels, dict[str, torch.Tensor]]:
        """APA: reals replaced by fakes with probability p."""
        if self.apa is None:
            return real, labels, {}
        real, labels, fraction = pseudo_augment(real, labels, self.apa.p, fakes, self.rng)
        return real, labels, {"apa_fraction": fraction}

    def penalty_scale(self, d_step: int) -> int:
        """The factor of the gradient penalties in D step `d_step` (0-based, counted over the
        run): k = reg.d_interval on every k-th step, 0 (skip them) otherwise."""
        k = self.cfg.reg.d_interval
        return k if d_step % k == 0 else 0

    def d_terms(self, out_real: dict, out_fake: dict, real_labels: Labels, fake_labels: Labels
                ) -> tuple[Optional[torch.Tensor], dict[str, torch.Tensor]]:
        """r_t bookkeeping for ADA / APA and the LeCam term of D's loss."""
        logs: dict[str, torch.Tensor] = {}
        o_real = self.method.adv_logit(out_real, real_labels)
        for name, controller in (("ada", self.ada), ("apa", self.apa)):
            if controller is not None:
                logs[f"{name}_rt"] = controller.observe(o_real)
        if self.lecam is None:
            return None, logs
        term, lecam_logs = self.lecam(o_real, self.method.adv_logit(out_fake, fake_labels), self.reduce)
        logs["d_lecam"] = term.detach()
        logs.update({k: v.to(self.device) for k, v in lecam_logs.items()})
        return term, logs

    # ------------------------------------------------------------------ G step
    def g_terms(self, step: int, generator, latents: Callable[[int], tuple[torch.Tensor, Labels]]
                ) -> tuple[Optional[torch.Tensor], dict[str, torch.Tensor]]:
        """The lazy path-length term at G step `step` (0-based): weight × reg.pl_interval every
        reg.pl_interval-th step, on batch / reg.pl_batch_shrink fresh latents; otherwise 0
        (logged as such, so the log's mean is the average per-step contribution)."""
        if self.path_length is None:
            return None, {}
        k = self.cfg.reg.pl_interval
        if step % k:
            return None, {"g_pl": torch.zeros((), device=self.device),
                          "pl_mean": self.path_length.mean.to(self.device)}
        n = max(1, self.cfg.train.batch_size // self.cfg.reg.pl_batch_shrink)
        z, labels = latents(n)
        images, ws = generate(generator, z, labels.cnd, self.cfg.reg.style_mixing, self.rng)
        term, logs = self.path_length(images.float(), ws, self.rng, self.reduce)
        term = term * k
        return term, {"g_pl": term.detach(), "pl_mean": logs["pl_mean"]}

    # ------------------------------------------------------------------ after the step
    def end_step(self, step: int) -> dict[str, torch.Tensor]:
        """After G step `step` (1-based): adjust p; returns the p's to log."""
        logs = {}
        if self.ada is not None:
            self.ada.end_step(step, self.reduce)
            self.ada_augment.p = self.ada.p
            logs["ada_p"] = torch.tensor(self.ada.p, device=self.device)
        if self.apa is not None:
            self.apa.end_step(step, self.reduce)
            logs["apa_p"] = torch.tensor(self.apa.p, device=self.device)
        return logs

    def state_dict(self) -> dict:
        parts = {"ada": self.ada, "apa": self.apa, "lecam": self.lecam, "path_length": self.path_length}
        return {name: part.state_dict() for name, part in parts.items() if part is not None}

    def load_state_dict(self, state: dict) -> None:
        for name, part in (("ada", self.ada), ("apa", self.apa), ("lecam", self.lecam),
                           ("path_length", self.path_length)):
            if part is not None and name in state:
                part.load_state_dict(state[name])
        if self.ada is not None:
            self.ada_augment.p = self.ada.p
