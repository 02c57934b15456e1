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
from condgan.training.latents import latent_truncation, sample_latents
from condgan.training.sampling import condition_vectors, truncated


@dataclass
class TrainedGenerator:
    generator: torch.nn.Module
    cfg: Config
    info: DataInfo
    step: int
    ema: bool
    device: torch.device
    category_probabilities: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    """x ↦ (B, K) category probabilities, for labeling modes that assign categories with a network
    (Q for CGPGAN, the InfoGAN head, D's class head for dynamic labeling); None otherwise."""

    @property
    def category_predictor(self) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """x ↦ (B,) category indices (the argmax of `category_probabilities`), or None."""
        probs = self.category_probabilities
        return None if probs is None else (lambda x: probs(x).argmax(1))

    @property
    def num_categories(self) -> int:
        """Categories of a self-labeling run (d_c^d_l); 0 for class-conditional runs."""
        return LABELING.get(self.cfg.model.labeling).num_categories(self.cfg)

    def conditions(self, classes: torch.Tensor) -> torch.Tensor | None:
        """G's conditions for class indices (self-labeling runs: joint category indices)."""
        mode = LABELING.get(self.cfg.model.labeling)
        if mode.num_categories(self.cfg):
            return mode.category_conditions(self.cfg, torch.as_tensor(classes)).to(self.device)
        return condition_vectors(torch.as_tensor(classes).tolist(), self.info.num_classes, self.device)

    @torch.no_grad()
    def sample(self, classes: torch.Tensor, generator: torch.Generator,
               truncation: float | None = None) -> torch.Tensor:
        """One sample per entry of `classes` (int64 class / attribute indices, or categories of a
        self-labeling run), latents drawn from `generator`; `truncation` T resamples latent
        elements with |z_i| > T (BigGAN trick), or is ψ in W for style-based generators."""
        with (latent_truncation(self.generator, truncation) as z_truncation,
              truncated(self.generator, z_truncation)):
            z = sample_latents(len(classes), self.cfg.model.z_dim, generator, z_truncation, self.device)
            return self.generator(z, self.conditions(classes))


def standing_stats_inputs(cfg: Config, info: DataInfo, device):
    """Batches (z, cnd) for re-estimating BN statistics: uniform classes, a fixed seed — the
    same in the trainer's sample grids and in `condgan sample`, so both show the same images."""
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    mode = LABELING.get(cfg.model.labeling)

    def inputs():
        n = cfg.train.batch_size
        cnd = mode.random_conditions(cfg, info, n, gen, device)
        # Untruncated N(0, I), the training prior: one set of statistics serves every truncation.
        z = sample_latents(n, cfg.model.z_dim, gen, device=device)
        return z, cnd

    return inputs


CATEGORY_PRIORS = ("learned", "uniform")


def load_generator(run_dir: str | Path, use_ema: bool = True, checkpoint: str = "last",
                   device: str | torch.device = "cpu", standing_stats: int | None = None,
                   category_prior: str = "learned") -> TrainedGenerator:
    """The run's generator (EMA by default). `standing_stats` overrides `train.standing_stats`:
    the number of batches used to re-estimate the EMA generator's BN statistics.
    `category_prior` (self-labeling runs): called without a condition, the generator draws its
    categories from the prior the run learned (`learned`, CGPGAN's P(C)), or requests every
    category equally often (`uniform`; also what modes without a learned prior do).

    `generator` is what the trainer's own sample grids call: for labeling modes whose G is
    unconditional (dynamic labeling) it is the mode's wrapper that picks each requested class
    with the checkpoint's discriminator, so `G(z, cnd)` honours `cnd` in every mode."""
    from condgan.device import resolve_device

    if category_prior not in CATEGORY_PRIORS:
        raise CondganError(f"category prior must be one of {', '.join(CATEGORY_PRIORS)}, got {category_prior!r}")
    if checkpoint not in ("last", "best"):
        raise CondganError(f"checkpoint must be 'last' or 'best', got {checkpoint!r}")
    if standing_stats is not None and (isinstance(standing_stats, bool) or not isinstance(standing_stats, int)
                                       or standing_stats < 0):
        raise CondganError(f"standing_stats must be an integer ≥ 0 (batches; 0 keeps the EMA generator's BN "
                           f"statistics), got {standing_stats!r}")
    device = resolve_device(device)
    run = RunDir(run_dir)
    if run.root.is_file():
        raise CondganError(f"'{run_dir}' is a file, not a run directory: pass the directory `condgan train "
                           "--out` wrote (it holds config.yaml and checkpoints/)")
    if not run.root.is_dir():
        raise CondganError(f"run directory '{run_dir}' does not exist")
    path = run.best if checkpoint == "best" else run.last
    state = load_checkpoint(path)
    cfg = config_from_dict(state["config"])
    info = DataInfo.from_dict(state["data_info"])
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
    prior = mode.learned_prior(state.get("labeling") or {}) if category_prior == "learned" else None
    g = mode.sampling_generator(cfg, g, d, gan.method, prior)
    return TrainedGenerator(g, cfg, info, state["step"], ema, device,
                            mode.restored_predictor(cfg, info, state, d, gan.method, device))
