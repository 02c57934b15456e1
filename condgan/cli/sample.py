"""`condgan sample RUN_DIR [--class N]... [--num N] [--seed S] [--truncation T] [--ema/--no-ema] --out FILE.png`.

Class-conditional runs: one row per class, --num samples each. Self-labeling runs (classifier,
infogan, random labeling): one column per category (up to 16, evenly spaced, for d_c^d_l > 16)
and --num rows of fixed latents (seed 000 Figs. 2–3)."""

import argparse

import torch

from condgan.arguments import check_seed
from condgan.errors import CondganError
from condgan.training.latents import check_truncation
from condgan.training.restore import load_generator
from condgan.training.sampling import category_grid, check_png_path, grid_categories, sample_grid, save_samples


def run(args) -> int:
    if args.num < 1:
        raise CondganError(f"--num must be ≥ 1 (samples per class), got {args.num}")
    check_png_path(args.out, "--out")
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    if args.truncation is not None and args.truncation <= 0:  # the library reads 0 as "off"; here it is a typo
        raise CondganError(f"--truncation must be > 0 (the |z| threshold, e.g. 0.5; StyleGAN2: ψ, e.g. 0.7), got {args.truncation}; "
                           "omit it for no truncation")
    truncation = check_truncation(args.truncation, "--truncation")
    trained = load_generator(args.run_dir, use_ema=args.ema, checkpoint=args.checkpoint)
    if trained.num_categories:
        return _category_grid(args, trained, truncation)
    k = trained.info.num_classes
    classes = args.classes if args.classes else list(range(k))
    for c in classes:
        if not 0 <= c < max(k, 1):
            raise CondganError(f"--class {c} is out of range: the run has {k} classes "
                               f"({', '.join(trained.info.class_names[:10])})")
    seed = trained.cfg.seed if args.seed is None else args.seed
    x, y = sample_grid(trained.generator, trained.cfg.model.z_dim, classes, k, args.num, seed, trained.device,
                       truncation)
    save_samples(args.out, x, y, args.num)
    print(f"wrote {len(x)} samples ({len(classes) if k else 1} rows × {args.num}) from step {trained.step} "
          f"({'EMA' if trained.ema else 'raw'} generator, seed {seed}"
          f"{f', truncation {truncation}' if truncation else ''}) to {args.out}")
    return 0


def _category_grid(args, trained, truncation) -> int:
    """Self-labeling runs (seed 000 Figs. 2–3): one column per category (categorical vector),
    one row per latent; --class picks the categories (joint indices), --num the rows."""
    k = trained.num_categories
    for c in args.classes:
        if not 0 <= c < k:
            raise CondganError(f"--class {c} is out of range: the run has {k} categories (0..{k - 1})")
    columns = torch.tensor(args.classes) if args.classes else grid_categories(k)
    seed = trained.cfg.seed if args.seed is None else args.seed
    x = category_grid(trained.generator, trained.cfg.model.z_dim, trained.conditions(columns), args.num,
                      seed, trained.device, truncation)
    save_samples(args.out, x, None, len(columns))
    print(f"wrote {len(x)} samples ({args.num} latents × {len(columns)} categories"
          f"{f' of {k}' if len(columns) < k else ''}) from step {trained.step} "
          f"({'EMA' if trained.ema else 'raw'} generator, seed {seed}"
          f"{f', truncation {truncation}' if truncation else ''}) to {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="write a sample grid (one row per class; self-labeling runs: one "
                       "column per category, one row per latent) from a trained run")
    p.add_argument("run_dir")
    p.add_argument("--class", dest="classes", type=int, action="append", default=[], metavar="N")
    p.add_argument("--num", type=int, default=10, help="samples per class (self-labeling runs: rows)")
    p.add_argument("--seed", type=int, default=None, help="latent seed (default: the run's seed)")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="truncation trick: resample latent elements with |z| > T (T > 0; default: none); "
                   "for model.net=stylegan2 runs, w ← w̄ + T (w − w̄) in W (StyleGAN's ψ)")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                   help="use the EMA generator (default) or the raw one")
    p.add_argument("--checkpoint", choices=["last", "best"], default="last")
    p.add_argument("--out", required=True, help="PNG file")
    p.set_defaults(func=run)
