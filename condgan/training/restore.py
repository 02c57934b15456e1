"""Rebuild a trained generator from a run directory (for sampling and evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional
from pathlib import Path

import torch

from condgan.config import Config, config_from_dict
from condgan.errors import CondganError
from condgan.training.build import DataInfo, build_gan
from condgan.training.checkpoint import RunDir, load_checkpoint
from condgan.training.ema import standing_statistics
from condgan.training.labeling import LABELING
from condgan.training.latents import sample_latents
from condgan.training.sampling import condition_vectors


@dataclass
class TrainedGenerator:
    generator: torch.nn.Module
    cfg: Config
    info: DataInfo
    step: int
    ema: bool
    device: torch.device
    category_predictor: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    """x ↦ category indices, for labeling modes that assign categories with a network (dynamic
    labeling: D's class head); None otherwise."""

    @torch.no_grad()
    def sample(self, classes: torch.Tensor, generator: torch.Generator,
               truncation: float | None = None) -> torch.Tensor:
        """One sample per entry of `classes` (int64 class / attribute indices), latents drawn from
        `generator`; `truncation` T resamples latent elements with |z_i| > T (BigGAN trick)."""
        z = sample_latents(len(classes), self.cfg.model.z_dim, generator, truncation, self.device)
        cnd = condition_vectors(classes.tolist(), self.info.num_classes, self.device)
        return self.generator(z, cnd)


def standing_stats_inputs(cfg: Config, info: DataInfo, device):
    """Batches (z, cnd) for re-estimating BN statistics: uniform classes, a fixed seed — the
    same in the trainer's sample grids and in `condgan sample`, so both show the same images."""
    gen = torch.Generator().manual_seed(cfg.seed + 7)

    def inputs():
        n = cfg.train.batch_size
        y = torch.randint(max(info.num_classes, 1), (n,), generator=gen)
        # Untruncated N(0, I), the training prior: one set of statistics serves every truncation.
        z = sample_latents(n, cfg.model.z_dim, gen, device=device)
        return z, condition_vectors(y.tolist(), info.num_classes, device)

    return inputs


def load_generator(run_dir: str | Path, use_ema: bool = True, checkpoint: str = "last",
                   device: str | torch.device = "cpu", standing_stats: int | None = None) -> TrainedGenerator:
    """The run's generator (EMA by default). `standing_stats` overrides `train.standing_stats`:
    the number of batches used to re-estimate the EMA generator's BN statistics.

    `generator` is what the trainer's own sample grids call: for labeling modes whose G is
    unconditional (dynamic labeling) it is the mode's wrapper that picks each requested class
    with the checkpoint's discriminator, so `G(z, cnd)` honours `cnd` in every mode."""
    run = RunDir(run_dir)
    if not run.root.is_dir():
        raise CondganError(f"run directory '{run_dir}' does not exist")
    path = run.best if checkpoint == "best" else run.last
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"])
    info = DataInfo.from_dict(state["data_info"])
    device = torch.device(device)
    gan = build_gan(cfg, info, device)
    g = gan.generator
    if use_ema and state.get("generator_ema") is not None:
        g.load_state_dict(state["generator_ema"])
        ema = True
        batches = cfg.train.standing_stats if standing_stats is None else standing_stats
        if batches > 0:
            standing_statistics(g, standing_stats_inputs(cfg, info, device), batches)
    else:
        g.load_state_dict(state["generator"])
        ema = False
    g.eval().requires_grad_(False)
    d = gan.discriminator
    d.load_state_dict(state["discriminator"])
    d.eval().requires_grad_(False)
    mode = LABELING.get(cfg.model.labeling)
    g = mode.sampling_generator(g, d, gan.method, cfg.seed)
    return TrainedGenerator(g, cfg, info, state["step"], ema, device,
                            mode.restored_predictor(cfg, info, state, d, gan.method, device))
