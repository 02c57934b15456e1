"""Training techniques chosen by config keys that plug into the step (`GANStep`) without a new
loop: the interface `StepExtension` and its registry `STEP_EXTENSIONS`.

An extension is built by the trainer when `enabled(cfg)` says its keys turn it on, attached to
the step (it then sees the networks, optimizers and random streams), and called at fixed points
of every iteration:

    real_batch(x)              each real batch before anything reads it (progressive growing
                               fades in the reals of a new resolution)
    d_loss(loss, logs, ...)    D's loss after the method's term, the labeling mode's term and
                               the penalties: returns the new loss (historical averaging adds
                               λ‖θ_D − θ̄_D‖², the VDB adds β(E KL − I_c))
    after_d_step()             after every D optimizer step (WGAN's weight clipping, the VDB's β
                               update, the historical mean of θ_D)
    g_loss(loss, logs, it, ...) G's loss after the method's term, before the labeling mode's:
                               returns the new loss (feature matching adds, or replaces)
    after_g_step()             after every G optimizer step
    phases                     [(Phase, after)] inserted into the step (after=None: first)
    state_dict / load_state_dict
                               what it learns, in the checkpoint's `extensions` entry, so a run
                               killed at any moment resumes bit-identically

`check(cfg)` is a one-line reason why the technique cannot run with a config (called by
`condgan.validation` before any work), None otherwise. Adding a technique = one subclass in
this package + `@STEP_EXTENSIONS.register(name)` + a test.
"""

from __future__ import annotations

from typing import Optional

import torch

from condgan.registry import Registry


class StepExtension:
    """Base class: every hook does nothing."""

    name = "base"
    order = 0
    """Extensions run in (order, name) order; a constraint on the weights (clipping) runs first,
    so that the hooks after it see the constrained weights."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.step = None
        """The `GANStep` this extension is attached to."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        """Whether `cfg`'s keys turn this technique on."""
        raise NotImplementedError

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        """A reason why the (enabled) technique cannot run with `cfg`, or None."""
        return None

    def attach(self, step) -> None:
        self.step = step
        for phase, after in self.phases():
            if after is None:
                step.phases.insert(0, phase)
            else:
                step.add_phase(phase, after=after)

    def phases(self) -> list:
        """[(Phase, name of the phase it follows, or None for the first)]."""
        return []

    def real_batch(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def d_loss(self, loss: torch.Tensor, logs: dict, *, real, fake, out_real, out_fake) -> torch.Tensor:
        return loss

    def g_loss(self, loss: torch.Tensor, logs: dict, it, *, fake, out_fake) -> torch.Tensor:
        return loss

    def after_d_step(self) -> None:
        pass

    def after_g_step(self) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class ExtensionRegistry(Registry):
    """A `Registry` that also names each class it registers (`StepExtension.name`,
    `Extension.name`): the key of the extension's state in the checkpoint, so two extensions
    never share one."""

    def register(self, name: str):
        add = super().register(name)

        def deco(cls: type[StepExtension]) -> type[StepExtension]:
            cls.name = name
            return add(cls)

        return deco


STEP_EXTENSIONS: ExtensionRegistry = ExtensionRegistry("step extension")


def enabled_extensions(cfg) -> list[type[StepExtension]]:
    """The extension classes `cfg` turns on, in (order, name) order."""
    classes = [STEP_EXTENSIONS.get(name) for name in STEP_EXTENSIONS.names()]
    return sorted((c for c in classes if c.enabled(cfg)), key=lambda c: (c.order, c.name))


def build_extensions(cfg) -> list[StepExtension]:
    """One instance of every extension `cfg` turns on (the trainer attaches them to its step)."""
    return [cls(cfg) for cls in enabled_extensions(cfg)]
