"""The trainer: a run assembled from its config — the parts a step needs (networks, optimizers,
labeling mode, penalties, random streams, real batches) built and restored from the run
directory, the checkpoint written from them, sample grids and evaluations during training.

What one iteration computes is `condgan.training.step` (phases); when the periodic work runs is
`condgan.training.loop`; the run directory, its lock and the resume checks are
`condgan.training.checkpoint`; the CPU thread count is `condgan.training.threads`.

Everything random draws from seeded torch.Generators (data order; latents / fake labels;
penalty noise) whose states are checkpointed, so a resumed run is bit-identical on CPU — with
the same number of CPU threads: the thread count changes how reductions are split, so a resume
with another count (warned about) continues correctly but not bit for bit.

One process trains in a run directory at a time (an flock on `RUN/.lock`, see
`condgan.io.DirectoryLock`).

Multi-process (torchrun, `condgan.training.distributed`): every rank runs the loop on its shard
of the batch (train.batch_size is per process; the global batch is W·B), averages gradients after
each backward, and only rank 0 touches the run directory (lock, checkpoints, logs, grids,
evaluations). Randomness: the data order and the fakes' latents and labels come from streams
shared by all ranks (each rank draws the global batch and keeps its rows), so a W-process run
sees the data and latents of a one-process run with batch W·B; noise drawn inside a step
(penalty interpolation, DiffAugment) comes from a per-rank stream seeded by (seed, rank), saved
per rank in the checkpoint. A run is reproducible for a fixed world size and resumes only with
the world size it was started with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import yaml

from condgan.augment import AugmentedDiscriminator
from condgan.config import Config
from condgan.errors import CondganError
from condgan.io import remove_stale_temporaries
from condgan.losses.regularizers import REGULARIZERS
from condgan.training.allocator import tune_malloc
from condgan.training.build import GAN, DataInfo, build_gan, resolve_device
from condgan.training.checkpoint import (RunDir, atomic_write_text, check_environment, check_resumable,
                                         check_run_root, check_world_size, checkpoint_state, load_checkpoint,
                                         local_random_state, restore_checkpoint_state, save_checkpoint, saved_speed)
from condgan.training.diagnostics import DiscriminatorDiagnostics
from condgan.training.distributed import SINGLE, Distributed, is_secondary_rank, plain_batchnorm
from condgan.training.ema import GeneratorEMA, standing_statistics
from condgan.training import extras
from condgan.training.extensions import build_extensions, install_extensions
from condgan.training.labeling import LABELING, evaluation_classes
from condgan.training.logger import TrainingDiverged, TrainingLog
from condgan.training.loop import TrainResult, train_loop
from condgan.training.optimizers import is_fused, make_optimizer
from condgan.training.precision import Precision, resolve_speed
from condgan.training.sampling import save_samples, training_grid
from condgan.training.step import GANStep
from condgan.training.threads import resolve_threads
from condgan.validation import validate_config


def preflight(cfg: Config, out_dir: str | Path, world_size: int) -> None:
    """What a launcher checks before starting `world_size` processes (rank 0 checks it again):
    the run directory, and for a resume the config and the number of processes."""
    validate_config(cfg)
    run = RunDir(out_dir)
    check_run_root(run.root)
    state = load_checkpoint(run.last) if run.last.exists() else None
    check_resumable(run, cfg, state)
    if state is not None:
        check_world_size(run, state, world_size)


class Trainer:
    def __init__(self, cfg: Config, out_dir: str | Path, progress: bool = True, name: str | None = None):
        """`progress`: a bar on a terminal, else plain progress lines on stderr, plus a summary
        of what runs at the start; False is silent. `name`: what the run is called in that
        summary (the preset or config file)."""
        self.cfg = cfg
        self.run = RunDir(out_dir)
        self.progress = progress
        self.name = name
        self.log: TrainingLog | None = None
        self._lock = None
        self._previous_threads: int | None = None
        self.dist: Distributed = SINGLE
        if is_secondary_rank():
            self.progress = False  # rank 0 reports

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Lock the run directory, then build everything (and restore the checkpoint). Undone by
        `close()`; a failure here leaves a directory that did not exist before absent."""
        validate_config(self.cfg)  # a Config built or edited by hand: fail before any work
        root = self.run.root
        self.dist = Distributed.from_environment(resolve_device(self.cfg.device))
        try:
            created = self.dist.on_main(self._lock_run)
        except BaseException:
            self.close()
            raise
        try:
            self._setup()
        except BaseException:
            self.close()
            if created and self.dist.is_main:
                self._lock.path.unlink(missing_ok=True)
                try:
                    root.rmdir()
                except OSError:
                    pass  # it holds something else now: leave it
            raise

    def _lock_run(self) -> bool:
        """Rank 0: take the run directory's lock; returns whether the directory did not exist."""
        root = self.run.root
        check_run_root(root)
        created = not root.exists()
        self._lock = self.run.lock().acquire()
        return created

    def _read_state(self) -> dict | None:
        """Rank 0: clean the run directory, read and check its checkpoint (None: a new run)."""
        # Safe: we hold the run's lock, and only the trainer writes these two directories (the
        # run root also receives eval.json / reports from unlocked readers, so it is left alone).
        for directory in (self.run.checkpoints, self.run.samples):
            remove_stale_temporaries(directory)
        state = load_checkpoint(self.run.last) if self.run.last.exists() else None
        check_resumable(self.run, self.cfg, state)
        if state is not None:
            check_environment(self.run, state, self.device, self.cfg.device, self.threads, self.dist.world_size)
        return state

    def _setup(self) -> None:
        from condgan.data import load_dataset
        from condgan.data.sampler import BatchSampler
        from condgan.data.stream import RealBatches

        cfg = self.cfg
        dist = self.dist
        self.threads = resolve_threads(cfg.train.threads, dist.local_world_size)
        self._previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self.device = dist.device(resolve_device(cfg.device))
        if cfg.train.sync_batchnorm and dist.enabled and self.device.type != "cuda":
            raise CondganError(f"train.sync_batchnorm needs CUDA devices (torch's SyncBatchNorm has no "
                               f"{self.device.type} kernel); set train.sync_batchnorm=false")
        state = dist.on_main(self._read_state)  # every rank restores what rank 0 read
        self.speed = resolve_speed(cfg, self.device, saved_speed(state) if state is not None else None)
        self.allocator = tune_malloc() if cfg.train.tune_malloc else "allocator untouched (train.tune_malloc=false)"
        self.precision = Precision(self.speed.precision, self.device)
        error = None
        try:
            data = load_dataset(cfg.data, "train", allow_stream=True)
            if cfg.train.batch_size * dist.world_size > len(data):
                over = f" × {dist.world_size} processes" if dist.enabled else ""
                raise CondganError(f"train.batch_size={cfg.train.batch_size}{over} exceeds the {len(data)} "
                                   f"training samples of data set '{cfg.data.name}'")
        except CondganError as e:
            error = e
        dist.agree(error)
        if cfg.data.unlabeled:
            # Labels hidden from training; evaluation reads them from the data set itself.
            data = dataclasses.replace(data, labels=None, class_names=[], multi_label=False)
        self.info = DataInfo.of(data)
        self.num_train = len(data)
        mode = LABELING.get(cfg.model.labeling)
        if self.info.num_classes == 0 and not self.info.multi_label:
            needs = mode.labels_needed(cfg)
            if needs:
                from condgan.validation import unlabeled_message

                where = f" (data.root '{cfg.data.root}')" if cfg.data.root else ""
                raise CondganError(unlabeled_message(cfg, needs, f"data set '{cfg.data.name}'{where} is unlabeled"))
        self.labels = data.labels.to(self.device) if data.labels is not None else None

        torch.manual_seed(cfg.seed)
        self.gan: GAN = build_gan(cfg, self.info, self.device, self.speed)
        self.G, self.D, self.method = self.gan.generator, self.gan.discriminator, self.gan.method
        if cfg.train.sync_batchnorm and dist.enabled:
            self.G = self.gan.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = self.gan.discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        if dist.enabled and hasattr(self.method, "gather"):
            self.method.gather = dist.gather_keys  # batch-level losses see every rank's samples
        self.labeling = LABELING.get(cfg.model.labeling)(cfg, data.labels, self.info.num_classes,
                                                          self.info.multi_label, self.device,
                                                          sample_shape=self.info.sample_shape)
        self.labeling.dist = dist
        self.networks = [self.G, self.D, *self.labeling.networks()]
        for net in self.networks:
            dist.broadcast_module(net)  # identical initial weights (rank 0's) everywhere
        g, d = extras.lazy_ratio(cfg, "g"), extras.lazy_ratio(cfg, "d")  # 1 unless a lazy penalty has its own step
        self.opt_g = make_optimizer(self.G.parameters(), cfg, cfg.train.g_lr * g, tuple(b ** g for b in cfg.train.g_betas))
        self.opt_d = make_optimizer(self.D.parameters(), cfg, cfg.train.d_lr * d, tuple(b ** d for b in cfg.train.d_betas))
        self.ema = GeneratorEMA(self.G, cfg.train.ema) if cfg.train.ema > 0 else None
        self.rng = torch.Generator(self.device).manual_seed(cfg.seed)
        # Per-rank noise (penalties, DiffAugment); the training RNG itself in one process.
        self.noise_rng = (torch.Generator(self.device).manual_seed(cfg.seed + 1_000_033 * (dist.rank + 1))
                          if dist.enabled else self.rng)
        self._rank_states: list | None = None
        self.sampler = BatchSampler(len(data), cfg.train.batch_size,
                                    torch.Generator().manual_seed(cfg.seed + 1_000_003),
                                    dist.rank, dist.world_size)
        self.batches = RealBatches.of(data.images, self.sampler, self.device, cfg.data.stream_workers)
        self.images = self.batches.images  # the training images (a tensor, or FileImages when streamed)
        # Every D input goes through ADA and DiffAugment when they are on (reals and fakes, D and G
        # steps, penalty inputs), drawing from the noise RNG so resume stays bit-identical.
        d_augment = extras.augment(cfg, self.noise_rng)
        self.d_fn = AugmentedDiscriminator(self.D, d_augment) if d_augment is not None else self.D
        self.diagnostics = (DiscriminatorDiagnostics(self.D, self.method.cond_loss_key)
                            if cfg.train.diagnostics else None)
        self.penalties = [(REGULARIZERS.get(name), getattr(cfg.reg, name))
                          for name in REGULARIZERS.names() if getattr(cfg.reg, name) > 0]
        self.gan_step = GANStep(cfg, self.G, self.D, self.method, self.labeling, self.opt_g, self.opt_d,
                                d_fn=self.d_fn, ema=self.ema, penalties=self.penalties, precision=self.precision,
                                dist=dist, rng=self.rng, noise_rng=self.noise_rng, batches=self.batches,
                                labels=self.labels, diagnostics=self.diagnostics, networks=self.networks,
                                channels_last=self.speed.channels_last, extensions=build_extensions(cfg))
        # StyleGAN2's and the limited-data additions (each off unless configured): phases and hooks.
        extras.install(self.gan_step, cfg, d_augment, cfg.train.batch_size * cfg.train.d_steps * dist.world_size,
                       dist.mean if dist.enabled else None)
        self.encoder = None  # model.encoder's E (set by the bigan extension)
        self.extensions = install_extensions(self)  # the training extensions (condgan.training.extensions)
        self.step = 0
        self.best = None
        self.evaluator = None
        if cfg.eval.every > 0 and dist.is_main:
            from condgan.evaluation import Evaluator

            k = evaluation_classes(cfg, self.info)
            self.evaluator = Evaluator(cfg.data, k, cfg.eval.extractor, cfg.eval.num_samples,
                                       cfg.eval.metrics, seed=0, device=self.device,
                                       real_split=cfg.eval.real_split)
        if state is not None:
            restore_checkpoint_state(self, state)
        if dist.is_main:
            atomic_write_text(self.run.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def _state(self) -> dict:
        return checkpoint_state(self)

    def gather_random_states(self) -> None:
        """Collective: every rank's own random streams, in rank order, for rank 0's checkpoint."""
        if self.dist.enabled:
            self._rank_states = self.dist.gather_objects(local_random_state(self))

    # ------------------------------------------------------------------ training
    def train_step(self) -> dict[str, torch.Tensor]:
        """One iteration (`GANStep`, phase by phase) at the current step; its logs."""
        return self.gan_step(self.step)

    def train(self) -> TrainResult:
        """Set up, run the loop (`condgan.training.loop`) to `train.steps`, close."""
        try:
            self.setup()
            return train_loop(self)
        finally:
            self.close()

    # ------------------------------------------------------------------ sampling & outputs
    def sampling_generator(self, use_ema: bool = True) -> torch.nn.Module:
        g = self.G
        if use_ema and self.ema:
            g = self.ema.module
        if self.cfg.train.sync_batchnorm and self.dist.enabled:
            g = plain_batchnorm(g)  # rank 0 samples alone
        if use_ema and self.ema and self.cfg.train.standing_stats > 0:
            g = _with_standing_stats(g, self, self.cfg.train.standing_stats)
        return self.labeling.sampling_generator(self.cfg, g, self.D, self.method,
                                                self.labeling.learned_prior(self.labeling.state_dict()))

    @torch.no_grad()
    def write_samples(self) -> Path:
        # Forked: whatever sampling draws from the global RNG, training and the checkpointed
        # RNG state (written before the grid) do not see it.
        with torch.random.fork_rng(devices=[]):
            return self._write_samples()

    def _write_samples(self) -> Path:
        g = self.sampling_generator()
        was_training = g.training
        g.eval()
        x, y, ncol = training_grid(g, self.cfg, LABELING.get(self.cfg.model.labeling), self.info, self.device)
        path = self.run.samples / f"step_{self.step:07d}.png"
        save_samples(path, x, y, ncol)
        save_samples(self.run.samples / "latest.png", x, y, ncol)
        g.train(was_training)
        return path

    def save(self) -> None:
        # Finite losses do not guarantee finite weights (one bad update can overflow them).
        for name, net in (("generator", self.G), ("discriminator", self.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                kept = ("the last checkpoint on disk is kept" if self.run.last.exists()
                        else "no checkpoint was written yet")
                raise TrainingDiverged(f"{name} weights are not finite at step {self.step}; stopped, {kept}")
        if not self.dist.is_main:
            return
        if self.log is not None:
            self.log.sync()  # logs up to this step reach disk before the checkpoint claims them
        save_checkpoint(self.run.last, self._state())

    # ------------------------------------------------------------------ reporting
    def describe(self) -> str:
        """What is about to run, for the start of a training log."""
        cfg = self.cfg
        labels = ("unlabeled" if self.info.num_classes == 0 else
                  f"{self.info.num_classes} {'attributes' if self.info.multi_label else 'classes'}")
        what = f"resuming at step {self.step} of {cfg.train.steps}" if self.step else f"{cfg.train.steps} steps"
        world = self.dist.world_size
        batch = (f"batch {cfg.train.batch_size} per process × {world} processes = {cfg.train.batch_size * world}"
                 if world > 1 else f"batch {cfg.train.batch_size}")
        return (f"condgan: training {self.name or 'config'} ({what}) into {self.run.root}\n"
                f"condgan: data {cfg.data.name} ({self.num_train} images, {labels}), "
                f"{cfg.model.conditioning} / {cfg.loss.adversarial}, seed {cfg.seed}, device {self.device}, "
                f"{self.threads} CPU thread{'s' if self.threads != 1 else ''}{' per process' if world > 1 else ''}, {batch}\n"
                f"condgan: speed: {self.speed_summary()}")

    def speed_summary(self) -> str:
        """What runs how, and why (the choices `auto` made on this machine)."""
        parts = list(self.speed.reasons)
        parts.append("fused Adam" if is_fused(self.opt_g) else "Adam (torch's default implementation)")
        parts.append(self.allocator)
        if self.cfg.train.reuse_fakes:
            parts.append("G step reuses the D step's fakes (train.reuse_fakes)")
        return "; ".join(parts)

    def close(self) -> None:
        """Close the logs, restore torch's thread count, release the run directory."""
        if self.log is not None:
            self.log.close()
            self.log = None
        if getattr(self, "batches", None) is not None:
            self.batches.close()
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None
        if self._lock is not None:
            self._lock.release()
        self.dist.close()

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

    def after_step(self, log: TrainingLog | None) -> None:
        """Hook for other periodic work, called by the loop after every step (`log` is None on
        ranks other than 0)."""


def _with_standing_stats(g, trainer: Trainer, num_batches: int):
    import copy

    from condgan.training.restore import standing_stats_inputs

    g = copy.deepcopy(g)
    standing_statistics(g, standing_stats_inputs(trainer.cfg, trainer.info, trainer.device), num_batches)
    return g
