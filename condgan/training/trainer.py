"""The training loop (explicit, in the style of stylegan2-ada's training_loop.py).

One iteration = `train.d_steps` discriminator steps then one generator step (+ EMA update).
Everything random draws from two seeded torch.Generators (data order; latents / fake labels /
penalty noise) whose states are checkpointed, so a resumed run is bit-identical on CPU — with
the same number of CPU threads: the thread count changes how reductions are split, so a resume
with another count (warned about) continues correctly but not bit for bit.

One process trains in a run directory at a time (an flock on `RUN/.lock`, see
`condgan.io.DirectoryLock`); the checkpoint is written before the sample grid of the same step,
so a kill while drawing samples never costs a checkpoint interval.

Multi-process (torchrun, `condgan.training.distributed`): every rank runs this loop on its shard
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
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from condgan.augment import AugmentedDiscriminator
from condgan.config import RESUMABLE_KEYS, Config, config_diff, config_from_dict
from condgan.errors import CondganError
from condgan.io import remove_stale_temporaries
from condgan.losses.conditioning.base import Labels
from condgan.losses.regularizers import REGULARIZERS, PenaltyContext
from condgan.training.build import GAN, DataInfo, build_gan, resolve_device
from condgan.training.checkpoint import RunDir, atomic_write_text, load_checkpoint, save_checkpoint
from condgan.training.diagnostics import DiscriminatorDiagnostics
from condgan.training.distributed import SINGLE, Distributed, is_secondary_rank, plain_batchnorm
from condgan.training.ema import GeneratorEMA, standing_statistics
from condgan.training.extras import TrainingExtras
from condgan.training.labeling import LABELING
from condgan.training.latents import sample_latents
from condgan.training.logger import TrainingDiverged, TrainingLog, say, warn
from condgan.training.precision import Precision, to_memory_format
from condgan.training.sampling import category_grid, grid_categories, sample_grid, save_samples

CHECKPOINT_FORMAT = 1
GRID_COLUMNS = 10
MAX_GRID_ROWS = 20
# train.threads=0: at most this many threads. The networks condgan trains on CPU are small;
# intra-op threads stop paying off beyond a few, while each extra thread costs a lot as soon as
# the machine is shared (2 threads on a busy 2-core box ran ~6x slower than 1).
MAX_AUTO_THREADS = 4


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (taskset, cpusets), further limited by a
    cgroup-v2 CPU quota (`docker --cpus`), which os.cpu_count() and torch's default ignore."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def resolve_threads(requested: int, processes: int = 1) -> int:
    """`train.threads` → the torch CPU thread count used for training.

    0 (the default) picks the CPUs this process may use (affinity and container quota — torch's
    own default counts the machine's physical cores and ignores both), at most MAX_AUTO_THREADS.
    Measured on an idle 2-core machine with the quickstart nets: 1 thread ~270 images/s, 2
    threads ~560. On a machine shared with other jobs (several runs of a sweep) extra threads
    spin-wait on each other and one thread per run is much faster (2 threads on a busy 2-core
    machine ran ~6× slower than 1): set train.threads=1 there, as the experiment drivers do.
    Any N > 0 is used as given. `processes`: training processes sharing this machine (torchrun's
    LOCAL_WORLD_SIZE): the automatic count is this machine's share, available CPUs // processes."""
    if requested > 0:
        return requested
    return max(1, min(MAX_AUTO_THREADS, available_cpus() // max(1, processes)))


def make_optimizer(params, cfg: Config, lr: float, betas) -> torch.optim.Optimizer:
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.train.optimizer]
    return opt(params, lr=lr, betas=tuple(betas), weight_decay=cfg.train.weight_decay)


def check_resumable(run: RunDir, cfg: Config, state: dict | None = None) -> None:
    """An existing run directory may only be resumed with the same config, up to the keys that
    do not change what a step computes (steps, intervals, logging).

    The run's config is taken from its checkpoint when there is one (what is restored), else
    from `config.yaml` (a run killed before its first checkpoint); a damaged `config.yaml` next
    to a readable checkpoint is therefore harmless and is rewritten."""
    if state is not None:
        old = state["config"]
    elif run.config.exists():
        old = run.read_config_dict()
    else:
        return
    # A run written by an older version lacks the keys added since: they take their defaults,
    # which keep the old behaviour (new options default to off), so such a run still resumes.
    try:
        old = config_from_dict(old).to_dict()
    except CondganError as e:
        raise CondganError(f"output directory '{run.root}' holds a run whose config this version cannot "
                           f"read ({e}); use a new --out directory") from None
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


def check_run_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise CondganError(f"--out '{root}' is an existing file; a run directory is needed, "
                           "choose another --out")


def check_world_size(run: RunDir, state: dict, world_size: int) -> None:
    """Refuse a resume with another number of processes: the data shards and the per-rank noise
    streams depend on it, so the run could not continue as it started (checkpoints written before
    multi-process training existed count as 1 process)."""
    saved = state.get("world_size", 1)
    if saved != world_size:
        raise CondganError(
            f"run '{run.root}' was trained by {saved} process(es), this resume runs {world_size}; "
            f"data shards and per-rank random streams depend on the number of processes: resume "
            f"with {saved} (torchrun --nproc-per-node / condgan train --nproc), or start a new --out")


def preflight(cfg: Config, out_dir: str | Path, world_size: int) -> None:
    """What a launcher checks before starting `world_size` processes (rank 0 checks it again):
    the run directory, and for a resume the config and the number of processes."""
    run = RunDir(out_dir)
    check_run_root(run.root)
    state = load_checkpoint(run.last) if run.last.exists() else None
    check_resumable(run, cfg, state)
    if state is not None:
        check_world_size(run, state, world_size)


@dataclass
class TrainResult:
    step: int
    run_dir: Path
    seconds: float
    last_record: dict | None


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
            self._check_environment(state)
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
        self.precision = Precision(cfg.train.precision, self.device)
        if cfg.train.sync_batchnorm and dist.enabled and self.device.type != "cuda":
            raise CondganError(f"train.sync_batchnorm needs CUDA devices (torch's SyncBatchNorm has no "
                               f"{self.device.type} kernel); set train.sync_batchnorm=false")
        state = dist.on_main(self._read_state)  # every rank restores what rank 0 read
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
        self.gan: GAN = build_gan(cfg, self.info, self.device)
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
        self.opt_g = make_optimizer(self.G.parameters(), cfg, cfg.train.g_lr, cfg.train.g_betas)
        self.opt_d = make_optimizer(self.D.parameters(), cfg, cfg.train.d_lr, cfg.train.d_betas)
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
        # ADA, APA, LeCam, lazy penalties, path length, style mixing (each off unless configured).
        self.extras = TrainingExtras(cfg, self.method, self.noise_rng,
                                     cfg.train.batch_size * cfg.train.d_steps * dist.world_size,
                                     dist.mean if dist.enabled else None, self.device)
        # Every D input goes through ADA / DiffAugment when on (reals and fakes, D and G steps,
        # penalty inputs), drawing from the training RNG so resume stays bit-identical.
        augment = self.extras.augment()
        self.d_fn = AugmentedDiscriminator(self.D, augment) if augment is not None else self.D
        self.diagnostics = (DiscriminatorDiagnostics(self.D, self.method.cond_loss_key)
                            if cfg.train.diagnostics else None)
        self.penalties = [(REGULARIZERS.get(name), getattr(cfg.reg, name))
                          for name in REGULARIZERS.names() if getattr(cfg.reg, name) > 0]
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
            self._restore(state)
        if dist.is_main:
            atomic_write_text(self.run.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def _check_environment(self, state: dict) -> None:
        """Refuse a resume on another device type: the training RNG is a generator of the device
        it was created on (a CPU state does not even load into a CUDA generator) and kernels
        differ, so the run could neither continue nor reproduce. Checkpoints record the resolved
        device, so `device=auto` resolving differently on another machine is caught too."""
        saved = state.get("device")
        if saved is not None and saved != self.device.type:
            raise CondganError(
                f"run '{self.run.root}' was trained on {saved}, this resume would run on "
                f"{self.device.type} (device={self.cfg.device}); its random state is bound to the "
                f"device: resume with --set device={saved}, or start a new --out")
        check_world_size(self.run, state, self.dist.world_size)
        saved_threads = state.get("threads")
        if saved_threads is not None and saved_threads != self.threads and self.device.type == "cpu":
            warn(f"run '{self.run.root}' was trained with {saved_threads} CPU thread(s), resuming "
                 f"with {self.threads}: training continues, but not bit-identically to an "
                 f"uninterrupted run (set train.threads={saved_threads} for that)")

    def _state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "device": self.device.type,
            "threads": self.threads,
            "world_size": self.dist.world_size,
            "best": self.best,
            "config": self.cfg.to_dict(),
            "data_info": self.info.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "generator_ema": self.ema.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "labeling": self.labeling.state_dict(),
            "extras": self.extras.state_dict(),
            "precision": self.precision.state_dict(),
            "rng": {"train": self.rng.get_state(), "torch": torch.get_rng_state(),
                    "sampler": self.batches.state_dict(),
                    **({"ranks": self._rank_states} if self.dist.enabled else {})},
        }

    def _local_random_state(self) -> dict:
        return {"noise": self.noise_rng.get_state(), "torch": torch.get_rng_state()}

    def _gather_random_states(self) -> None:
        """Collective: every rank's own random streams, in rank order, for rank 0's checkpoint."""
        if self.dist.enabled:
            self._rank_states = self.dist.gather_objects(self._local_random_state())

    def _restore(self, state: dict) -> None:
        self.step = state["step"]
        self.best = state.get("best")
        if self.best is not None and self.best.get("metric") != self.cfg.eval.best_metric:
            # Another eval.best_metric now: the stored best is a value of a different metric
            # (comparing an accuracy with a FID is meaningless), so the next evaluation starts
            # the new series and overwrites best.pt.
            self.best = None
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.ema:
            self.ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.labeling.load_state_dict(state.get("labeling", {}))
        self.extras.load_state_dict(state.get("extras", {}))
        self.precision.load_state_dict(state.get("precision"))
        self.rng.set_state(state["rng"]["train"])
        torch.set_rng_state(state["rng"]["torch"])
        self.batches.load_state_dict(state["rng"]["sampler"])
        if self.dist.enabled:
            own = state["rng"]["ranks"][self.dist.rank]
            self.noise_rng.set_state(own["noise"])
            torch.set_rng_state(own["torch"])

    # ------------------------------------------------------------------ one iteration
    def _real_batch(self) -> tuple[torch.Tensor, Labels]:
        x, idx = self.batches.next()
        x = to_memory_format(self.cfg, x)
        y = self.labels[idx] if self.labels is not None else None
        return x, self.labeling.real(x, y)

    def _latents(self, n: int) -> tuple[torch.Tensor, Labels]:
        """n latents and fake labels. Under W processes every rank draws those of the global
        batch (W·n, the same on every rank) and keeps its own n rows."""
        world, rank = self.dist.world_size, self.dist.rank
        labels = self.labeling.fake(n * world, self.rng)
        z = sample_latents(n * world, self.cfg.model.z_dim, self.rng)
        if world > 1:
            rows = slice(rank * n, (rank + 1) * n)
            z = z[rows]
            labels = Labels(*(None if t is None else t[rows] for t in (labels.y, labels.cnd)))
        return z, labels

    def _fake_batch(self, n: int) -> tuple[torch.Tensor, Labels]:
        z, labels = self._latents(n)
        return self.extras.generate(self.G, z, labels.cnd).float(), labels  # fp32 images also under autocast

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
        for i in range(cfg.train.d_steps):
            real, real_labels = self._real_batch()
            with torch.no_grad(), self.precision.autocast():
                fake, fake_labels = self._fake_batch(batch)
                real, real_labels, apa_logs = self.extras.real_inputs(real, real_labels, self._fake_batch)
            if self.diagnostics:
                self.diagnostics.arm()
            with self.precision.autocast():
                out_r, out_f = self._discriminate(real, real_labels, fake, fake_labels)
                fake_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
                d_loss, d_logs = self.method.d_loss(out_r, out_f, real_labels, fake_labels)
                extra, extra_logs = self.labeling.extra_loss(out_f, fake_labels, "d")
                if extra is not None:
                    d_loss = d_loss + extra
                    d_logs.update(extra_logs)
                if self.diagnostics:
                    d_logs.update(self.diagnostics(d_logs, real.shape[0]))
                extra, extra_logs = self.extras.d_terms(out_r, out_f, real_labels, fake_labels)
                if extra is not None:
                    d_loss = d_loss + extra
                d_logs.update(extra_logs, **apa_logs)
                # Lazy regularization: every reg.d_interval-th D step, weight × d_interval
                # (logged as 0 on the others, so the logged mean is the per-step contribution).
                scale = self.extras.penalty_scale(self.step * cfg.train.d_steps + i)
                for penalty, weight in self.penalties:
                    if not scale:
                        d_logs[f"d_{penalty.__name__}"] = torch.zeros((), device=d_loss.device)
                        continue
                    ctx = PenaltyContext(self.d_fn, self.method, real, fake, real_labels, fake_labels, weight * scale,
                                         self.noise_rng, self.precision.grad_scale("d"))
                    value = penalty(ctx)
                    d_logs[f"d_{penalty.__name__}"] = value
                    d_loss = d_loss + value
            self.precision.step("d", d_loss, self.opt_d, before_step=lambda: self.dist.average_gradients([self.D]))
        logs.update(d_logs)
        logs["d_loss"] = d_loss

        self.D.requires_grad_(False)  # no D weight gradients during the G step
        with self.precision.autocast():
            fake, fake_labels = self._fake_batch(batch)
            if cfg.loss.mixed_batch:
                _, out_f = self._discriminate(real, real_labels, fake, fake_labels)
            else:
                out_f = self.d_fn(fake, fake_labels.cnd)
            fake_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
            g_loss, g_logs = self.method.g_loss(out_f, fake_labels)
            extra, extra_logs = self.labeling.extra_loss(out_f, fake_labels, "g")
            if extra is not None:
                g_loss = g_loss + extra
                g_logs.update(extra_logs)
            extra, extra_logs = self.extras.g_terms(self.step, self.G, self._latents)
            if extra is not None:
                g_loss = g_loss + extra
            g_logs.update(extra_logs)
        self.precision.step("g", g_loss, self.opt_g, before_step=lambda: self.dist.average_gradients([self.G]))
        if self.ema:
            self.ema.update(0.0 if self.step < cfg.train.ema_start else self.ema.decay_at(self.step))
        logs.update(g_logs)
        logs.update(self.labeling.train_networks(fake, fake_labels))
        logs.update(self.labeling.update(self.step))
        logs.update(self.extras.end_step(self.step + 1))
        logs["g_loss"] = g_loss
        for net in self.networks:
            self.dist.broadcast_buffers(net)  # batch-norm statistics: rank 0's everywhere
        return self.dist.mean({k: v.detach() for k, v in logs.items()})

    # ------------------------------------------------------------------ sampling & outputs
    def sampling_generator(self, use_ema: bool = True) -> torch.nn.Module:
        g = self.G
        if use_ema and self.ema:
            g = self.ema.module
        if self.cfg.train.sync_batchnorm and self.dist.enabled:
            g = plain_batchnorm(g)  # rank 0 samples alone
        if use_ema and self.ema and self.cfg.train.standing_stats > 0:
            g = _with_standing_stats(g, self, self.cfg.train.standing_stats)
        return self.labeling.sampling_generator(self.cfg, g, self.D, self.method)

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
        mode = LABELING.get(self.cfg.model.labeling)
        if mode.num_categories(self.cfg):
            # Self-labeling: one column per category, one row per latent (seed 000 Figs. 2–3).
            columns = grid_categories(mode.num_categories(self.cfg))
            x = category_grid(g, self.cfg.model.z_dim, mode.category_conditions(self.cfg, columns),
                              GRID_COLUMNS, self.cfg.seed, self.device)
            y, ncol = None, len(columns)
        else:
            rows = list(range(min(self.info.num_classes, MAX_GRID_ROWS)))
            per_class = GRID_COLUMNS if len(self.info.sample_shape) == 3 else 500
            x, y = sample_grid(g, self.cfg.model.z_dim, rows, self.info.num_classes, per_class,
                               self.cfg.seed, self.device)
            ncol = GRID_COLUMNS
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

    # ------------------------------------------------------------------ the loop
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
                f"{self.threads} CPU thread{'s' if self.threads != 1 else ''}{' per process' if world > 1 else ''}, {batch}")

    def train(self) -> TrainResult:
        try:
            self.setup()
            return self._train()
        finally:
            self.close()

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

    def _train(self) -> TrainResult:
        """The loop. Under W processes every rank runs it (the collectives of a step), and the
        run-directory work is rank 0's: logs (of losses averaged over the ranks), evaluations,
        checkpoints (holding every rank's random state, gathered first) and grids; the other
        ranks wait for it at the next collective (a barrier at the end)."""
        cfg = self.cfg.train
        total = cfg.steps
        main = self.dist.is_main
        if self.progress:
            say(self.describe())
        log = self.log = (TrainingLog(self.run.metrics, self.run.tensorboard, self.step, total,
                                      cfg.batch_size * self.dist.world_size, self.progress) if main else None)
        last_good = self.step if self.dist.on_main(self.run.last.exists) else None
        record = None
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        while self.step < total:
            losses = self.train_step()
            self.step += 1
            at_end = self.step == total
            checkpoint = self.step % cfg.checkpoint_every == 0 or at_end
            evaluate = self.cfg.eval.every > 0 and (self.step % self.cfg.eval.every == 0 or at_end)
            if checkpoint or evaluate:
                self._gather_random_states()
            if main:
                log.record(self.step, losses)
                if self.step % cfg.log_every == 0 or checkpoint:
                    record = log.flush(self.step, last_good) or record
                if self.evaluator and evaluate:
                    self.evaluate(log)
            if checkpoint:
                self.save()
                last_good = self.step
            if main and cfg.sample_every and self.step % cfg.sample_every == 0 and not at_end:
                self.write_samples()
            self.after_step(log)
        if not self.dist.on_main(self.run.last.exists):  # resumed a finished run: still leave a checkpoint
            self._gather_random_states()
            self.save()
        if main:
            self.write_samples()
        self.dist.barrier()
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


def evaluation_classes(cfg: Config, info: DataInfo) -> int:
    """K the evaluator requests classes of: the data's classes for class-conditional runs; 0 for
    multi-label data and for self-labeling runs (their categories are not the data's classes, so
    their generator is sampled with class-balanced categories and scored unconditionally)."""
    if info.multi_label or LABELING.get(cfg.model.labeling).num_categories(cfg):
        return 0
    return info.num_classes


def _with_standing_stats(g, trainer: Trainer, num_batches: int):
    import copy

    from condgan.training.restore import standing_stats_inputs

    g = copy.deepcopy(g)
    standing_statistics(g, standing_stats_inputs(trainer.cfg, trainer.info, trainer.device), num_batches)
    return g
