"""Seed 004 (Kang et al., "Rebooting ACGAN") with condgan, in four parts:

  mog:       App. E (from TAC-GAN): the 1-D mixture N(0,1), N(3,2²), N(6,3²) with overlapping class
             supports, mlp nets. Per-class Wasserstein-1 distance between generated and true
             samples and the generated per-class moments. The paper: AC-GAN is biased away from the
             overlap, TAC-GAN fits the class densities, ReACGAN alone fails like AC-GAN and only
             ReACGAN + TAC (`model.conditioning=d2dce+tac`) fits them.
  manyclass: §1, §3 / Fig. 2 / Table 3 on a data set with many classes (`mnist5k-pairs`, 100
             classes of two digits side by side): AC-GAN (λ = 1 and the lowered λ = 0.25 of
             App. Table A5) vs projection vs 2C vs D2D-CE; FID and conditional accuracy every 250
             steps (the early-training collapse), D's feature norm (train.diagnostics), final FID,
             conditional accuracy, precision / recall.
  ablation:  Table 6 and D2D-CE's λ on Fashion-MNIST: AC-GAN* → + feature normalization (the
             normalized softmax, `d2dce_variant=proxy_only`) → + data-to-data term (`no_margin`)
             → + margins (`full`, D2D-CE), and D2D-CE at λ = 0.25 / 0.5 / 1.
  tricks:    Tables 1–2 (the "+ CR" / "+ DiffAug" rows): D2D-CE with / without DiffAugment and
             consistency regularization on Fashion-MNIST.

The image parts run the quickstart's tuned settings (DCGAN nets of width 32, LSGAN, G lr 4e-4,
D lr 8e-4, G EMA: `mnist5k-quickstart`, on Fashion-MNIST `fashion-mnist-acmod` with its λ = 0.5),
which reach conditional accuracy 0.99 at 3,000 / 5,000 steps, not the paper's hinge + spectral
norm BigGAN setting (which did not learn in condgan's CPU budget); D2D-CE with the paper's
λ = τ = 0.5 and projection dimension 128. The leaderboard's tuned presets per method will later
replace the shared settings.

    python experiments/seed004.py mog --seeds 0 1 2
    python experiments/seed004.py manyclass --seeds 0 1 2
    python experiments/seed004.py ablation --seeds 0 1 2
    python experiments/seed004.py tricks --seeds 0 1 2

Results: docs/results/seed004/ (records in runs/, documents mog.md, manyclass.md, ablation.md, tricks.md).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from report import metrics_table, plot_series
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main

# --------------------------------------------------------------------------- App. E: 1-D MoG
MOG_METHODS = ["ac", "ac_mod", "tac", "pd", "d2dce", "d2dce+tac", "2c"]
MOG_DEFAULT = ["ac", "ac_mod", "tac", "pd", "d2dce", "d2dce+tac"]
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
    Claim("ReACGAN + TAC (d2dce+tac) fits them better than ReACGAN alone", "w1_mean", "d2dce+tac", "d2dce", "lower",
          source="App. E, Fig. A4"),
    Claim("ReACGAN + TAC fits them better than AC-GAN", "w1_mean", "d2dce+tac", "ac", "lower", source="App. E, Fig. A4"),
)

MOG = Study(
    name="seed004", part="mog", title="Seed 004 (ReACGAN): 1-D mixture of overlapping Gaussians",
    settings=[Setting(m, "seed004-mog", (f"model.conditioning={m}",)) for m in MOG_METHODS],
    steps=3000, measure=mog_measure, claims=MOG_CLAIMS, report=mog_report,
    add_arguments=lambda ap: (ap.add_argument("--methods", dest="settings", nargs="+", choices=MOG_METHODS),
                              ap.set_defaults(settings=MOG_DEFAULT)),
)

# --------------------------------------------------------------------------- image parts: shared
IMAGE_EVALUATION = Evaluation(("fid", "intra_fid", "conditional_accuracy", "prdc"), num_samples=2000)
TABLE = ("fid", "intra_fid", "conditional_accuracy", "precision", "recall")
D2DCE = ("model.conditioning=d2dce", "model.cond_weight=0.5", "model.cond_temperature=0.5", "model.cond_proj_dim=128")
# A baseline has learned the classes at conditional accuracy >= 0.75 (Fashion-MNIST, mnist5k-pairs).
LEARNED = dict(learned_metric="conditional_accuracy", at_least=0.75)


def final_table(ctx, metrics=TABLE) -> list[str]:
    return [f"Final EMA generators, {ctx.args.num_samples} class-balanced fakes, domain features, the data set's "
            "test split; mean ± std over seeds.\n", metrics_table(ctx.results, None, list(metrics)), ""]


# --------------------------------------------------------------------------- many classes (§1, §3, Table 3)
MANY = {  # label -> overrides of mnist5k-quickstart on mnist5k-pairs
    "ac_mod": ("model.conditioning=ac_mod", "model.cond_weight=1.0"),
    "ac_mod λ=0.25": ("model.conditioning=ac_mod", "model.cond_weight=0.25"),
    "pd": ("model.conditioning=pd",),
    "2c": ("model.conditioning=2c", "model.cond_weight=1.0", "model.cond_temperature=0.5", "model.cond_proj_dim=128"),
    "d2dce": D2DCE,
}
CURVES = ("eval.fid", "eval.conditional_accuracy", "diag_feature_norm", "diag_cond_grad_norm")
MANY_TABLE = ("fid", "conditional_accuracy", "precision", "recall", "fid_best", "fid_rise", "acc_peak", "acc_drop",
              "feature_norm_last")
MANY_NAMES = {"fid_best": "best FID in training", "fid_rise": "FID rise after best", "acc_peak": "peak acc. in training",
              "acc_drop": "acc. drop after peak", "feature_norm_last": "final D feature norm",
              "conditional_accuracy": "cond. acc."}


def curve_summary(run_dir: Path, spec, args) -> dict:
    """From the evaluations every 250 steps: best / last FID and FID's rise after its best point,
    peak / last conditional accuracy and its drop after the peak (an early-training collapse
    shows as a large rise / drop); D's trunk-feature norm at the last log and its largest."""
    from runner import read_series

    s = {k: [v for _, v in pts] for k, pts in read_series(run_dir, CURVES).items()}
    out = {}
    if s.get("eval.fid"):
        fid = s["eval.fid"]
        out.update(fid_best=min(fid), fid_last=fid[-1], fid_rise=fid[-1] - min(fid))
    if s.get("eval.conditional_accuracy"):
        acc = s["eval.conditional_accuracy"]
        out.update(acc_peak=max(acc), acc_last=acc[-1], acc_drop=max(acc) - acc[-1])
    if s.get("diag_feature_norm"):
        out.update(feature_norm_last=s["diag_feature_norm"][-1], feature_norm_max=max(s["diag_feature_norm"]))
    return out


