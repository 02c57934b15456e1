"""Reproduce seed 003 (AM-GAN, Zhou et al. 2018) Table 1 / §5 / Table 2 at CPU scale with condgan.

Methods ac_mod (AC-GAN*), ac_plus (AC-GAN*+), label (LabelGAN) and am (AM-GAN), each with
predefined and dynamic labeling (§5.1; every one of these methods has the K class logits that
dynamic labeling needs), on Fashion-MNIST and MNIST-5k, several seeds, preset seed003-am.
Final EMA generators are scored with AM Score, Inception Score (domain classifier), FID,
intra-FID and intra-class SSIM (Table 2's intra-class mode-collapse measure). MNIST-5k uses
`eval.real_split=train` since its test split holds only 50 images per class.

    python experiments/seed003.py --datasets fashion-mnist mnist5k --seeds 0 1 2

Claims tested (verdicts computed from the mean over seeds):
  * Table 1: AM-GAN has the best AM Score / IS among the four models (per dataset and labeling).
  * Table 1: AC-GAN*+ improves on AC-GAN* (AM Score).
  * §5.1 / Table 2: dynamic labeling beats predefined labeling (AM Score) and reduces intra-class
    mode collapse (lower intra-class SSIM).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import (add_run_arguments, final_eval, final_metrics, mean_of, publish_tables,  # noqa: E402
                    metrics_table, run_all, verdict)

METHODS = ["ac_mod", "ac_plus", "label", "am"]
LABELINGS = ["predefined", "dynamic"]
METRICS = ["am_score", "is", "fid", "intra_fid", "intra_ssim"]


def claims(values: dict, ds: str, methods: list[str], labelings: list[str]) -> list[str]:
    """Verdict lines for one dataset, from group-mean metrics (labels are 'method, labeling')."""
    out = []
    for lab in labelings:
        present = [m for m in methods if f"{m}, {lab}" in values]
        if "am" in present and len(present) > 1:
            for key in ("am_score", "is"):
                # AM Score: lower is better; IS: higher is better.
                sign = 1 if key == "am_score" else -1
                best = min(present, key=lambda m: sign * mean_of(values, f"{m}, {lab}", key))
                out.append(f"- {ds}, {lab}: AM-GAN has the best {key} of {present} (best: {best}): {verdict(best == 'am')}")
        if {"ac_mod", "ac_plus"} <= set(present):
            out.append(f"- {ds}, {lab}: AC-GAN*+ improves AM Score over AC-GAN*: "
                       + verdict(mean_of(values, f"ac_plus, {lab}", "am_score") < mean_of(values, f"ac_mod, {lab}", "am_score")))
    if set(LABELINGS) <= set(labelings):
        for m in methods:
            d, p = f"{m}, dynamic", f"{m}, predefined"
            if d in values and p in values:
                out.append(f"- {ds}, {m}: dynamic labeling beats predefined on AM Score: "
                           + verdict(mean_of(values, d, "am_score") < mean_of(values, p, "am_score")))
                out.append(f"- {ds}, {m}: dynamic labeling lowers intra-class SSIM (less intra-class collapse): "
                           + verdict(mean_of(values, d, "intra_ssim") < mean_of(values, p, "intra_ssim")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["fashion-mnist", "mnist5k"])
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--labelings", nargs="+", default=LABELINGS)
    add_run_arguments(ap, "seed003", num_samples=2000)
    args = ap.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    base = ["train.threads=1"] + ([f"train.steps={args.steps}"] if args.steps else []) + args.overrides
    t0 = time.time()
    sections, all_log = [], []
    for ds in args.datasets:
        extra = ["eval.real_split=train"] if ds == "mnist5k" else []
        jobs, groups = [], {}
        for m in args.methods:
            for lab in args.labelings:
                for s in args.seeds:
                    d = runs / f"{ds}-{m}-{lab}-s{s}"
                    o = [f"data.name={ds}", f"model.conditioning={m}", f"model.labeling={lab}", f"seed={s}"]
                    jobs.append((d, "seed003-am", o + extra + base))
                    groups.setdefault(f"{m}, {lab}", []).append(d)
        all_log += run_all(jobs, args.workers, after=lambda d: final_eval(d, METRICS, args.num_samples))
        values = final_metrics(groups, METRICS, args.num_samples)
        sections += [f"### {ds}\n", f"Final EMA generators, {args.num_samples} fakes, domain features; "
                     f"mean ± std over seeds {args.seeds}. AM Score, FID, intra-FID, intra-SSIM: lower is better; IS: higher.\n",
                     metrics_table(values, METRICS), "", "Verdicts (computed from the table above):\n",
                     "\n".join(claims(values, ds, args.methods, args.labelings)), ""]
    publish_tables(docs / "seed003_tables.md", sections, all_log, t0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
