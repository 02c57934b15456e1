"""Reproduce seed 001's two experiments at CPU scale with condgan, then aggregate over seeds.

  conditioning: CA-GAN vs modified AC-GAN (λ = 1) vs original AC-GAN, instance norm in D,
                LSGAN loss, same steps; mean per-class FID (domain features) during training.
  mixed-batch:  55 %-zeros MNIST-5k, batch norm in D, AC and CA with and without mixed batch
                training; total variation between the class histogram of the fakes (as
                classified by the domain classifier) and the requested uniform mix.

    python experiments/seed001.py conditioning --datasets mnist5k fashion-mnist --seeds 0 1 2
    python experiments/seed001.py mixed-batch --seeds 0 1 2

Each run is a plain `condgan train PRESET --set ...` (printed), so any single run can be
repeated by hand. Results (Markdown table, plots, the exact commands, seeds) go to
docs/results/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import ROOT, eval_series, publish_tables, run_all  # noqa: E402  (experiments/ is on sys.path when run as a script)


def summarize(groups: dict[str, list[Path]], key: str, title: str, out_stem: Path, lower_better=True):
    """Mean ± std over seeds of `key` at each evaluation step, per group; a plot and a table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    rows = []
    for label, runs in groups.items():
        series = [eval_series(r, key) for r in runs]
        steps = [s for s, _ in series[0]]
        per_step = [[dict(s)[step] for s in series] for step in steps]
        means = [statistics.mean(v) for v in per_step]
        stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_step]
        ax.plot(steps, means, marker="o", ms=3, label=label)
        ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)], alpha=0.2)
        over_training = [statistics.mean(v for _, v in s) for s in series]
        final = [s[-1][1] for s in series]
        rows.append((label, len(runs), statistics.mean(final), statistics.stdev(final) if len(final) > 1 else 0.0,
                     statistics.mean(over_training), statistics.stdev(over_training) if len(over_training) > 1 else 0.0,
                     final))
    ax.set_xlabel("generator step")
    ax.set_ylabel(key)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_stem.with_suffix(".png"), dpi=110, metadata={"Software": None})
    plt.close(fig)
    table = [f"| setting | seeds | final {key} (mean ± std) | {key} averaged over all evaluations | per-seed final |",
             "|---|---|---|---|---|"]
    for label, n, fm, fs, om, os_, final in sorted(rows, key=lambda r: r[4] if lower_better else -r[4]):
        table.append(f"| {label} | {n} | {fm:.3f} ± {fs:.3f} | {om:.3f} ± {os_:.3f} | {', '.join(f'{v:.3f}' for v in final)} |")
    return "\n".join(table), rows


def final_eval_table(groups: dict[str, list[Path]], key: str, standing_stats: int, num_samples: int) -> str:
    """Re-evaluate every run's final EMA generator with its BN statistics re-estimated
    (`condgan evaluate --standing-stats N`); mean ± std over seeds of `key` and conditional accuracy."""
    from condgan.config import config_from_dict
    from condgan.evaluation import evaluate_run
    from condgan.training.checkpoint import RunDir

    rows = [f"| setting | final {key}, EMA + standing statistics (mean ± std) | conditional accuracy | per-seed {key} |",
            "|---|---|---|---|"]
    for label, runs in groups.items():
        values, accs = [], []
        for r in runs:
            cfg = config_from_dict(RunDir(r).read_config_dict())
            res = evaluate_run(r, num_samples, [key, "conditional_accuracy"], seed=0,
                               real_split=cfg.eval.real_split, standing_stats=standing_stats)
            values.append(res["metrics"][key])
            accs.append(res["metrics"]["conditional_accuracy"])
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(f"| {label} | {statistics.mean(values):.3f} ± {sd:.3f} | {statistics.mean(accs):.3f} | "
                    f"{', '.join(f'{v:.3f}' for v in values)} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("experiment", choices=["conditioning", "mixed-batch"])
    ap.add_argument("--datasets", nargs="+", default=["mnist5k", "fashion-mnist"])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--final-standing-stats", type=int, default=50,
                    help="re-evaluate final EMA generators with BN statistics re-estimated over N batches (0: skip)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "seed001"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "results"))
    args = ap.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    threads = ["train.threads=1"] if args.workers > 1 else []
    jobs, groups = [], {}
    t0 = time.time()
    if args.experiment == "conditioning":
        methods = args.methods or ["ca", "ac_mod", "ac"]
        for ds in args.datasets:
            extra = ["eval.real_split=train"] if ds == "mnist5k" else []
            for m in methods:
                for s in args.seeds:
                    o = [f"data.name={ds}", f"model.conditioning={m}", f"seed={s}"] + extra + threads
                    o += [f"train.steps={args.steps}"] if args.steps else []
                    o += [f"eval.every={args.eval_every}"] if args.eval_every else []
                    d = runs / f"{ds}-{m}-s{s}"
                    jobs.append((d, "seed001-ca-vs-ac", o))
                    groups.setdefault(ds, {}).setdefault(m, []).append(d)
        log = run_all(jobs, args.workers)
        key, stem = "intra_fid", "seed001_ca_vs_ac"
    else:
        methods = args.methods or ["ca", "ac"]
        for m in methods:
            for mixed in (True, False):
                for s in args.seeds:
                    o = [f"model.conditioning={m}", f"loss.mixed_batch={str(mixed).lower()}", f"seed={s}"] + threads
                    o += [f"train.steps={args.steps}"] if args.steps else []
                    o += [f"eval.every={args.eval_every}"] if args.eval_every else []
                    d = runs / f"mixed-{m}-{'mixed' if mixed else 'separate'}-s{s}"
                    jobs.append((d, "seed001-mixed-batch", o))
                    groups.setdefault("mnist5k-55pct-zeros", {}).setdefault(f"{m}, mixed batch {'on' if mixed else 'off'}", []).append(d)
        log = run_all(jobs, args.workers)
        key, stem = "class_tv", "seed001_mixed_batch"
    sections = []
    for ds, g in groups.items():
        table, _ = summarize(g, key, f"{ds}: {key} (mean ± std over seeds {args.seeds})", docs / f"{stem}_{ds}")
        sections.append(f"### {ds}\n\n![]({stem}_{ds}.png)\n\n{table}\n")
        if args.final_standing_stats:
            final = final_eval_table(g, key, args.final_standing_stats, 2000)
            sections.append(f"Final EMA generators re-evaluated with standing statistics "
                            f"({args.final_standing_stats} batches), 2,000 fakes:\n\n{final}\n")
    publish_tables(docs / f"{stem}_tables.md", sections, log, t0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