def per_seed_figure(ctx, key: str, png: Path, ylabel: str) -> bool:
    """One panel per method, one line per seed: a collapse at different steps per seed is not
    averaged away."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [s for s in ctx.results.settings() if any(ctx.results.series(s, key))]
    if not settings:
        return False
    fig, axes = plt.subplots(1, len(settings), figsize=(2.8 * len(settings), 2.8), sharey=True, squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for rec, pts in zip(ctx.results.select(setting), ctx.results.series(setting, key)):
            if pts:
                ax.plot(*zip(*pts), lw=1, marker="o", ms=2, label=f"seed {rec['seed']}")
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("generator step")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return True


def manyclass_report(ctx) -> list[str]:
    out = final_table(ctx, ("fid", "conditional_accuracy", "precision", "recall"))
    out += ["From the evaluations during training (every 250 steps, 2,000 fakes, the EMA generator):\n",
            metrics_table(ctx.results, None, [m for m in MANY_TABLE if m not in TABLE], names=MANY_NAMES), ""]
    for key, what in (("eval.conditional_accuracy", "conditional accuracy"), ("eval.fid", "FID")):
        png = ctx.figure(f"{key.split('.')[1]}.png")
        if plot_series(ctx.results, None, key, png, f"{what} during training (mean ± std over seeds)", ylabel=what):
            out += [f"![]({png.name})", ""]
        png = ctx.figure(f"{key.split('.')[1]}_per_seed.png")
        if per_seed_figure(ctx, key, png, what):
            out += [f"{what[0].upper()}{what[1:]} of every seed:\n", f"![]({png.name})", ""]
    png = ctx.figure("diag_feature_norm.png")
    if plot_series(ctx.results, None, "diag_feature_norm", png, "D's trunk-feature norm on reals (mean ± std over seeds)",
                   ylabel="feature norm"):
        out += [f"![]({png.name})", ""]
    return out


MANYCLASS = Study(
    name="seed004", part="manyclass", title="Seed 004 (ReACGAN): early-training collapse with 100 classes",
    settings=[Setting(k, "mnist5k-quickstart", v) for k, v in MANY.items()], datasets=("mnist5k-pairs",),
    steps=3000, overrides=("train.diagnostics=true", "eval.every=250", "eval.metrics=[fid,conditional_accuracy]",
                           "eval.num_samples=2000"),
    evaluation=Evaluation(("fid", "conditional_accuracy", "prdc"), num_samples=2000), series=CURVES,
    measure=curve_summary, report=manyclass_report, table_metrics=MANY_TABLE,
    # AC-GAN has learned the 100 classes when its conditional accuracy reached 0.75 at some point
    # of training: a collapse after that is a collapse, not a budget too short to learn.
    baseline=Baseline("ac_mod", ("acc_peak", "conditional_accuracy", "fid"), learned_metric="acc_peak", at_least=0.75),
    claims=(
        Claim("AC-GAN's FID rises after its best point more than D2D-CE's (early-training collapse)", "fid_rise",
              "ac_mod", "d2dce", "higher", source="§1, §3, Fig. 2(c)"),
        Claim("AC-GAN's conditional accuracy falls from its peak more than D2D-CE's", "acc_drop", "ac_mod", "d2dce",
              "higher", source="§1, §3"),
        Claim("AC-GAN's D feature norm ends higher than D2D-CE's", "feature_norm_last", "ac_mod", "d2dce", "higher",
              source="§3, Fig. 2(a)"),
        Claim("D2D-CE reaches a lower FID than AC-GAN", "fid", "d2dce", "ac_mod", "lower", source="Table 3"),
        Claim("projection reaches a lower FID than AC-GAN", "fid", "pd", "ac_mod", "lower", source="Table 3"),
        Claim("2C reaches a lower FID than AC-GAN", "fid", "2c", "ac_mod", "lower", source="Table 3"),
        Claim("D2D-CE reaches a lower FID than projection", "fid", "d2dce", "pd", "lower", source="Table 3"),
        Claim("D2D-CE reaches a lower FID than 2C", "fid", "d2dce", "2c", "lower", source="Table 3"),
        Claim("a lower classification weight (λ = 0.25) keeps AC-GAN's FID from rising", "fid_rise", "ac_mod λ=0.25",
              "ac_mod", "lower", source="App. Table A5"),
    ),
    add_arguments=lambda ap: ap.add_argument("--methods", dest="settings", nargs="+", choices=list(MANY)))

# --------------------------------------------------------------------------- ingredients and λ (Table 6)
ABLATION = {  # label -> overrides of fashion-mnist-acmod (λ = 0.5)
    "ac_mod": ("model.conditioning=ac_mod",),
    "+ normalization (proxy only)": (*D2DCE, "model.d2dce_variant=proxy_only"),
    "+ data-to-data (no margins)": (*D2DCE, "model.d2dce_variant=no_margin"),
    "+ margins (d2dce)": D2DCE,
    "d2dce λ=0.25": (*D2DCE, "model.cond_weight=0.25"),
    "d2dce λ=1": (*D2DCE, "model.cond_weight=1.0"),
}
ABLATION_STUDY = Study(
    name="seed004", part="ablation", title="Seed 004 (ReACGAN): D2D-CE's ingredients and λ on Fashion-MNIST",
    settings=[Setting(k, "fashion-mnist-acmod", v) for k, v in ABLATION.items()], steps=5000,
    evaluation=IMAGE_EVALUATION, table_metrics=TABLE, report=final_table,
    baseline=Baseline("ac_mod", ("fid", "conditional_accuracy", "recall"), **LEARNED),
    claims=(
        Claim("feature normalization improves AC-GAN's FID (normalized softmax vs AC-GAN*)", "fid",
              "+ normalization (proxy only)", "ac_mod", "lower", source="§3.1, Table 6"),
        Claim("the data-to-data term improves the FID (no margins vs proxy only)", "fid", "+ data-to-data (no margins)",
              "+ normalization (proxy only)", "lower", source="§3.2, Table 6"),
        Claim("the margins improve the FID (full D2D-CE vs no margins)", "fid", "+ margins (d2dce)",
              "+ data-to-data (no margins)", "lower", source="§3.2, Table 6"),
        Claim("D2D-CE reaches a lower FID than AC-GAN*", "fid", "+ margins (d2dce)", "ac_mod", "lower",
              source="Table 3"),
        Claim("λ = τ = 0.5 (the paper's rule) reaches a lower FID than λ = 1", "fid", "+ margins (d2dce)", "d2dce λ=1",
              "lower", source="App. A"),
        Claim("λ = τ = 0.5 (the paper's rule) reaches a lower FID than λ = 0.25", "fid", "+ margins (d2dce)",
              "d2dce λ=0.25", "lower", source="App. A"),
    ),
    add_arguments=lambda ap: ap.add_argument("--methods", dest="settings", nargs="+", choices=list(ABLATION)))

# --------------------------------------------------------------------------- DiffAugment, CR (Tables 1–2)
TRICKS = {  # label -> overrides of fashion-mnist-acmod
    "d2dce": D2DCE,
    "d2dce + DiffAugment": (*D2DCE, "train.diffaugment=[translation,cutout]"),
    "d2dce + CR": (*D2DCE, "reg.cr=10.0"),
    "d2dce + DiffAugment + CR": (*D2DCE, "train.diffaugment=[translation,cutout]", "reg.cr=10.0"),
}
TRICKS_STUDY = Study(
    name="seed004", part="tricks", title="Seed 004 (ReACGAN): DiffAugment and consistency regularization",
    settings=[Setting(k, "fashion-mnist-acmod", v) for k, v in TRICKS.items()], steps=5000,
    evaluation=IMAGE_EVALUATION, table_metrics=TABLE, report=final_table,
    baseline=Baseline("d2dce", ("fid", "conditional_accuracy", "recall"), **LEARNED),
    claims=tuple(Claim(f"{t[len('d2dce + '):]} improves D2D-CE's FID", "fid", t, "d2dce", "lower",
                       source="Tables 1–2")
                 for t in TRICKS if t != "d2dce"),
    add_arguments=lambda ap: ap.add_argument("--methods", dest="settings", nargs="+", choices=list(TRICKS)))

STUDIES = {"mog": MOG, "manyclass": MANYCLASS, "ablation": ABLATION_STUDY, "tricks": TRICKS_STUDY}

if __name__ == "__main__":
    run_main(STUDIES)
