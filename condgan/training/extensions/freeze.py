"""Fine-tuning a trained run (`train.init_from=RUN`) and FreezeD (Mo et al. 2020, "Freeze the
Discriminator: a Simple Baseline for Fine-Tuning GANs", §3): `train.freeze_d=N`.

A new run with `train.init_from` starts from the weights of another run's last checkpoint (a run
directory, or a checkpoint file) instead of a random initialization: G, D and the EMA generator
take every tensor whose name and shape match (e.g. everything but the class heads when the new
data has other classes; the ones left at their initialization are named in a warning). Optimizer
states, step and random streams start fresh. A resumed run restores its own checkpoint and does
not read `train.init_from` again.

FreezeD keeps the first N weight layers of D's trunk as they were loaded: their parameters (and
those of the normalization layers that follow them, up to the next weight layer) are left out of
D's optimizer for the whole run, so only the upper layers and the heads adapt to the new data.
Layers count in the order the trunk registers them, which is the order the input passes through
them (a resnet block counts its two 3×3 convolutions and then its 1×1 shortcut).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from condgan.console import warn
from condgan.errors import CondganError
from condgan.training.checkpoint import RunDir, load_checkpoint
from condgan.training.extensions.installers import EXTENSIONS, Extension, non_negative
from condgan.training.extras import lazy_ratio
from condgan.training.optimizers import make_optimizer

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def source_checkpoint(init_from: str) -> Path:
    """The checkpoint file `train.init_from` names: RUN/checkpoints/last.pt, or the file itself."""
    path = Path(init_from).expanduser()
    return RunDir(path).last if path.is_dir() else path


def frozen_parameters(trunk: nn.Module, layers: int) -> list[nn.Parameter]:
    """The parameters of the first `layers` weight layers of `trunk` (see the module docstring)."""
    seen, frozen = 0, []
    for module in trunk.modules():
        if isinstance(module, WEIGHT_LAYERS):
            if seen == layers:
                break
            seen += 1
        if seen:
            frozen += list(module.parameters(recurse=False))
    if seen < layers:
        raise CondganError(f"train.freeze_d={layers}, but D's trunk has only {seen} weight layers")
    return frozen


def load_matching(module: nn.Module, source: dict, what: str) -> list[str]:
    """Copy every tensor of `source` whose name and shape match into `module`; the names of the
    module's tensors left as they were."""
    own = module.state_dict()
    taken = {k: v for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not taken:
        raise CondganError(f"train.init_from: none of the {what}'s tensors match this run's {what} "
                           "(another network or image size?)")
    own.update(taken)
    module.load_state_dict(own)
    return [k for k in own if k not in taken]


def initialize_from(trainer, path: Path) -> None:
    """G, D and the EMA generator from the checkpoint at `path`."""
    state = load_checkpoint(path)
    left = {"G": load_matching(trainer.G, state["generator"], "generator"),
            "D": load_matching(trainer.D, state["discriminator"], "discriminator")}
    if trainer.ema is not None:
        ema = state.get("generator_ema")
        if ema is not None:
            load_matching(trainer.ema.module, ema, "generator")
        else:
            trainer.ema.module.load_state_dict(trainer.G.state_dict())
    for net, names in left.items():
        if names:
            warn(f"train.init_from: {len(names)} tensor(s) of {net} keep their initialization (not in '{path}' "
                 f"with this shape): {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}")


@EXTENSIONS.register("freeze")
class FineTuning(Extension):
    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.train.init_from is not None or cfg.train.freeze_d > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        t = cfg.train
        reason = non_negative("train.freeze_d", t.freeze_d)
        if reason:
            return reason
        if t.freeze_d and t.init_from is None:
            return ("train.freeze_d keeps layers of a trained discriminator; set train.init_from to the run "
                    "directory to fine-tune")
        if t.init_from is not None and not source_checkpoint(t.init_from).is_file():
            return (f"train.init_from='{t.init_from}' is neither a run directory with checkpoints/last.pt nor "
                    "a checkpoint file")
        return None

    @classmethod
    def install(cls, trainer) -> None:
        cfg = trainer.cfg
        if cfg.train.init_from is not None and not trainer.run.last.exists():  # a new run, not a resume
            initialize_from(trainer, source_checkpoint(cfg.train.init_from))
        if cfg.train.freeze_d:
            frozen = {id(p) for p in frozen_parameters(trainer.D.trunk, cfg.train.freeze_d)}
            trainable = [p for p in trainer.D.parameters() if id(p) not in frozen]
            c = lazy_ratio(cfg, "d")  # as the trainer's D optimizer (1 unless a lazy penalty has its own step)
            trainer.opt_d = trainer.gan_step.opt_d = make_optimizer(trainable, cfg, cfg.train.d_lr * c,
                                                                    tuple(b ** c for b in cfg.train.d_betas))
