"""Reproduce seed 004 (ReACGAN) experiments at CPU scale with condgan.

  mog:     App. E (from TAC-GAN): 1-D mixture N(0,1), N(3,2²), N(6,3²) with overlapping class
           supports, mlp nets. Per-class Wasserstein-1 distance between generated and true
           samples (mean ± std over seeds) and density plots. Claim: AC-GAN is biased away
           from the class overlap; TAC-GAN and ReACGAN (d2dce) fit the class densities.
  methods: §3 / Fig. 2 / Table 6 on Fashion-MNIST: ac_mod vs pd vs 2c vs mh vs d2dce (full,
           no_margin, proxy_only); FID, intra-FID, conditional accuracy, precision/recall, and
           diag_feature_norm / diag_cond_grad_norm curves of ac_mod and d2dce.
  tricks:  Table 4: d2dce with/without DiffAugment and with/without consistency regularization.

    python experiments/seed004.py mog --seeds 0 1 2
    python experiments/seed004.py methods --seeds 0 1 2
    python experiments/seed004.py tricks --seeds 0 1 2

Each run is a plain `condgan train PRESET --set ...` (printed in the results), run one at a time
with one thread. Results go to --docs (default docs/results/seed004*.md / .png).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import (add_run_arguments, commands_block, final_eval, final_metrics, fmt_ms, generated_by, mean_of,  # noqa: E402
                    metrics_table, plot_curves, run_all, verdict)  # (experiments/ is on sys.path when run as a script)

MOG_METHODS = ["ac", "ac_mod", "tac", "pd", "d2dce", "2c"]


def mog_samples(run_dir: Path, num: int):
    """`num` generated samples per class from the run's EMA generator: array (K, num)."""
    from condgan.api import sample

    x = sample(run_dir, num=num, seed=1234)
    return x.reshape(-1, num).double().numpy()


def mog_truth(num: int, seed: int = 0):
    """`num` samples per class from the true class-conditional densities (synthetic.mog1d_params)."""
    import numpy as np

    from condgan.data.synthetic import mog1d_params

    means, stds = mog1d_params()
    rng = np.random.default_rng(seed)
    return means[:, 0].numpy(), stds.numpy(), np.stack(
        [rng.normal(m, s, num) for m, s in zip(means[:, 0].tolist(), stds.tolist())])


def mog_report(groups: dict[str, list[Path]], num: int, docs: Path, args, log: list[str], t0: float) -> str:
    """Per-class W1 / mean / std tables over seeds, a density grid for seed 0, verdicts."""
    import matplotlib
    import numpy as np
    from scipy.stats import norm, wasserstein_distance

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means, stds, truth = mog_truth(num)
    k = len(means)
    stats = {}  # method -> list over seeds of (w1[k], mean[k], std[k])
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3), sharey=True, squeeze=False)
    xs = np.linspace(-6, 16, 400)
    colors = ["C0", "C1", "C2"]
    for ax, (m, runs) in zip(axes[0], groups.items()):
        stats[m] = []
        for i, r in enumerate(runs):
            g = mog_samples(r, num)
            stats[m].append(([wasserstein_distance(g[c], truth[c]) for c in range(k)],
                             g.mean(1).tolist(), g.std(1).tolist()))
            if i == 0:
                for c in range(k):
                    ax.hist(g[c], bins=80, range=(-6, 16), density=True, alpha=0.35, color=colors[c])
                    ax.plot(xs, norm.pdf(xs, means[c], stds[c]), color=colors[c], lw=1.2)
        ax.set_title(f"{m} (seed {args.seeds[0]})", fontsize=9)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("density (hist: generated, line: true)")
    fig.tight_layout()
    fig.savefig(docs / "seed004_mog.png", dpi=100, metadata={"Software": None})
    plt.close(fig)

    def ms(vals):
        return fmt_ms(vals)

    w1_rows = ["| method | seeds | W1 class 0 | W1 class 1 | W1 class 2 | W1 mean over classes |",
               "|---|---|---|---|---|---|"]
    mom_rows = ["| method | gen. mean 0 / 1 / 2 (true 0 / 3 / 6) | gen. std 0 / 1 / 2 (true 1 / 2 / 3) |",
                "|---|---|---|"]
    avg = {}
    for m, per_seed in stats.items():
        w1 = [[s[0][c] for s in per_seed] for c in range(k)]
        avg[m] = [statistics.mean(s[0]) for s in per_seed]
        w1_rows.append(f"| {m} | {len(per_seed)} | " + " | ".join(ms(v) for v in w1) + f" | {ms(avg[m])} |")
        mom_rows.append(f"| {m} | " + " / ".join(ms([s[1][c] for s in per_seed]) for c in range(k)) + " | "
                        + " / ".join(ms([s[2][c] for s in per_seed]) for c in range(k)) + " |")
    verdicts = []
    if "ac" in avg:
        ac = statistics.mean(avg["ac"])
        ac_stats = stats["ac"]
        pushed = (statistics.mean(s[1][0] for s in ac_stats) < means[0]
                  and statistics.mean(s[1][2] for s in ac_stats) > means[2])
        shrunk = all(statistics.mean(s[2][c] for s in ac_stats) < stds[c] for c in range(k))
        verdicts.append(f"- AC biased away from the overlap (class-0 mean below 0 and class-2 mean above 6, "
                        f"every class std below the true one): **{'holds' if pushed and shrunk else 'does not hold at this scale'}** "
                        f"(pushed apart: {pushed}, narrower: {shrunk}).")
        for m in ("tac", "d2dce"):
            if m in avg:
                better = statistics.mean(avg[m]) < ac
                verdicts.append(f"- {m} fits the class densities better than AC (mean W1 {statistics.mean(avg[m]):.3f} "
                                f"vs {ac:.3f}): **{'holds' if better else 'does not hold at this scale'}**.")
    text = (generated_by(t0) + "\n"
            f"Per-class Wasserstein-1 distance between {num} generated samples per class (EMA generator, "
            f"latent seed 1234) and {num} samples per class of the true density; mean ± std over seeds {args.seeds}.\n\n"
            + "\n".join(w1_rows) + "\n\nGenerated per-class moments (mean ± std over seeds):\n\n" + "\n".join(mom_rows)
            + "\n\n![](seed004_mog.png)\n\nVerdicts (computed from the table above):\n\n" + "\n".join(verdicts)
            + "\n\n<details><summary>commands</summary>\n\n```\n" + "\n".join(log) + "\n```\n</details>\n")
    return text


