"""Seed 001 (Cho, "Conditional Activation GAN") with condgan, in two parts:

  conditioning: CA-GAN vs modified AC-GAN (λ = 1) vs original AC-GAN at the tuned quickstart
                settings (`mnist5k-quickstart`: LSGAN, G lr 4e-4, D lr 8e-4, width 32, G EMA; on
                Fashion-MNIST λ = 0.5 as `fashion-mnist-acmod`), 3,000 steps on MNIST-5k and 5,000
                on Fashion-MNIST; intra-class FID (domain features) every 250 steps during training
                and of the final EMA generator with re-estimated BN statistics.
  mixed-batch:  55 %-zeros MNIST-5k, batch norm in D (the point of the claim: mixed batches share
                D's batch statistics between reals and fakes), AC and CA with and without mixed
                batch training, the quickstart's learning rates, 3,000 steps; total variation
                between the class histogram of the fakes (as classified by the domain classifier)
                and the requested uniform mix.

    python experiments/seed001.py conditioning --seeds 0 1 2
    python experiments/seed001.py mixed-batch --seeds 0 1 2

The leaderboard (tuned presets per method) will later replace the shared quickstart settings.
Results: docs/results/seed001/ (records in runs/, documents conditioning.md, mixed-batch.md).
"""

from __future__ import annotations

import statistics

from report import metrics_table, plot_series
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main


def series_summary(run_dir, spec, args, key: str) -> dict:
    """The last evaluation during training and the mean over all of them (from metrics.jsonl)."""
    from runner import read_series

    s = read_series(run_dir, [f"eval.{key}"]).get(f"eval.{key}", [])
    return {f"{key}_last_during_training": s[-1][1], f"{key}_mean_during_training": statistics.fmean(v for _, v in s)} \
        if s else {}


def curves_report(key: str):
    def report(ctx) -> list[str]:
        r, out = ctx.results, []
        for group in r.groups():
            png = ctx.figure(f"{group}.png" if group else "curves.png")
            if plot_series(r, group, f"eval.{key}", png, f"{group}: {key} during training (mean ± std over seeds)",
                           ylabel=key):
                out += [f"### {group}\n", f"![]({png.name})\n"]
            metrics = [f"{key}_last_during_training", f"{key}_mean_during_training"]
            if ctx.study.evaluation:
                metrics += [key, "conditional_accuracy"]
            out += [metrics_table(r, group, metrics, names={
                f"{key}_last_during_training": f"final {key} (during training)",
                f"{key}_mean_during_training": f"{key} averaged over the evaluations",
                key: f"final {key}, EMA + standing statistics", "conditional_accuracy": "conditional accuracy"}), ""]
        return out
    return report


def add_arguments(ap) -> None:
    ap.add_argument("--methods", nargs="+", default=None, help="only these conditioning methods")
    ap.add_argument("--eval-every", type=int, default=None, help="eval.every of every run (default: the preset's)")
    ap.add_argument("--final-standing-stats", type=int, default=50,
                    help="evaluate final EMA generators with BN statistics re-estimated over N batches (0: no final "
                         "evaluation)")


def options(args) -> list[str]:
    return [f"eval.every={args.eval_every}"] if args.eval_every else []


def part(name: str, key: str, settings: list[Setting], **kw) -> Study:
    def measure(run_dir, spec, args):
        return series_summary(run_dir, spec, args, key)

    def chosen(args):  # --methods ca ac: every setting of those methods
        return [s for s in settings if not args.methods or s.label.split(",")[0] in args.methods]

    def evaluation(args):
        n = args.final_standing_stats
        return Evaluation((key, "fid", "conditional_accuracy"), num_samples=2000, standing_stats=n) if n else None

    return Study(name="seed001", part=name, settings=chosen, series=(f"eval.{key}",),
                 evaluation=evaluation, measure=measure, report=curves_report(key), add_arguments=add_arguments,
                 options=options, workers=2, description=__doc__, **kw)


# The quickstart's tuned settings; evaluation during training as the seed001-ca-vs-ac preset.
QUICKSTART = "mnist5k-quickstart"
EVAL_DURING_TRAINING = ("eval.every=250", "eval.metrics=[intra_fid,fid,conditional_accuracy]", "eval.num_samples=2000")
STEPS = {"mnist5k": 3000, "fashion-mnist": 5000}
QUICKSTART_LRS = ("train.g_lr=4e-4", "train.d_lr=8e-4", "train.ema=0.999")


def cond(m: str) -> Setting:
    return Setting(m, QUICKSTART, (f"model.conditioning={m}",))


CONDITIONING = part(
    "conditioning", "intra_fid", [cond("ca"), cond("ac_mod"), cond("ac")],
    claims=(Claim("CA-GAN ends with a lower intra-FID than modified AC-GAN", "intra_fid", "ca", "ac_mod", "lower",
                  source="§6.1–6.2"),
            Claim("modified AC-GAN ends with a lower intra-FID than the original AC-GAN", "intra_fid", "ac_mod", "ac",
                  "lower", source="§6.1–6.2"),
            Claim("CA-GAN learns faster: lower intra-FID averaged over training than modified AC-GAN",
                  "intra_fid_mean_during_training", "ca", "ac_mod", "lower", source="§6.2")),
    title="Seed 001 (CA-GAN): CA vs modified AC vs AC", datasets=("mnist5k", "fashion-mnist"), steps=STEPS,
    overrides=EVAL_DURING_TRAINING,
    # MNIST-5k's test split has 50 images per class: intra-FID needs the train split as reference.
    # Fashion-MNIST: the class-loss weight of the fashion-mnist-acmod preset.
    dataset_overrides={"mnist5k": ("eval.real_split=train",), "fashion-mnist": ("model.cond_weight=0.5",)},
    baseline=Baseline("ac_mod", ("intra_fid", "fid", "conditional_accuracy"), learned_metric="conditional_accuracy",
                      at_least={"mnist5k": 0.9, "fashion-mnist": 0.75}))


def mixed(m: str, on: bool) -> Setting:
    return Setting(f"{m}, mixed batch {'on' if on else 'off'}", "seed001-mixed-batch",
                   (f"model.conditioning={m}", f"loss.mixed_batch={str(on).lower()}", *QUICKSTART_LRS))



MIXED = part(
    "mixed-batch", "class_tv", [mixed("ac", True), mixed("ac", False), mixed("ca", True), mixed("ca", False)],
    claims=(Claim("mixed batches bring AC-GAN's fakes closer to the requested class mix", "class_tv",
                  "ac, mixed batch on", "ac, mixed batch off", "lower", source="§6.3"),
            Claim("mixed batches bring CA-GAN's fakes closer to the requested class mix", "class_tv",
                  "ca, mixed batch on", "ca, mixed batch off", "lower", source="§6.3")),
    title="Seed 001 (CA-GAN): mixed batch training on the 55 %-zeros set", steps=3000,
    baseline=Baseline("ac, mixed batch on", ("class_tv", "fid", "conditional_accuracy"),
                      learned_metric="conditional_accuracy", at_least=0.9))

STUDIES = {"conditioning": CONDITIONING, "mixed-batch": MIXED}

if __name__ == "__main__":
    run_main(STUDIES)
