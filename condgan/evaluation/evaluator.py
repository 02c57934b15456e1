"""Evaluate a generator: draw a class-balanced set of fakes, pass fakes and real test data
through one feature extractor, and compute the requested metrics (SPEC §6).

Deterministic for a fixed seed and sample count: latents come from a private generator, targets
are `y'_i = i mod K` (every class equally often, so the requested class mix is uniform), and the
real reference is cached. Memory is bounded: fakes are generated and extracted batch by batch;
only their features / logits (and a capped subset of images for SSIM) are kept.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from condgan.errors import CondganError
from condgan.evaluation.reference import class_logits, real_reference
from condgan.features import build_extractor
from condgan.metrics import METRICS, MetricInputs, compute_metrics
from condgan.training.sampling import condition_vectors

# What `condgan evaluate` computes by default (clustering needs predicted clusters of a
# self-labeling run; Parzen is "for comparison only").
DEFAULT_METRICS = ("fid", "kid", "is", "am_score", "prdc", "intra_fid", "conditional_accuracy",
                   "class_tv", "intra_ssim")
SSIM_IMAGES_PER_CLASS = 50
BATCH = 250


class Evaluator:
    def __init__(self, data_cfg, num_classes: int, extractor: str = "domain", num_samples: int = 1000,
                 metrics=DEFAULT_METRICS, seed: int = 0, device="cpu", real_split: str = "test",
                 cache_dir=None, extractor_options: dict | None = None):
        for name in metrics:
            METRICS.get(name)
        self.metrics = list(metrics)
        self.num_classes = num_classes
        self.num_samples = num_samples
        self.seed = seed
        self.device = torch.device(device)
        # The extractor trains with the global RNG when it is not cached yet; fork so that a
        # training run evaluating periodically stays bit-identical to one that does not.
        # The classifier is trained on all data of the run's classes: class_fractions shape what
        # the GAN sees (e.g. seed 001's 55 %-zeros set), not what a class looks like, and a
        # classifier trained on the imbalanced set would be biased towards the frequent class.
        extractor_data = dataclasses.replace(data_cfg, class_fractions=None)
        with torch.random.fork_rng(devices=[]):
            self.extractor = build_extractor(extractor, extractor_data, seed=0, device=self.device,
                                             cache_dir=cache_dir, **(extractor_options or {}))
        self.real = real_reference(data_cfg, self.extractor, real_split, cache_dir=cache_dir)
        self.train_marginal = None
        if num_classes and any(m == "am_score" for m in self.metrics):
            from condgan.data import load_dataset

            train = load_dataset(data_cfg, "train")
            if train.labels is not None and not train.multi_label:
                self.train_marginal = train.class_frequencies()

    def targets(self) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return torch.arange(self.num_samples) % self.num_classes

    @torch.no_grad()
    def generate_features(self, generator: torch.nn.Module, z_dim: int):
        gen = torch.Generator().manual_seed(self.seed)
        y = self.targets()
        feats, logits, keep = [], [], []
        ssim_cap = SSIM_IMAGES_PER_CLASS * max(self.num_classes, 1)
        was_training = generator.training
        generator.eval()
        self.extractor.eval()
        try:
            for start in range(0, self.num_samples, BATCH):
                n = min(BATCH, self.num_samples - start)
                z = torch.randn(n, z_dim, generator=gen).to(self.device)
                cnd = (condition_vectors(y[start:start + n].tolist(), self.num_classes, self.device)
                       if y is not None else None)
                x = generator(z, cnd)
                out = self.extractor(x)
                feats.append(out["features"].float().cpu())
                logits.append(class_logits(out).float().cpu())
                if start < ssim_cap:
                    keep.append(x[: max(0, min(n, ssim_cap - start))].cpu())
        finally:
            generator.train(was_training)
        return torch.cat(feats), torch.cat(logits), y, torch.cat(keep)

    def __call__(self, generator: torch.nn.Module, z_dim: int) -> dict[str, float]:
        fake_features, fake_logits, fake_labels, fake_images = self.generate_features(generator, z_dim)
        single_label = self.real.labels is not None and self.num_classes > 0
        inputs = MetricInputs(
            real_features=self.real.features,
            fake_features=fake_features,
            real_labels=self.real.labels if single_label else None,
            fake_labels=fake_labels if single_label else None,
            real_probs=self.real.logits.softmax(1),
            fake_probs=fake_logits.softmax(1),
            train_class_marginal=self.train_marginal,
            requested_class_marginal=(torch.full((self.num_classes,), 1.0 / self.num_classes)
                                      if single_label else None),
            fake_images=fake_images if fake_images.dim() == 4 else None,
            seed=self.seed,
        )
        return compute_metrics(inputs, self.metrics, skip_missing=True)


def evaluate_run(run_dir, num_samples: int = 1000, metrics=DEFAULT_METRICS, extractor: str = "domain",
                 seed: int = 0, use_ema: bool = True, checkpoint: str = "last", device: str = "cpu",
                 cache_dir=None, extractor_options: dict | None = None, real_split: str = "test",
                 standing_stats: int | None = None) -> dict:
    """Everything `condgan evaluate` writes: metrics plus what is needed to reproduce them."""
    from condgan.training.restore import load_generator

    trained = load_generator(run_dir, use_ema=use_ema, checkpoint=checkpoint, device=device,
                             standing_stats=standing_stats)
    if len(trained.info.sample_shape) != 3:
        raise CondganError(f"run '{run_dir}' generates vector data; evaluation needs images")
    t0 = time.perf_counter()
    ev = Evaluator(trained.cfg.data, trained.info.num_classes if not trained.info.multi_label else 0,
                   extractor, num_samples, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    values = ev(trained.generator, trained.cfg.model.z_dim)
    return {
        "run": str(run_dir),
        "step": trained.step,
        "checkpoint": checkpoint,
        "generator": "ema" if trained.ema else "raw",
        "standing_stats": trained.cfg.train.standing_stats if standing_stats is None else standing_stats,
        "train_seed": trained.cfg.seed,
        "eval_seed": seed,
        "num_samples": num_samples,
        "extractor": ev.extractor.id,
        "extractor_test_accuracy": getattr(ev.extractor, "test_accuracy", None),
        "real_split": ev.real.split,
        "real_samples": len(ev.real),
        "metrics": values,
        "seconds": round(time.perf_counter() - t0, 2),
    }
