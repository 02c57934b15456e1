"""`condgan classifier train DATASET [--set data.KEY=VALUE]... [--seed S] [--epochs N] [--device D]`:
train (or load from the cache) the domain classifier of a data set on this machine, and print
its test accuracy and cache path. The embedded data sets at their default options have shipped
(pinned) classifiers, which evaluation uses instead (see condgan.features.domain.shipped); for
every other data set or option, training it ahead of time keeps the first evaluation of a run
fast and lets you check the classifier is good enough to judge GANs."""

from __future__ import annotations

import sys

from condgan.config import DataConfig, apply_override, config_from_dict
from condgan.errors import CondganError


def data_config_from_args(dataset: str, overrides: list[str]) -> DataConfig:
    """DATASET plus `data.KEY=VALUE` overrides → a typed DataConfig (only data.* keys apply)."""
    raw: dict = {"data": {"name": dataset}}
    for assignment in overrides:
        key = assignment.split("=", 1)[0].strip()
        if not key.startswith("data."):
            raise CondganError(f"--set '{assignment}': the classifier only takes data.* keys (e.g. data.image_size=32)")
        apply_override(raw, assignment)
    return config_from_dict(raw).data


def run_train(args) -> int:
    from condgan.data import validate_data_config
    from condgan.features.domain import find_shipped, get_domain_extractor
    from condgan.features.domain.shipped import shipped_id

    from condgan.arguments import check_seed
    from condgan.features import cache_root

    if args.epochs is not None and args.epochs < 1:
        raise CondganError(f"--epochs must be >= 1, got {args.epochs}")
    if args.threads < 0:
        raise CondganError(f"--threads must be ≥ 0 (0: torch's default), got {args.threads}")
    check_seed(args.seed, "--seed")
    cache_root(args.cache_dir)  # a file in the way fails now, not after training
    data_cfg = data_config_from_args(args.dataset, args.overrides)
    validate_data_config(data_cfg)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    extractor = get_domain_extractor(
        data_cfg, seed=args.seed, device=args.device, cache_dir=args.cache_dir,
        retrain=args.retrain, epochs=args.epochs, threads=args.threads, log=log,
    )
    info = extractor.info
    acc = extractor.test_accuracy
    acc_text = f"{100 * acc:.2f} %" if acc is not None else "n/a (no test split)"
    origin = "loaded from cache" if extractor.from_cache else f"trained in {info['train_seconds']:.1f} s"
    print(f"domain classifier for '{data_cfg.name}' (seed {args.seed}): test accuracy {acc_text} on "
          f"{info['test_size']} images; {info['epochs']} epochs, {origin}")
    print(f"extractor id: {extractor.id}")
    print(f"cache: {extractor.cache_path}")
    shipped = find_shipped(data_cfg, args.seed)
    if shipped is not None:
        print(f"note: `condgan evaluate` scores these data options with the shipped classifier {shipped_id(shipped)} "
              f"(test accuracy {100 * shipped['test_accuracy']:.2f} %), not with this one; "
              "pass --extractor domain-trained (eval.extractor=domain-trained) to use this one")
    return 0


def register(sub) -> None:
    p = sub.add_parser("classifier", help="domain classifier used as feature extractor for evaluation")
    actions = p.add_subparsers(dest="classifier_command", metavar="ACTION")
    actions.required = True
    t = actions.add_parser("train", help="train (or load the cached) domain classifier of a data set")
    t.add_argument("dataset", help="data source name, e.g. mnist5k, fashion-mnist, digits")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE",
                   help="data option, e.g. --set data.image_size=32 (repeatable); must match the "
                        "options of the runs it will evaluate")
    t.add_argument("--seed", type=int, default=0, help="classifier seed (evaluation uses 0)")
    t.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: about 300 steps, at least 3 epochs)")
    t.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N, mps")
    t.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads while training (default 1, robust on busy machines; 0: torch's default)")
    t.add_argument("--cache-dir", default=None, help="cache directory (default $CONDGAN_CACHE or ~/.cache/condgan)")
    t.add_argument("--retrain", action="store_true", help="train even when a cached classifier exists")
    t.add_argument("--quiet", action="store_true", help="no per-epoch log on stderr")
    t.set_defaults(func=run_train)
