"""`condgan train CONFIG [--set KEY=VALUE]... --out RUN_DIR`: train, or resume RUN_DIR."""

from condgan.config import load_config


def add_config_arguments(p) -> None:
    p.add_argument("config", help="preset name (see `condgan presets`) or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.steps=500 (repeatable)")


def run(args) -> int:
    from condgan.training.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, name=args.config)
    result = trainer.train()
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
    p.set_defaults(func=run)
