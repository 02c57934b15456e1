"""Seed 001 (Cho, "Conditional Activation GAN") with condgan, in two parts:

  conditioning: CA-GAN vs modified AC-GAN (λ = 1) vs original AC-GAN, instance norm in D, LSGAN
                loss, same steps; intra-class FID (domain features) during training and of the
                final EMA generator with re-estimated BN statistics.
  mixed-batch:  55 %-zeros MNIST-5k, batch norm in D, AC and CA with and without mixed batch
                training; total variation between the class histogram of the fakes (as classified
                by the domain classifier) and the requested uniform mix.

    python experiments/seed001.py conditioning --datasets mnist5k fashion-mnist --seeds 0 1 2
    python experiments/seed001.py mixed-batch --seeds 0 1 2

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
        return Evaluation((key, "conditional_accuracy"), num_samples=2000, standing_stats=n) if n else None

    return Study(name="seed001", part=name, settings=chosen, steps=2000, series=(f"eval.{key}",),
                 evaluation=evaluation, measure=measure, report=curves_report(key), add_arguments=add_arguments,
                 options=options, workers=2, description=__doc__, **kw)


def cond(m: str) -> Setting:
    return Setting(m, "seed001-ca-vs-ac", (f"model.conditioning={m}",))


CONDITIONING = part(
    "conditioning", "intra_fid", [cond("ca"), cond("ac_mod"), cond("ac")],
    claims=(Claim("CA-GAN ends with a lower intra-FID than modified AC-GAN", "intra_fid", "ca", "ac_mod", "lower",
                  source="§6.1–6.2"),
            Claim("modified AC-GAN ends with a lower intra-FID than the original AC-GAN", "intra_fid", "ac_mod", "ac",
                  "lower", source="§6.1–6.2"),
            Claim("CA-GAN learns faster: lower intra-FID averaged over training than modified AC-GAN",
                  "intra_fid_mean_during_training", "ca", "ac_mod", "lower", source="§6.2")),
    title="Seed 001 (CA-GAN): CA vs modified AC vs AC", datasets=("mnist5k", "fashion-mnist"),
    # MNIST-5k's test split has 50 images per class: intra-FID needs the train split as reference.
    dataset_overrides={"mnist5k": ("eval.real_split=train",)},
    baseline=Baseline("ac_mod", ("intra_fid", "conditional_accuracy"), learned_metric="conditional_accuracy",
                      at_least={"mnist5k": 0.9, "fashion-mnist": 0.75}))


def mixed(m: str, on: bool) -> Setting:
    return Setting(f"{m}, mixed batch {'on' if on else 'off'}", "seed001-mixed-batch",
                   (f"model.conditioning={m}", f"loss.mixed_batch={str(on).lower()}"))


MIXED = part(
    "mixed-batch", "class_tv", [mixed("ac", True), mixed("ac", False), mixed("ca", True), mixed("ca", False)],
    claims=(Claim("mixed batches bring AC-GAN's fakes closer to the requested class mix", "class_tv",
                  "ac, mixed batch on", "ac, mixed batch off", "lower", source="§6.3"),
            Claim("mixed batches bring CA-GAN's fakes closer to the requested class mix", "class_tv",
                  "ca, mixed batch on", "ca, mixed batch off", "lower", source="§6.3")),
    title="Seed 001 (CA-GAN): mixed batch training on the 55 %-zeros set",
    baseline=Baseline("ac, mixed batch off", ("class_tv", "conditional_accuracy")))

STUDIES = {"conditioning": CONDITIONING, "mixed-batch": MIXED}

if __name__ == "__main__":
    run_main(STUDIES)
