"""The StyleGAN2 family's and the limited-data methods' additions to the training step, each off
unless configured, installed onto a `GANStep` through its phases and hooks (docs/architecture.md,
"The step and the loop"):

    generation     style mixing (`reg.style_mixing`, style-based G): `step.generate`
    D's inputs     ADA (`ada.*`), then DiffAugment (`train.diffaugment`): the trainer's `d_fn`
                   (`augment`), so reals and fakes of every phase and the penalties' inputs
    D's reals      APA (`apa.*`) replaces reals by fakes: `step.real_transforms`
    D's loss       LeCam (`reg.lecam`); ADA's / APA's r_t observe the reals' logits: `step.d_terms`
    phase D_reg    lazy penalties (`reg.d_interval = k > 1`): the `reg.*` penalties leave D's
                   loss and take their own D step every k iterations, weight × k
    phase G_pl     path length (`reg.pl`): its own G step every `reg.pl_interval` iterations,
                   weight × interval
    phases ada_p,  the p adjustments, at the end of every iteration
    apa_p

Lazy regularization as stylegan2-ada does it (Karras et al. 2020, StyleGAN2, App. B): the
penalty's separate step makes k + 1 optimizer steps per k iterations, so the optimizer of the
network it regularizes runs with lr · c and betas^c, c = k / (k + 1) (`lazy_ratio`).

What carries over between iterations (the two p's and their r_t sums, LeCam's anchors, the
path-length mean) is registered in `step.stateful`, which the checkpoint keeps ('phases'), so a
resumed run stays bit-identical. The formulas are in the modules wired up here:
condgan.adaptive, condgan.losses.lecam, condgan.losses.path_length, condgan.training.style_mixing.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from condgan.adaptive import AdaptiveAugment, AdaptiveProbability, adaptive_enabled, pseudo_augment
from condgan.augment import DiffAugment
from condgan.losses.lecam import LeCam
from condgan.losses.path_length import PathLengthPenalty
from condgan.losses.regularizers import REGULARIZERS, PenaltyContext
from condgan.training.step import GANStep, Iteration, Phase
from condgan.training.style_mixing import generate

Reduce = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
Augment = Callable[[torch.Tensor], torch.Tensor]


class ComposedAugment:
    """ADA's pipeline, then DiffAugment's policies (either may be absent)."""

    def __init__(self, *augments: Optional[Augment]):
        self.augments = [a for a in augments if a is not None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for augment in self.augments:
            x = augment(x)
        return x


def augment(cfg, noise_rng: torch.Generator) -> Optional[ComposedAugment]:
    """What every D input goes through (None: nothing): ADA's pipeline at ada.p (the ADA phase
    moves its p) then DiffAugment, both drawing from `noise_rng` (checkpointed)."""
    ada = AdaptiveAugment(cfg.ada.pipeline, noise_rng, cfg.ada.p) if adaptive_enabled(cfg.ada) else None
    diff = DiffAugment(cfg.train.diffaugment, noise_rng) if cfg.train.diffaugment else None
    return ComposedAugment(ada, diff) if ada is not None or diff is not None else None


def lazy_ratio(cfg, net: str) -> float:
    """c = k / (k + 1) for the optimizer of `net` ('g' or 'd') when a lazy penalty takes its own
    step every k > 1 iterations, else 1 (stylegan2-ada's mb_ratio: lr · c, betas^c)."""
    reg = cfg.reg
    if net == "d":
        on = reg.d_interval > 1 and any(getattr(reg, name) > 0 for name in REGULARIZERS.names())
        k = reg.d_interval
    else:
        on, k = reg.pl > 0 and reg.pl_interval > 1, reg.pl_interval
    return k / (k + 1) if on else 1.0


def install(step: GANStep, cfg, d_augment: Optional[ComposedAugment], images_per_step: int,
            reduce: Optional[Reduce] = None) -> None:
    """Add what `cfg` turns on to `step`. `d_augment`: the `augment(cfg, ...)` the step's d_fn
    applies (its ADA part gets the adapted p); `images_per_step`: real images D sees per iteration
    over all processes (batch · d_steps · world size); `reduce`: the mean over processes (None:
    one process)."""
    reg = cfg.reg
    if reg.style_mixing > 0:
        step.generate = lambda z, cnd: generate(step.G, z, cnd, reg.style_mixing, step.noise_rng)[0]
    ada_augment = next((a for a in (d_augment.augments if d_augment else []) if isinstance(a, AdaptiveAugment)), None)
    for name, section, augment in (("ada", cfg.ada, ada_augment), ("apa", cfg.apa, None)):
        if adaptive_enabled(section):
            control = step.stateful[name] = AdaptiveControl(name, section, step.method, augment, step.noise_rng,
                                                            images_per_step, reduce)
            step.d_terms.append(control.observe)
            if name == "apa":
                step.real_transforms.append(control.pseudo_augment)
            step.add_phase(Phase(f"{name}_p", control.adjust), after=step.phases[-1].name)
    if reg.lecam > 0:
        _install_lecam(step, LeCam(reg.lecam, reg.lecam_decay), reduce)
    if reg.d_interval > 1 and step.penalties:
        penalties, step.penalties = step.penalties, []
        step.add_phase(Phase("D_reg", lambda it: lazy_penalties(step, penalties, reg.d_interval, it),
                             every=reg.d_interval), after="D")
    if reg.pl > 0:
        penalty = step.stateful["path_length"] = PathLengthPenalty(reg.pl, reg.pl_decay)
        step.add_phase(Phase("G_pl", lambda it: path_length_phase(step, penalty, reduce), every=reg.pl_interval),
                       after="G")


class AdaptiveControl:
    """ADA's or APA's p: the r_t heuristic (`AdaptiveProbability`) over the adversarial logits of
    D's reals (signs relative to the loss's decision boundary), and for ADA the pipeline that
    applies p. Its state is the heuristic's; a restored p reaches the pipeline at once."""

    def __init__(self, name: str, section, method, augment: Optional[AdaptiveAugment], rng: torch.Generator,
                 images_per_step: int, reduce: Optional[Reduce]):
        """`rng`: APA's draws of the rows to replace."""
        self.name, self.method, self.augment, self.rng, self.reduce = name, method, augment, rng, reduce
        self.heuristic = AdaptiveProbability(section.p, section.target, section.interval, section.kimg,
                                             images_per_step, method.adv.boundary)

    def observe(self, out_real, out_fake, real_labels, fake_labels) -> tuple[None, dict[str, torch.Tensor]]:
        """A D-loss hook adding nothing: accumulates sign(D(x_real) − m); logs the batch's mean."""
        return None, {f"{self.name}_rt": self.heuristic.observe(self.method.adv_logit(out_real, real_labels))}

    def adjust(self, it: Iteration) -> dict[str, torch.Tensor]:
        """The end-of-iteration phase: p moves every `interval` iterations (1-based count)."""
        self.heuristic.end_step(it.step + 1, self.reduce)
        self._sync()
        return {f"{self.name}_p": torch.tensor(self.heuristic.p, device=it.real.device)}

    def pseudo_augment(self, real, labels, fake_batch):
        """APA's transform of D's reals."""
        real, labels, fraction = pseudo_augment(real, labels, self.heuristic.p, fake_batch, self.rng)
        return real, labels, {"apa_fraction": fraction}

    def _sync(self) -> None:
        if self.augment is not None:
            self.augment.p = self.heuristic.p

    def state_dict(self) -> dict:
        return self.heuristic.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.heuristic.load_state_dict(state)
        self._sync()


def _install_lecam(step: GANStep, lecam: LeCam, reduce: Optional[Reduce]) -> None:
    step.stateful["lecam"] = lecam
    method = step.method

    def term(out_real, out_fake, real_labels, fake_labels):
        value, logs = lecam(method.adv_logit(out_real, real_labels), method.adv_logit(out_fake, fake_labels), reduce)
        return value, {"d_lecam": value.detach(), **{k: v.to(value.device) for k, v in logs.items()}}

    step.d_terms.append(term)


def lazy_penalties(step: GANStep, penalties: list, interval: int, it: Iteration) -> dict[str, torch.Tensor]:
    """The `reg.*` penalties as their own D step on the D phase's last reals and fakes, each with
    its weight × `interval` (run every `interval` iterations: the same average per iteration)."""
    fake, fake_labels = it.extra["d_fake"]
    step.D.requires_grad_(True)
    logs = {}
    with step.precision.autocast():
        loss = 0.0
        for penalty, weight in penalties:
            ctx = PenaltyContext(step.d_fn, step.method, it.real, fake, it.real_labels, fake_labels,
                                 weight * interval, step.noise_rng, step.precision.grad_scale("d"))
            value = logs[f"d_{penalty.__name__}"] = penalty(ctx)
            loss = loss + value
    step.precision.step("d", loss, step.opt_d, before_step=lambda: step.dist.average_gradients([step.D]))
    return logs


def path_length_phase(step: GANStep, penalty: PathLengthPenalty, reduce: Optional[Reduce]) -> dict[str, torch.Tensor]:
    """Path-length regularization as its own G step on batch / reg.pl_batch_shrink fresh
    latents, weight × reg.pl_interval (StyleGAN2 §3.2 and App. B)."""
    cfg = step.cfg
    z, labels = step.latents(max(1, cfg.train.batch_size // cfg.reg.pl_batch_shrink))
    with step.precision.autocast():
        images, ws = generate(step.G, z, labels.cnd, cfg.reg.style_mixing, step.noise_rng)
        value, logs = penalty(images.float(), ws, step.noise_rng, reduce)
        loss = value * cfg.reg.pl_interval
    step.precision.step("g", loss, step.opt_g, before_step=lambda: step.dist.average_gradients([step.G]))
    return {"g_pl": loss.detach(), "pl_mean": logs["pl_mean"], "pl_length": logs["pl_length"]}