# §3 / Fig. 2 / Table 6: label -> overrides of the seed004-reacgan preset.
METHODS = {
    "ac_mod": ["model.conditioning=ac_mod", "model.cond_weight=1.0"],
    "pd": ["model.conditioning=pd"],
    "2c": ["model.conditioning=2c"],
    "mh": ["model.conditioning=mh", "model.cond_weight=1.0"],  # mh has no separate conditioning term
    "d2dce": ["model.conditioning=d2dce"],
    "d2dce no_margin": ["model.conditioning=d2dce", "model.d2dce_variant=no_margin"],
    "d2dce proxy_only": ["model.conditioning=d2dce", "model.d2dce_variant=proxy_only"],
}
# Table 4: d2dce with/without DiffAugment and consistency regularization.
TRICKS = {
    "d2dce": [],
    "d2dce + DiffAugment": ["train.diffaugment=[translation,cutout]"],
    "d2dce + CR": ["reg.cr=10.0"],
    "d2dce + DiffAugment + CR": ["train.diffaugment=[translation,cutout]", "reg.cr=10.0"],
}
IMAGE_METRICS = ["fid", "intra_fid", "conditional_accuracy", "prdc"]
TABLE_KEYS = ["fid", "intra_fid", "conditional_accuracy", "precision", "recall"]


def image_experiment(args, runs: Path, docs: Path, base: list[str], t0: float) -> None:
    """Train the `methods` or `tricks` settings on Fashion-MNIST (seed004-reacgan preset), evaluate
    final EMA generators and write docs/seed004_{methods,tricks}_tables.md with verdicts."""
    settings = METHODS if args.experiment == "methods" else TRICKS
    chosen = args.methods or list(settings)
    diag = ["train.diagnostics=true"] if args.experiment == "methods" else []
    jobs, groups = [], {}
    for label in chosen:
        for s in args.seeds:
            d = runs / f"{args.experiment}-{label.replace(' ', '_').replace('+', 'p')}-s{s}"
            jobs.append((d, "seed004-reacgan", settings[label] + diag + [f"seed={s}"] + base))
            groups.setdefault(label, []).append(d)
    n = args.num_samples or 2000
    log = run_all(jobs, args.workers, after=lambda d: final_eval(d, IMAGE_METRICS, n))
    values = final_metrics(groups, IMAGE_METRICS, n)
    parts = [generated_by(t0),
             f"Final EMA generators, {args.num_samples or 2000} fakes, domain features; mean ± std over seeds "
             f"{args.seeds}.\n", metrics_table(values, TABLE_KEYS), ""]
    verdicts = []
    if args.experiment == "methods":
        for key in ("diag_feature_norm", "diag_cond_grad_norm"):
            g = {k: v for k, v in groups.items() if k in ("ac_mod", "d2dce")}
            if g:
                plot_curves(g, key, docs / f"seed004_{key}.png", f"{key} (mean over seeds)")
                parts.append(f"![](seed004_{key}.png)\n")
        if {"d2dce", "ac_mod"} <= set(values):
            verdicts.append("- ReACGAN (d2dce) beats modified ACGAN on FID (§4, Table 2): "
                            + verdict(mean_of(values, "d2dce", "fid") < mean_of(values, "ac_mod", "fid")))
        for ab in ("d2dce no_margin", "d2dce proxy_only"):
            if {"d2dce", ab} <= set(values):
                verdicts.append(f"- full d2dce beats {ab} on FID (Table 6): "
                                + verdict(mean_of(values, "d2dce", "fid") < mean_of(values, ab, "fid")))
    else:
        for trick in [k for k in values if k != "d2dce"]:
            if "d2dce" in values:
                verdicts.append(f"- {trick} improves FID over plain d2dce (Table 4): "
                                + verdict(mean_of(values, trick, "fid") < mean_of(values, "d2dce", "fid")))
    parts += ["Verdicts (computed from the table above):\n", "\n".join(verdicts), "", commands_block(log)]
    out = docs / f"seed004_{args.experiment}_tables.md"
    out.write_text("\n".join(parts))
    print(out.read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("experiment", choices=["mog", "methods", "tricks"])
    ap.add_argument("--methods", nargs="+", default=None)
    add_run_arguments(ap, "seed004", num_samples=None)
    args = ap.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    base = ["train.threads=1"] + ([f"train.steps={args.steps}"] if args.steps else []) + args.overrides
    t0 = time.time()
    if args.experiment == "mog":
        jobs, groups = [], {}
        for m in args.methods or MOG_METHODS[:5]:
            for s in args.seeds:
                d = runs / f"mog-{m}-s{s}"
                jobs.append((d, "seed004-mog", [f"model.conditioning={m}", f"seed={s}"] + base))
                groups.setdefault(m, []).append(d)
        log = run_all(jobs, args.workers)
        text = mog_report(groups, args.num_samples or 5000, docs, args, log, t0)
        (docs / "seed004_mog_tables.md").write_text(text)
        print(text)
    else:
        image_experiment(args, runs, docs, base, t0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
