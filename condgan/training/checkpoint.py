"""The run directory: its layout, its writer lock, atomic checkpoints, and the checks a resume
must pass.

A run directory holds `config.yaml` (the resolved config), `checkpoints/last.pt` (everything
needed to resume bit-identically), `metrics.jsonl`, `tb/` (TensorBoard), `samples/`, plots and
reports. Files are written to a temporary name in the same directory and renamed, so a run killed
at any moment leaves either the old or the new file, never a torn one.

A run resumes only as it started: the same config up to the keys that do not change what a step
computes (`condgan.config.RESUMABLE_KEYS`), the same device type and the same number of
processes; another CPU thread count is allowed with a warning (not bit-identical then).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import yaml

from condgan.config import RESUMABLE_KEYS, Config, config_diff, config_from_dict
from condgan.errors import CondganError
from condgan.integrity import state_with_digest, unreadable_reason, verify_state
from condgan.io import DirectoryLock, atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)
from condgan.console import warn

CHECKPOINT_FORMAT = 1


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    checkpoints = property(lambda self: self.root / "checkpoints")
    last = property(lambda self: self.root / "checkpoints" / "last.pt")
    best = property(lambda self: self.root / "checkpoints" / "best.pt")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    samples = property(lambda self: self.root / "samples")
    tensorboard = property(lambda self: self.root / "tb")

    def lock(self) -> DirectoryLock:
        """The run's writer lock (`RUN/.lock`): one training process per run directory.
        Readers (sample, evaluate, report) do not take it: every file they read is replaced
        atomically."""
        return DirectoryLock(self.root, what="run directory")

    def read_config_dict(self) -> dict:
        if not self.config.exists():
            raise CondganError(f"'{self.root}' is not a condgan run directory (no config.yaml)")
        try:
            data = yaml.safe_load(self.config.read_text())
        except yaml.YAMLError as e:
            problem = f"invalid YAML: {str(e).splitlines()[0]}"
        else:
            if isinstance(data, dict):
                return data
            problem = "not a mapping of config keys"
        raise CondganError(f"'{self.config}' is damaged ({problem}); the run's config is also stored in "
                           f"'{self.last}': re-running `condgan train` with the run's config rewrites it")


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomically write `state` with the SHA-256 of its content (condgan.integrity)."""
    buffer = io.BytesIO()
    torch.save(state_with_digest(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """The state saved by `save_checkpoint`; a file that cannot be read, or whose content fails
    its SHA-256 check (damaged after it was written), is refused with one line."""
    path = Path(path)
    if path.name == "best.pt" and not path.exists():
        raise CondganError(f"checkpoint '{path}' does not exist: a run keeps best.pt only when it evaluates "
                           "during training with eval.best_metric set (e.g. --set eval.every=500 --set "
                           "eval.best_metric=fid); use --checkpoint last")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CondganError(f"checkpoint '{path}' does not exist; train the run first") from None
    except Exception as e:  # a truncated or foreign file
        raise CondganError(f"checkpoint '{path}' cannot be read: {unreadable_reason(e)}") from None
    if not isinstance(state, dict):
        raise CondganError(f"checkpoint '{path}' cannot be read: it holds a {type(state).__name__}, "
                           "not a condgan checkpoint")
    problem = verify_state(state)
    if problem:
        raise CondganError(f"checkpoint '{path}' is damaged: {problem}; it was changed after condgan wrote "
                           "it, so it is not used: restore it from a copy, or use another checkpoint of the run")
    return state


# --------------------------------------------------------------------------- what a checkpoint holds
def checkpoint_state(t) -> dict:
    """Everything a set-up trainer `t` needs to resume bit-identically: step, networks, EMA,
    optimizers, the labeling mode's, the step's phases' (`GANStep.stateful`: ADA's p, LeCam's
    anchors, BiGAN's encoder, ...), the step extensions' (historical means, the VDB's β) and the
    precision's state, every random stream (each rank's
    own, gathered by `Trainer.gather_random_states`), plus what sampling and evaluation read
    without the data set (config, data info) and the environment a resume must match."""
    return {
        "format": CHECKPOINT_FORMAT,
        "step": t.step,
        "device": t.device.type,
        "threads": t.threads,
        "world_size": t.dist.world_size,
        "best": t.best,
        "config": t.cfg.to_dict(),
        "data_info": t.info.to_dict(),
        "generator": t.G.state_dict(),
        "discriminator": t.D.state_dict(),
        "generator_ema": t.ema.state_dict() if t.ema else None,
        "opt_g": t.opt_g.state_dict(),
        "opt_d": t.opt_d.state_dict(),
        "labeling": t.labeling.state_dict(),
        "phases": t.gan_step.state_dict(),
        "precision": t.precision.state_dict(),
        "speed": t.speed.to_dict(),
        "extensions": {e.name: e.state_dict() for e in t.gan_step.extensions},
        "rng": {"train": t.rng.get_state(), "torch": torch.get_rng_state(),
                "sampler": t.batches.state_dict(),
                **({"ranks": t._rank_states} if t.dist.enabled else {})},
    }


def saved_speed(state: dict) -> dict:
    """The precision and memory format a checkpoint's run trained in (`SpeedSettings.to_dict`);
    checkpoints written before `auto` existed hold only explicit values in their config."""
    if "speed" in state:
        return state["speed"]
    train = state.get("config", {}).get("train", {})
    speed = {}
    if train.get("precision", "fp32") != "auto":
        speed["precision"] = train.get("precision", "fp32")
    if str(train.get("channels_last", False)).lower() in ("true", "false"):
        speed["channels_last"] = str(train.get("channels_last", False)).lower() == "true"
    return speed


def local_random_state(t) -> dict:
    """This rank's own random streams (penalty / DiffAugment noise, torch's global RNG)."""
    return {"noise": t.noise_rng.get_state(), "torch": torch.get_rng_state()}


def restore_checkpoint_state(t, state: dict) -> None:
    """Load `checkpoint_state`'s dict into the set-up trainer `t`. Entries added after the first
    checkpoint format (labeling, phases: the state of `GANStep.stateful`, precision, extensions:
    the step extensions' state) default to empty, so older checkpoints still load."""
    t.step = state["step"]
    t.best = state.get("best")
    if t.best is not None and t.best.get("metric") != t.cfg.eval.best_metric:
        # Another eval.best_metric now: the stored best is a value of a different metric
        # (comparing an accuracy with a FID is meaningless), so the next evaluation starts
        # the new series and overwrites best.pt.
        t.best = None
    t.G.load_state_dict(state["generator"])
    t.D.load_state_dict(state["discriminator"])
    if t.ema:
        t.ema.load_state_dict(state["generator_ema"])
    t.opt_g.load_state_dict(state["opt_g"])
    t.opt_d.load_state_dict(state["opt_d"])
    t.labeling.load_state_dict(state.get("labeling", {}))
    t.gan_step.load_state_dict(state.get("phases", {}))
    t.precision.load_state_dict(state.get("precision"))
    saved = state.get("extensions", {})
    for extension in t.gan_step.extensions:
        extension.load_state_dict(saved.get(extension.name, {}))
    t.rng.set_state(state["rng"]["train"])
    torch.set_rng_state(state["rng"]["torch"])
    t.batches.load_state_dict(state["rng"]["sampler"])
    if t.dist.enabled:
        own = state["rng"]["ranks"][t.dist.rank]
        t.noise_rng.set_state(own["noise"])
        torch.set_rng_state(own["torch"])


# --------------------------------------------------------------------------- resume checks
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
    done = state.get("step", 0) if state is not None else 0
    if done > cfg.train.steps:
        raise CondganError(
            f"run '{run.root}' has already trained {done} steps, more than train.steps={cfg.train.steps}; "
            f"set train.steps ≥ {done} to continue it (train.steps={done} leaves it as it is), or use a new --out")


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


def check_environment(run: RunDir, state: dict, device: torch.device, device_setting: str, threads: int,
                      world_size: int) -> None:
    """Refuse a resume on another device type: the training RNG is a generator of the device
    it was created on (a CPU state does not even load into a CUDA generator) and kernels
    differ, so the run could neither continue nor reproduce. Checkpoints record the resolved
    device, so `device=auto` resolving differently on another machine is caught too. Then the
    number of processes (`check_world_size`) and, on CPU, the thread count (a warning)."""
    saved = state.get("device")
    if saved is not None and saved != device.type:
        raise CondganError(
            f"run '{run.root}' was trained on {saved}, this resume would run on "
            f"{device.type} (device={device_setting}); its random state is bound to the "
            f"device: resume with --set device={saved}, or start a new --out")
    check_world_size(run, state, world_size)
    saved_threads = state.get("threads")
    if saved_threads is not None and saved_threads != threads and device.type == "cpu":
        warn(f"run '{run.root}' was trained with {saved_threads} CPU thread(s), resuming "
             f"with {threads}: training continues, but not bit-identically to an "
             f"uninterrupted run (set train.threads={saved_threads} for that)")
