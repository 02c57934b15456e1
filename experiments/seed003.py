"""Seed 003 (AM-GAN, Zhou et al. 2018) Table 1 / §5 / Table 2 with condgan.

Methods ac_mod (AC-GAN*), ac_plus (AC-GAN*+), label (LabelGAN) and am (AM-GAN), each with
predefined and dynamic labeling (§5.1), on MNIST-5k (3,000 steps) and Fashion-MNIST (5,000 steps),
several seeds, preset seed003-am with the quickstart's tuned optimizer (G lr 4e-4, D lr 8e-4, G EMA
0.999; DCGAN nets of width 32). The adversarial loss stays the paper's non-saturating one (`ns`):
with it and λ = 1 LabelGAN's and AM-GAN's losses are exactly the paper's K+1 softmax losses, and
every method runs with the same loss. Final EMA generators are scored with AM Score and its two
terms (the class-marginal KL and the per-sample entropy, reported and compared separately),
Inception Score (domain classifier), FID, intra-FID, intra-class SSIM (Table 2's intra-class
mode-collapse measure) and conditional accuracy. MNIST-5k uses `eval.real_split=train` since its
test split holds only 50 images per class. The leaderboard's tuned presets will later replace
the shared optimizer settings.

    python experiments/seed003.py --seeds 0 1 2

Claims tested: AM-GAN < AC-GAN*+ < AC-GAN* in AM Score and the reverse in IS (Table 1, per
labeling); dynamic labeling beats predefined (AM Score, §5.1) and lowers intra-class SSIM (Table 2).
"""

from __future__ import annotations

from report import metrics_table
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main

METHODS = ["ac_mod", "ac_plus", "label", "am"]
LABELINGS = ["predefined", "dynamic"]
METRICS = ("am_score", "is", "fid", "intra_fid", "intra_ssim", "conditional_accuracy")
NAMES = {"ac_mod": "AC-GAN*", "ac_plus": "AC-GAN*+", "label": "LabelGAN", "am": "AM-GAN"}


def settings(args) -> list[Setting]:
    return [Setting(f"{m}, {lab}", "seed003-am", (f"model.conditioning={m}", f"model.labeling={lab}"))
            for m in args.methods for lab in args.labelings]


def claims() -> tuple[Claim, ...]:
    out = []
    for lab in LABELINGS:
        for worse in ("ac_plus", "ac_mod"):
            out.append(Claim(f"{lab} labels: AM-GAN has a lower AM Score than {NAMES[worse]}", "am_score",
                             f"am, {lab}", f"{worse}, {lab}", "lower", source="Table 1"))
            out.append(Claim(f"{lab} labels: AM-GAN has a higher IS than {NAMES[worse]}", "is",
                             f"am, {lab}", f"{worse}, {lab}", "higher", source="Table 1"))
        out.append(Claim(f"{lab} labels: AC-GAN*+ has a lower AM Score than AC-GAN*", "am_score",
                         f"ac_plus, {lab}", f"ac_mod, {lab}", "lower", source="Table 1"))
    for lab in LABELINGS:  # the AM Score's two terms, separately (not claims of the paper: its decomposition)
        for term, what in (("am_score/kl", "class-marginal term KL(C̄_train ‖ C̄_G)"),
                           ("am_score/entropy", "per-sample entropy term E H(C(x))")):
            out.append(Claim(f"{lab} labels: AM-GAN has a lower AM Score {what} than AC-GAN*", term,
                             f"am, {lab}", f"ac_mod, {lab}", "lower", source="decomposition of Table 1"))
    for m in METHODS:
        out.append(Claim(f"{NAMES[m]}: dynamic labeling lowers the AM Score", "am_score", f"{m}, dynamic",
                         f"{m}, predefined", "lower", source="§5.1"))
        out.append(Claim(f"{NAMES[m]}: dynamic labeling lowers intra-class SSIM", "intra_ssim", f"{m}, dynamic",
                         f"{m}, predefined", "lower", source="Table 2"))
    return tuple(out)


def report(ctx) -> list[str]:
    out = []
    metrics = list(METRICS) + ["am_score/kl", "am_score/entropy"]  # the AM Score's two terms
    for ds in ctx.results.groups():
        out += [f"### {ds}\n", f"Final EMA generators, {ctx.args.num_samples} fakes, domain features; mean ± std over "
                "seeds. AM Score, FID, intra-FID, intra-SSIM: lower is better; IS, conditional accuracy: higher.\n",
                metrics_table(ctx.results, ds, metrics), ""]
    return out


def add_arguments(ap) -> None:
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--labelings", nargs="+", default=LABELINGS, choices=LABELINGS)


TUNED = ("train.g_lr=4e-4", "train.d_lr=8e-4", "train.ema=0.999", "eval.every=0")

STUDY = Study(
    name="seed003", title="Seed 003 (AM-GAN) with condgan", settings=settings,
    steps={"mnist5k": 3000, "fashion-mnist": 5000}, overrides=TUNED,
    datasets=("mnist5k", "fashion-mnist"), dataset_overrides={"mnist5k": ("eval.real_split=train",)},
    evaluation=Evaluation(METRICS, num_samples=2000), claims=claims(), report=report, add_arguments=add_arguments,
    baseline=Baseline("ac_mod, predefined", ("fid", "conditional_accuracy", "am_score"),
                      learned_metric="conditional_accuracy", at_least={"mnist5k": 0.9, "fashion-mnist": 0.75}),
    description=__doc__)

if __name__ == "__main__":
    run_main(STUDY)
