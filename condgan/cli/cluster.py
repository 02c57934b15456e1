"""`condgan cluster RUN_DIR [--data-root DIR] [--split test|train] --out clusters.csv`: assign
images to the categories a self-labeling run found (see condgan.evaluation.cluster)."""

import sys

from condgan.evaluation.cluster import cluster_run


def run(args) -> int:
    result, summary = cluster_run(args.run_dir, args.out, args.data_root, args.split, use_ema=True)
    for name, reason in result.unreadable:
        print(f"condgan: skipped unreadable image {reason}", file=sys.stderr)
    where = args.data_root or f"the {args.split} split"
    print(f"wrote {len(result.names)} rows ({summary['categories']} categories, "
          f"{sum(1 for c in summary['counts'] if c)} non-empty) for {where} to {args.out}; "
          f"grids in {summary['grids']}")
    if result.unreadable:
        print(f"{len(result.unreadable)} unreadable file(s) skipped, listed in "
              f"{args.out.rsplit('.', 1)[0]}.unreadable.txt")
    if result.metrics:
        print("  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()))
    return 0


def register(sub) -> None:
    p = sub.add_parser("cluster", help="assign images to a self-labeling run's categories (CSV, grids, "
                       "ACC/NMI/ARI when labels are known)")
    p.add_argument("run_dir")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder of images (flat = unlabeled, class sub-folders = labels); "
                        "default: the run's own data set")
    p.add_argument("--split", choices=["test", "train"], default="test",
                   help="split of the run's data set when --data-root is not given (default: test)")
    p.add_argument("--out", required=True, help="CSV file; grids go to <stem>_grids/, a summary to <stem>.json")
    p.set_defaults(func=run)
