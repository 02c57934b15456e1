"""`condgan train CONFIG [--set KEY=VALUE]... --out RUN_DIR [--nproc N]`: train, or resume RUN_DIR.

`--nproc N` (N > 1) runs `python -m torch.distributed.run --standalone --nproc-per-node N -m
condgan train ...` (the same command without --nproc) after checking the config and the run
directory here, so that a bad config or a world-size change is one line, not N tracebacks."""

import os
import subprocess
import sys

from condgan.validation import load_config
from condgan.errors import CondganError


def add_config_arguments(p) -> None:
    p.add_argument("config", help="preset name (see `condgan presets`) or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.steps=500 (repeatable)")


def launch(args, cfg) -> int:
    """Check, then run this command under torchrun with `args.nproc` local processes."""
    from condgan.training.distributed import environment_world_size
    from condgan.training.trainer import preflight

    if environment_world_size() > 1:
        raise CondganError("--nproc given inside a torchrun worker; use either torchrun or --nproc")
    preflight(cfg, args.out, args.nproc)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={args.nproc}", "-m", "condgan"]
    command += ["--debug"] if args.debug else []
    command += ["train", args.config, "--out", args.out]
    command += [f"--set={o}" for o in args.overrides]
    command += ["--no-progress"] if args.no_progress else []
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default, without its banner
    return subprocess.call(command, env=env)


def run(args) -> int:
    from condgan.training.distributed import is_secondary_rank
    from condgan.training.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    if args.nproc < 1:
        raise CondganError(f"--nproc must be ≥ 1, got {args.nproc}")
    if args.nproc > 1:
        return launch(args, cfg)
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, name=args.config)
    result = trainer.train()
    if is_secondary_rank():
        return 0  # rank 0 reports
    from condgan.cli.main import elapsed
    from condgan.stages import record_stage

    record_stage(result.run_dir, "train", elapsed(), step=result.step)
    last = result.last_record or {}
    losses = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k.endswith("loss"))
    print(f"trained {result.step} steps in {result.seconds:.1f} s (seed {cfg.seed}); {losses}")
    print(f"run directory: {result.run_dir}  (samples: {result.run_dir / 'samples' / 'latest.png'})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a GAN (re-running on the same --out resumes)")
    add_config_arguments(p)
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress output (by default: a bar on a terminal, else a line per log interval on stderr)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes on this machine (runs torchrun --standalone "
                        "--nproc-per-node N); train.batch_size is per process")
    p.set_defaults(func=run)
