"""Seed 004 (Kang et al., "Rebooting ACGAN") with condgan, in three parts:

  mog:     App. E (from TAC-GAN): the 1-D mixture N(0,1), N(3,2²), N(6,3²) with overlapping class
           supports, mlp nets. Per-class Wasserstein-1 distance between generated and true samples
           and the generated per-class moments. The paper: AC-GAN is biased away from the overlap,
           TAC-GAN fits the class densities, ReACGAN alone fails like AC-GAN and only ReACGAN + TAC
           fits them (a combination condgan cannot train yet).
  methods: §3 / Fig. 2 / Tables 3 and 6 on Fashion-MNIST: ac_mod vs pd vs 2c vs mh vs d2dce (full,
           no_margin, proxy_only); FID, intra-FID, conditional accuracy, precision / recall, and
           D's feature-norm / conditioning-gradient-norm curves (train.diagnostics).
  tricks:  Tables 1–2 (the "+ CR" / "+ DiffAug" rows): d2dce with / without DiffAugment and
           consistency regularization.

    python experiments/seed004.py mog --seeds 0 1 2
    python experiments/seed004.py methods --seeds 0 1 2 --steps 3000
    python experiments/seed004.py tricks --seeds 0 1 2 --methods d2dce "d2dce + DiffAugment" "d2dce + CR"

Results: docs/results/seed004/ (records in runs/, documents mog.md, methods.md, tricks.md).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from report import metrics_table, plot_series
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main

# --------------------------------------------------------------------------- App. E: 1-D MoG
MOG_METHODS = ["ac", "ac_mod", "tac", "pd", "d2dce", "2c"]
TRUE_MEANS, TRUE_STDS = (0.0, 3.0, 6.0), (1.0, 2.0, 3.0)
HIST_RANGE, HIST_BINS = (-6.0, 16.0), 88


def mog_measure(run_dir: Path, spec, args) -> dict:
    """W1 per class between `num` generated samples (EMA generator, latent seed 1234) and `num`
    samples of the true class density (seed 0); generated moments; a histogram per class."""
    import numpy as np
    from scipy.stats import wasserstein_distance

    from condgan.api import sample

    num = args.num_samples or 5000
    g = sample(run_dir, num=num, seed=1234).reshape(-1, num).double().numpy()
    rng = np.random.default_rng(0)
    truth = np.stack([rng.normal(m, s, num) for m, s in zip(TRUE_MEANS, TRUE_STDS)])
    out = {}
    for c in range(len(TRUE_MEANS)):
        out[f"w1_{c}"] = float(wasserstein_distance(g[c], truth[c]))
        out[f"mean_{c}"], out[f"std_{c}"] = float(g[c].mean()), float(g[c].std())
        out[f"hist_{c}"] = np.histogram(g[c], bins=HIST_BINS, range=HIST_RANGE)[0].tolist()
    out["w1_mean"] = statistics.fmean(out[f"w1_{c}"] for c in range(len(TRUE_MEANS)))
    return out


def mog_figure(ctx, png: Path) -> bool:
    """Generated (histogram, first seed) and true (line) class densities, one panel per method."""
    import matplotlib
    import numpy as np
    from scipy.stats import norm

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [s for s in ctx.results.settings() if ctx.results.select(s)[0].get("extra", {}).get("hist_0")]
    if not settings:
        return False
    fig, axes = plt.subplots(1, len(settings), figsize=(3.2 * len(settings), 3), sharey=True, squeeze=False)
    edges = np.linspace(*HIST_RANGE, HIST_BINS + 1)
    xs = np.linspace(*HIST_RANGE, 400)
    for ax, s in zip(axes[0], settings):
        rec = ctx.results.select(s)[0]
        for c, color in zip(range(3), ["C0", "C1", "C2"]):
            counts = np.asarray(rec["extra"][f"hist_{c}"], dtype=float)
            ax.stairs(counts / max(counts.sum(), 1) / np.diff(edges), edges, fill=True, alpha=0.35, color=color)
            ax.plot(xs, norm.pdf(xs, TRUE_MEANS[c], TRUE_STDS[c]), color=color, lw=1.2)
        ax.set_title(f"{s} (seed {rec['seed']})", fontsize=9)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("density (filled: generated, line: true)")
    fig.tight_layout()
    fig.savefig(png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return True


def mog_report(ctx) -> list[str]:
    r = ctx.results
    w1 = ["w1_0", "w1_1", "w1_2", "w1_mean"]
    out = [f"Per-class Wasserstein-1 distance between {ctx.args.num_samples or 5000} generated samples per class "
           "(EMA generator, latent seed 1234) and as many samples of the true class density; mean ± std over seeds.\n",
           metrics_table(r, None, w1, names={"w1_0": "W1 class 0", "w1_1": "W1 class 1", "w1_2": "W1 class 2",
                                              "w1_mean": "W1 mean over classes"}), "",
           "Generated per-class moments (true means 0 / 3 / 6, true stds 1 / 2 / 3):\n",
           metrics_table(r, None, [f"mean_{c}" for c in range(3)] + [f"std_{c}" for c in range(3)]), ""]
    png = ctx.figure("densities.png")
    if mog_figure(ctx, png):
        out += [f"![]({png.name})", ""]
    return out


MOG_CLAIMS = (
    Claim("AC-GAN's class-0 mean is pushed below the true 0", "mean_0", "ac", 0.0, "lower", source="App. E"),
    Claim("AC-GAN's class-2 mean is pushed above the true 6", "mean_2", "ac", 6.0, "higher", source="App. E"),
    *(Claim(f"AC-GAN's class-{c} std is below the true {s:g}", f"std_{c}", "ac", s, "lower", source="App. E")
      for c, s in enumerate(TRUE_STDS)),
    Claim("TAC-GAN fits the class densities better than AC-GAN", "w1_mean", "tac", "ac", "lower", source="App. E"),
    Claim("ReACGAN (d2dce) alone fits them worse than TAC-GAN", "w1_mean", "d2dce", "tac", "higher",
          source="App. E, Fig. A4"),
)

MOG = Study(
    name="seed004", part="mog", title="Seed 004 (ReACGAN): 1-D mixture of overlapping Gaussians",
    settings=[Setting(m, "seed004-mog", (f"model.conditioning={m}",)) for m in MOG_METHODS],
    steps=3000, measure=mog_measure, claims=MOG_CLAIMS, report=mog_report,
    add_arguments=lambda ap: (ap.add_argument("--methods", dest="settings", nargs="+", choices=MOG_METHODS),
                              ap.set_defaults(settings=MOG_METHODS[:5])),
)

# --------------------------------------------------------------------------- Fashion-MNIST
METHODS = {  # label -> overrides of the seed004-reacgan preset (§3 / Fig. 2 / Tables 3 and 6)
    "ac_mod": ("model.conditioning=ac_mod", "model.cond_weight=1.0"),
    "pd": ("model.conditioning=pd",),
    "2c": ("model.conditioning=2c",),
    "mh": ("model.conditioning=mh", "model.cond_weight=1.0"),  # mh has no separate conditioning term
    "d2dce": ("model.conditioning=d2dce",),
    "d2dce no_margin": ("model.conditioning=d2dce", "model.d2dce_variant=no_margin"),
    "d2dce proxy_only": ("model.conditioning=d2dce", "model.d2dce_variant=proxy_only"),
}
TRICKS = {  # Tables 1–2, the "+ CR" and "+ DiffAug" rows
    "d2dce": (),
    "d2dce + DiffAugment": ("train.diffaugment=[translation,cutout]",),
    "d2dce + CR": ("reg.cr=10.0",),
    "d2dce + DiffAugment + CR": ("train.diffaugment=[translation,cutout]", "reg.cr=10.0"),
}
IMAGE_EVALUATION = Evaluation(("fid", "intra_fid", "conditional_accuracy", "prdc"), num_samples=2000)
TABLE = ("fid", "intra_fid", "conditional_accuracy", "precision", "recall")
# Fashion-MNIST: a baseline has learned the classes at conditional accuracy >= 0.75.
LEARNED = dict(learned_metric="conditional_accuracy", at_least=0.75)


def methods_report(ctx) -> list[str]:
    out = [f"Final EMA generators, {ctx.args.num_samples} class-balanced fakes, domain features, "
           "Fashion-MNIST test split; mean ± std over seeds.\n", metrics_table(ctx.results, None, list(TABLE)), ""]
    for key, what in (("diag_feature_norm", "D's trunk-feature norm"),
                      ("diag_cond_grad_norm", "norm of the conditioning loss's gradient w.r.t. D's parameters")):
        png = ctx.figure(f"{key}.png")
        if plot_series(ctx.results, None, key, png, f"{what} (mean ± std over seeds)",
                       settings=[s for s in ("ac_mod", "d2dce") if s in ctx.results.settings()]):
            out += [f"![]({png.name})", ""]
    return out


def tricks_report(ctx) -> list[str]:
    return [f"Final EMA generators, {ctx.args.num_samples} class-balanced fakes, domain features, "
            "Fashion-MNIST test split; mean ± std over seeds.\n", metrics_table(ctx.results, None, list(TABLE)), ""]


IMAGE = dict(steps=3000, evaluation=IMAGE_EVALUATION, table_metrics=TABLE)
METHODS_STUDY = Study(
    name="seed004", part="methods", title="Seed 004 (ReACGAN): conditioning methods and D2D-CE ablations on Fashion-MNIST",
    settings=[Setting(k, "seed004-reacgan", v) for k, v in METHODS.items()], overrides=("train.diagnostics=true",),
    series=("diag_feature_norm", "diag_cond_grad_norm"), report=methods_report,
    baseline=Baseline("ac_mod", ("fid", "conditional_accuracy", "recall"), **LEARNED),
    claims=(Claim("ReACGAN (d2dce) reaches a lower FID than modified AC-GAN", "fid", "d2dce", "ac_mod", "lower",
                  source="§4, Table 3"),
            Claim("the margins help D2D-CE (full vs no margins)", "fid", "d2dce", "d2dce no_margin", "lower",
                  source="Table 6"),
            Claim("the data-to-data term helps D2D-CE (full vs proxy only)", "fid", "d2dce", "d2dce proxy_only",
                  "lower", source="Table 6")),
    add_arguments=lambda ap: ap.add_argument("--methods", dest="settings", nargs="+", choices=list(METHODS)),
    **IMAGE)
TRICKS_STUDY = Study(
    name="seed004", part="tricks", title="Seed 004 (ReACGAN): DiffAugment and consistency regularization",
    settings=[Setting(k, "seed004-reacgan", v) for k, v in TRICKS.items()], report=tricks_report,
    baseline=Baseline("d2dce", ("fid", "conditional_accuracy", "recall"), **LEARNED),
    claims=tuple(Claim(f"{t[len('d2dce + '):]} improves D2D-CE's FID", "fid", t, "d2dce", "lower",
                       source="Tables 1–2")
                 for t in TRICKS if t != "d2dce"),
    add_arguments=lambda ap: ap.add_argument("--methods", dest="settings", nargs="+", choices=list(TRICKS)),
    **IMAGE)

STUDIES = {"mog": MOG, "methods": METHODS_STUDY, "tricks": TRICKS_STUDY}

if __name__ == "__main__":
    run_main(STUDIES)
