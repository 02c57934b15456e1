"""The GAN canon of issue 23 (part A) with condgan, in two parts:

  modes:   the Improved-GAN techniques (feature matching, minibatch discrimination, historical
           averaging, virtual batch norm), the variational discriminator bottleneck, WGAN with
           weight clipping, DRAGAN and WGAN-GP against mode collapse on the 2-D ring (8 modes)
           and grid (25 modes) of Gaussians: each technique on the `ring2d-gan` preset
           (unconditional mlp GAN, ns loss, Adam 1e-3), the number of modes recovered and the
           fraction of high-quality samples (metric `modes`, 2,500 fakes of the trained G).
  progan:  a smoke check of progressive growing on MNIST-5k (7 → 14 → 28 px), one seed, 2,000
           steps of 8-wide nets (300 steps per level and per fade-in): does it train through the
           fade-ins and produce digits of the requested class.

    python experiments/canon.py modes --seeds 0 1 2
    python experiments/canon.py progan

Results: docs/results/canon/ (records in runs/, documents modes.md and progan.md).
"""

from __future__ import annotations

from pathlib import Path

from report import metrics_table
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main

# --------------------------------------------------------------------------- mode collapse
TECHNIQUES = {  # label -> overrides of the ring2d-gan preset
    "baseline": (),
    "feature matching": ("loss.feature_matching=1.0", "loss.feature_matching_only=true"),
    "minibatch discrimination": ("model.d_minibatch_disc=16", "model.d_minibatch_disc_dim=5"),
    "historical averaging": ("reg.historical_averaging=0.001",),
    "virtual batch norm": ("model.g_norm=virtual_batch", "model.vbn_reference=128"),
    "VDB": ("model.vdb_dim=16", "loss.vdb_ic=0.5", "loss.vdb_beta_step=0.001"),
    "WGAN-clip": ("loss.adversarial=wasserstein", "reg.weight_clip=0.01", "train.optimizer=rmsprop",
                  "train.g_lr=1e-4", "train.d_lr=1e-4", "train.d_steps=5"),
    "DRAGAN": ("reg.dragan=10",),
    "WGAN-GP": ("loss.adversarial=wasserstein", "reg.gp=10", "train.d_steps=5", "train.g_betas=[0.5,0.9]",
                "train.d_betas=[0.5,0.9]"),
}
NUM_FAKES, LATENT_SEED, SCATTER = 2500, 1234, 200


def modes_measure(run_dir: Path, spec, args) -> dict:
    """The `modes` metric of NUM_FAKES fakes of the trained G (no EMA in the preset; latent seed
    LATENT_SEED) against the run's test split (2,000 reals: the modes' centres and spreads), and
    for the first seed SCATTER fakes for the figure."""
    import torch

    from condgan.data import load_dataset
    from condgan.metrics import MetricInputs, compute_metrics
    from condgan.training.latents import sample_latents
    from condgan.training.restore import load_generator

    trained = load_generator(run_dir, use_ema=False)
    with torch.no_grad():
        fakes = trained.generator(sample_latents(NUM_FAKES, trained.cfg.model.z_dim,
                                                 torch.Generator().manual_seed(LATENT_SEED)), None)
    test = load_dataset(trained.cfg.data, "test")
    out = compute_metrics(MetricInputs(real_features=test.images, real_labels=test.labels, fake_features=fakes),
                          ["modes"])
    if spec.seed == min(args.seeds):
        out["scatter"] = [[round(float(a), 3), round(float(b), 3)] for a, b in fakes[:SCATTER].tolist()]
    return out


def modes_figure(ctx, png: Path) -> bool:
    """Fakes of the first seed per technique (rows: data sets), true mode centres as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from condgan.data.synthetic import grid2d_params, ring2d_params

    groups = ctx.results.groups()
    settings = ctx.results.settings()
    if not groups or not settings:
        return False
    fig, axes = plt.subplots(len(groups), len(settings), figsize=(1.9 * len(settings), 2.0 * len(groups)),
                             squeeze=False)
    for row, group in zip(axes, groups):
        centres = (ring2d_params() if group == "ring2d" else grid2d_params())[0]
        for ax, s in zip(row, settings):
            recs = [r for r in ctx.results.select(s, group) if r.get("extra", {}).get("scatter")]
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", s=12, c="C3", lw=0.8)
            if recs:
                pts = recs[0]["extra"]["scatter"]
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=2, c="C0", alpha=0.6)
            lim = 3 if group == "ring2d" else 5.5
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[])
            ax.set_title(f"{s}\n{group}", fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return True


def modes_report(ctx) -> list[str]:
    out = []
    for group in ctx.results.groups():
        out += [f"**{group}**: {NUM_FAKES} fakes of the trained G (latent seed {LATENT_SEED}); a fake is high quality "
                "within 3σ of its nearest mode, a mode is recovered with ≥ 20 % of its expected share of "
                "high-quality fakes; mean ± std over seeds.\n",
                metrics_table(ctx.results, group, ["modes_recovered", "high_quality"],
                              names={"modes_recovered": "modes recovered", "high_quality": "high-quality fraction"}),
                ""]
    png = ctx.figure("scatter.png")
    if modes_figure(ctx, png):
        out += ["Fakes of the first seed (blue) and the true mode centres (red crosses):", "", f"![]({png.name})", ""]
    return out


MODES_CLAIMS = tuple(
    Claim(f"{t} {what} than the baseline", metric, t, "baseline", "higher",
          source=source)
    for t, source in (("feature matching", "Salimans 2016 §3.1"), ("minibatch discrimination", "Salimans 2016 §3.2"),
                      ("historical averaging", "Salimans 2016 §3.3"), ("virtual batch norm", "Salimans 2016 §3.5"),
                      ("VDB", "Peng 2019"), ("WGAN-clip", "Arjovsky 2017"), ("DRAGAN", "Kodali 2017"),
                      ("WGAN-GP", "Gulrajani 2017"))
    for metric, what in (("modes_recovered", "recovers more modes"),
                         ("high_quality", "gives a larger fraction of high-quality samples")))

MODES = Study(
    name="canon", part="modes", title="The GAN canon against mode collapse: 2-D ring and grid of Gaussians",
    settings=[Setting(k, "ring2d-gan", v) for k, v in TECHNIQUES.items()],
    datasets=("ring2d", "grid2d"), steps=3000, measure=modes_measure, report=modes_report,
    claims=MODES_CLAIMS, table_metrics=("modes_recovered", "high_quality"),
    baseline=Baseline("baseline", ("modes_recovered", "high_quality"), learned_metric="high_quality", at_least=0.3),
    add_arguments=lambda ap: ap.add_argument("--techniques", dest="settings", nargs="+", choices=list(TECHNIQUES)),
)

# --------------------------------------------------------------------------- ProGAN smoke check
PROGAN = Study(
    name="canon", part="progan", title="Progressive growing on MNIST-5k: a one-seed smoke check",
    settings=[Setting("progan", "mnist5k-progan", ("model.g_width=8", "model.d_width=8", "train.batch_size=32",
                                                   "train.progressive_stable=300", "train.progressive_fade=300"))],
    seeds=(0,), steps=2000,
    evaluation=Evaluation(("fid", "conditional_accuracy"), num_samples=1000),
    series=("grow_level", "grow_alpha", "d_loss", "g_loss"),
    table_metrics=("fid", "conditional_accuracy"),
)

STUDIES = {"modes": MODES, "progan": PROGAN}

if __name__ == "__main__":
    run_main(STUDIES)
