"""The training loop (explicit, in the style of stylegan2-ada's training_loop.py).

One iteration = `train.d_steps` discriminator steps then one generator step (+ EMA update).
Everything random draws from two seeded torch.Generators (data order; latents / fake labels /
penalty noise) whose states are checkpointed, so a resumed run is bit-identical on CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from condgan.augment import AugmentedDiscriminator, DiffAugment
from condgan.config import RESUMABLE_KEYS, Config, config_diff
from condgan.errors import CondganError
from condgan.losses.conditioning.base import Labels
from condgan.losses.regularizers import REGULARIZERS, PenaltyContext
from condgan.training.build import GAN, DataInfo, build_gan, resolve_device
from condgan.training.checkpoint import RunDir, atomic_write_text, load_checkpoint, save_checkpoint
from condgan.training.diagnostics import DiscriminatorDiagnostics
from condgan.training.ema import GeneratorEMA, standing_statistics
from condgan.training.labeling import LABELING
from condgan.training.logger import TrainingDiverged, TrainingLog
from condgan.training.sampling import sample_grid, save_samples

CHECKPOINT_FORMAT = 1
GRID_COLUMNS = 10
MAX_GRID_ROWS = 20


def make_optimizer(params, cfg: Config, lr: float, betas) -> torch.optim.Optimizer:
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.train.optimizer]
    return opt(params, lr=lr, betas=tuple(betas), weight_decay=cfg.train.weight_decay)


def check_resumable(run: RunDir, cfg: Config) -> None:
    """An existing run directory may only be resumed with the same config, up to the keys that
    do not change what a step computes (steps, intervals, logging)."""
    if not run.config.exists():
        return
    old = run.read_config_dict()
    changed = [k for k in config_diff(old, cfg.to_dict()) if k not in RESUMABLE_KEYS]
    if changed:
        detail = "; ".join(f"{k}: {_get(old, k)!r} → {_get(cfg.to_dict(), k)!r}" for k in changed[:5])
        raise CondganError(
            f"output directory '{run.root}' holds a run with a different config ({detail}); "
            "use a new --out directory, or the same config to resume")


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


@dataclass
class TrainResult:
    step: int
    run_dir: Path
    seconds: float
    last_record: dict | None


class Trainer:
    def __init__(self, cfg: Config, out_dir: str | Path, progress: bool = True):
        self.cfg = cfg
        self.run = RunDir(out_dir)
        self.progress = progress

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        from condgan.data import load_dataset
        from condgan.data.sampler import BatchSampler

        cfg = self.cfg
        check_resumable(self.run, cfg)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.device = resolve_device(cfg.device)
        data = load_dataset(cfg.data, "train")
        if cfg.train.batch_size > len(data):
            raise CondganError(f"train.batch_size={cfg.train.batch_size} exceeds the {len(data)} "
                               f"training samples of data set '{cfg.data.name}'")
        self.info = DataInfo.of(data)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device) if data.labels is not None else None

        torch.manual_seed(cfg.seed)
        self.gan: GAN = build_gan(cfg, self.info, self.device)
        self.G, self.D, self.method = self.gan.generator, self.gan.discriminator, self.gan.method
        self.labeling = LABELING.get(cfg.model.labeling)(cfg, data.labels, self.info.num_classes,
                                                          self.info.multi_label, self.device)
        self.opt_g = make_optimizer(self.G.parameters(), cfg, cfg.train.g_lr, cfg.train.g_betas)
        self.opt_d = make_optimizer(self.D.parameters(), cfg, cfg.train.d_lr, cfg.train.d_betas)
        self.ema = GeneratorEMA(self.G, cfg.train.ema) if cfg.train.ema > 0 else None
        self.rng = torch.Generator(self.device).manual_seed(cfg.seed)
        self.sampler = BatchSampler(len(data), cfg.train.batch_size,
                                    torch.Generator().manual_seed(cfg.seed + 1_000_003))
        # Every D input goes through DiffAugment when it is on (reals and fakes, D and G steps,
        # penalty inputs), drawing from the training RNG so resume stays bit-identical.
        self.d_fn = (AugmentedDiscriminator(self.D, DiffAugment(cfg.train.diffaugment, self.rng))
                     if cfg.train.diffaugment else self.D)
        self.diagnostics = (DiscriminatorDiagnostics(self.D, self.method.cond_loss_key)
                            if cfg.train.diagnostics else None)
        self.penalties = [(REGULARIZERS.get(name), getattr(cfg.reg, name))
                          for name in REGULARIZERS.names() if getattr(cfg.reg, name) > 0]
        self.step = 0
        self.best = None
        self.evaluator = None
        if cfg.eval.every > 0:
            from condgan.evaluation import Evaluator

            k = 0 if self.info.multi_label else self.info.num_classes
            self.evaluator = Evaluator(cfg.data, k, cfg.eval.extractor, cfg.eval.num_samples,
                                       cfg.eval.metrics, seed=0, device=self.device,
                                       real_split=cfg.eval.real_split)
        if self.run.last.exists():
            self._restore(load_checkpoint(self.run.last))
        self.run.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def _state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "best": self.best,
            "config": self.cfg.to_dict(),
            "data_info": self.info.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "generator_ema": self.ema.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "labeling": self.labeling.state_dict(),
            "rng": {"train": self.rng.get_state(), "torch": torch.get_rng_state(),
                    "sampler": self.sampler.state_dict()},
        }

    def _restore(self, state: dict) -> None:
        self.step = state["step"]
        self.best = state.get("best")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.ema:
            self.ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.labeling.load_state_dict(state.get("labeling", {}))
        self.rng.set_state(state["rng"]["train"])
        torch.set_rng_state(state["rng"]["torch"])
        self.sampler.load_state_dict(state["rng"]["sampler"])

    # ------------------------------------------------------------------ one iteration
    def _real_batch(self) -> tuple[torch.Tensor, Labels]:
        idx = self.sampler.next_indices().to(self.device)
        y = self.labels[idx] if self.labels is not None else None
        x = self.images[idx]
        return x, self.labeling.real(x, y)

    def _fake_batch(self, n: int) -> tuple[torch.Tensor, Labels]:
        labels = self.labeling.fake(n, self.rng)
        z = torch.randn(n, self.cfg.model.z_dim, device=self.device, generator=self.rng)
        return self.G(z, labels.cnd), labels

    def _discriminate(self, real, real_labels, fake, fake_labels):
        """D outputs for reals and fakes: two forwards, or one over the concatenated batch
        (mixed batch training, seed 001 §3) so batch-norm statistics are shared."""
        if self.cfg.loss.mixed_batch:
            both = Labels.cat(real_labels, fake_labels)
            out = self.d_fn(torch.cat([real, fake]), both.cnd)
            n = real.shape[0]
            return {k: v[:n] for k, v in out.items()}, {k: v[n:] for k, v in out.items()}
        return self.d_fn(real, real_labels.cnd), self.d_fn(fake, fake_labels.cnd)

    def train_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        batch = cfg.train.batch_size
        logs: dict[str, torch.Tensor] = {}
        self.D.requires_grad_(True)
        for _ in range(cfg.train.d_steps):
            real, real_labels = self._real_batch()
            with torch.no_grad():
                fake, fake_labels = self._fake_batch(batch)
            if self.diagnostics:
                self.diagnostics.arm()
            out_r, out_f = self._discriminate(real, real_labels, fake, fake_labels)
            fake_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
            d_loss, d_logs = self.method.d_loss(out_r, out_f, real_labels, fake_labels)
            if self.diagnostics:
                d_logs.update(self.diagnostics(d_logs, real.shape[0]))
            for penalty, weight in self.penalties:
                ctx = PenaltyContext(self.d_fn, self.method, real, fake, real_labels, fake_labels, weight, self.rng)
                value = penalty(ctx)
                d_logs[f"d_{penalty.__name__}"] = value
                d_loss = d_loss + value
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        logs.update(d_logs)
        logs["d_loss"] = d_loss

        self.D.requires_grad_(False)  # no D weight gradients during the G step
        fake, fake_labels = self._fake_batch(batch)
        if cfg.loss.mixed_batch:
            _, out_f = self._discriminate(real, real_labels, fake, fake_labels)
        else:
            out_f = self.d_fn(fake, fake_labels.cnd)
        fake_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
        g_loss, g_logs = self.method.g_loss(out_f, fake_labels)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        if self.ema:
            self.ema.update(0.0 if self.step < cfg.train.ema_start else self.ema.decay_at(self.step))
        logs.update(g_logs)
        logs.update(self.labeling.update(self.step))
        logs["g_loss"] = g_loss
        return {k: v.detach() for k, v in logs.items()}

    # ------------------------------------------------------------------ sampling & outputs
    def sampling_generator(self, use_ema: bool = True) -> torch.nn.Module:
        g = self.G
        if use_ema and self.ema:
            g = self.ema.module
            if self.cfg.train.standing_stats > 0:
                g = _with_standing_stats(g, self, self.cfg.train.standing_stats)
        return self.labeling.sampling_generator(g, self.D, self.method, self.cfg.seed)

    @torch.no_grad()
    def write_samples(self) -> Path:
        g = self.sampling_generator()
        was_training = g.training
        g.eval()
        rows = list(range(min(self.info.num_classes, MAX_GRID_ROWS)))
        per_class = GRID_COLUMNS if len(self.info.sample_shape) == 3 else 500
        x, y = sample_grid(g, self.cfg.model.z_dim, rows, self.info.num_classes, per_class,
                           self.cfg.seed, self.device)
        path = self.run.samples / f"step_{self.step:07d}.png"
        save_samples(path, x, y, GRID_COLUMNS)
        save_samples(self.run.samples / "latest.png", x, y, GRID_COLUMNS)
        g.train(was_training)
        return path

    def save(self) -> None:
        # Finite losses do not guarantee finite weights (one bad update can overflow them).
        for name, net in (("generator", self.G), ("discriminator", self.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                raise TrainingDiverged(f"{name} weights are not finite at step {self.step}; stopped, "
                                       "the last checkpoint on disk is kept")
        save_checkpoint(self.run.last, self._state())

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        self.setup()
        cfg = self.cfg.train
        total = cfg.steps
        log = TrainingLog(self.run.metrics, self.run.tensorboard, self.step, total, cfg.batch_size, self.progress)
        last_good = self.step
        record = None
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        try:
            while self.step < total:
                losses = self.train_step()
                self.step += 1
                log.record(self.step, losses)
                at_end = self.step == total
                if self.step % cfg.log_every == 0 or self.step % cfg.checkpoint_every == 0 or at_end:
                    record = log.flush(self.step, last_good) or record
                if cfg.sample_every and self.step % cfg.sample_every == 0 and not at_end:
                    self.write_samples()
                if self.evaluator and (self.step % self.cfg.eval.every == 0 or at_end):
                    self.evaluate(log)
                if self.step % cfg.checkpoint_every == 0 or at_end:
                    self.save()
                    last_good = self.step
                self.after_step(log)
            if not self.run.last.exists():  # resumed a finished run: still leave a checkpoint
                self.save()
            self.write_samples()
        finally:
            log.close()
        return TrainResult(self.step, self.run.root, time.perf_counter() - t0, record)

    def evaluate(self, log: TrainingLog) -> dict[str, float]:
        """Metrics of the sampling generator, logged; saves `best.pt` when `eval.best_metric`
        improves. Runs before the step's checkpoint, so the best value survives a resume."""
        values = self.evaluator(self.sampling_generator(), self.cfg.model.z_dim)
        log.log_scalars(self.step, values, "eval")
        name = self.cfg.eval.best_metric
        if name and name in values:
            from condgan.metrics import METRICS

            higher = next((spec.is_higher_better(name) for spec in map(METRICS.get, self.cfg.eval.metrics)
                           if spec.is_higher_better(name) is not None), False)
            better = self.best is None or (values[name] > self.best["value"] if higher else values[name] < self.best["value"])
            if better:
                self.best = {"metric": name, "value": values[name], "step": self.step}
                save_checkpoint(self.run.best, self._state())
        return values

    def after_step(self, log: TrainingLog) -> None:
        """Hook for periodic work (evaluation during training)."""


def _with_standing_stats(g, trainer: Trainer, num_batches: int):
    import copy

    from condgan.training.restore import standing_stats_inputs

    g = copy.deepcopy(g)
    standing_statistics(g, standing_stats_inputs(trainer.cfg, trainer.info, trainer.device), num_batches)
    return g
