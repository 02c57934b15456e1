"""Seed 004's claim that GANs with ContraGAN's 2C loss synthesize images of unintended classes
(its paragraph on the differences between ReACGAN and ContraGAN, and App. F), with D2D-CE as the
contrast: the `mnist5k-quickstart` preset with only `model.conditioning` changed (to `2c` and to
`d2dce`, each at its defaults), 2,000 steps, seeds 0, 1, 2, one run at a time on one thread.

    CONDGAN_CACHE=$PWD/.condgan_cache python experiments/seed004_2c.py

Each finished run is trained once (`runs/seed004_2c/<setting>-s<seed>`, skipped when done) and
evaluated once on 5,000 fakes (targets y'_i = i mod 10, latent seed 0, EMA generator, domain
features): FID, precision / recall, conditional accuracy and the confusion of the domain
classifier's prediction with the requested class. One compact JSON per run goes to
docs/results/seed004/runs/ and is skipped on a re-run; the report (docs/results/seed004/
2c_unintended_classes.md) and a sample grid per setting (seed 0) are rebuilt from those JSONs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, generated_by, train  # noqa: E402  (experiments/ is on sys.path when run as a script)

PRESET = "mnist5k-quickstart"
SETTINGS = {"2c": ["model.conditioning=2c"], "d2dce": ["model.conditioning=d2dce"]}
BASE = ["train.steps=2000", "train.threads=1"]
METRICS = ["fid", "prdc", "conditional_accuracy"]
NUM_SAMPLES = 5000
DOCS = ROOT / "docs" / "results" / "seed004"


def evaluate(run_dir: Path, num_samples: int) -> dict:
    """Metrics and the (requested × predicted) confusion of `num_samples` fakes, in-process."""
    import torch

    from condgan.evaluation import Evaluator
    from condgan.training.restore import load_generator

    trained = load_generator(run_dir)
    k = trained.info.num_classes
    ev = Evaluator(trained.cfg.data, k, "domain", num_samples, METRICS, seed=0)
    result = ev.evaluate(trained.generator, trained.cfg.model.z_dim)
    _, logits, y, _ = ev.generate_features(trained.generator, trained.cfg.model.z_dim)
    predicted = logits.argmax(1)
    confusion = torch.bincount(y * k + predicted, minlength=k * k).reshape(k, k)
    accuracy = float(confusion.diag().sum()) / num_samples
    assert abs(accuracy - result.metrics["conditional_accuracy"]) < 1e-9, "confusion and metric disagree"
    return {"metrics": {key: result.metrics[key] for key in ("fid", "precision", "recall", "conditional_accuracy")},
            "confusion": confusion.tolist(), "extractor_test_accuracy": getattr(ev.extractor, "test_accuracy", None),
            "class_names": trained.info.class_names, "step": trained.step}


def mapping(confusion: list[list[int]]) -> dict:
    """Per requested class its most frequent predicted class and that class's share of the fakes;
    whether the dominant classes form a permutation (every class drawn by exactly one request)."""
    dominant = [max(range(len(row)), key=row.__getitem__) for row in confusion]
    share = [row[d] / sum(row) for row, d in zip(confusion, dominant)]
    return {"dominant": dominant, "dominant_share": share, "mean_dominant_share": statistics.mean(share),
            "wrong_dominant": sum(d != c for c, d in enumerate(dominant)),
            "permutation": sorted(dominant) == list(range(len(dominant)))}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % Student-t interval over the seeds."""
    from scipy import stats

    n, m = len(values), statistics.mean(values)
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return m, m - half, m + half


def welch_interval(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """mean(a) − mean(b) and its 95 % Welch interval (Welch–Satterthwaite degrees of freedom)."""
    from scipy import stats

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.mean(a) - statistics.mean(b)
    if va + vb == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    return diff, diff - half, diff + half


def judge(low: float, high: float, threshold: float = 0.0) -> str:
    """holds when the whole interval is above `threshold`, does not hold when it is entirely
    below, inconclusive when it straddles it."""
    return "**holds**" if low > threshold else "**does not hold**" if high < threshold else "**inconclusive**"


def fmt(m, lo, hi, d=3):
    return f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def report(records: dict[str, list[dict]], commands: list[str], t0: float) -> str:
    acc = {s: [r["metrics"]["conditional_accuracy"] for r in rs] for s, rs in records.items()}
    lines = [generated_by(t0),
             "# 2C draws images of unintended classes (seed 004, §3.4 \"Differences between ReACGAN and ContraGAN\", App. F)",
             "",
             f"Setup: preset `{PRESET}` (AC-GAN*'s small DCGAN, LS loss, 2-time-scale Adam) with only "
             "`model.conditioning` changed, each method at its defaults (2c: τ = 1.0; d2dce: τ = 0.5, m_p = 0.98; "
             "the preset's λ = 1 for both); "
             f"`{' '.join('--set ' + o for o in BASE)}`, seeds {sorted({r['seed'] for rs in records.values() for r in rs})}, "
             "one run at a time. Evaluation: final EMA generator, 5,000 fakes with targets y' = i mod 10 "
             "(latent seed 0), domain-classifier features and predictions (its test accuracy: "
             f"{next(iter(records.values()))[0]['extractor_test_accuracy']:.4f}). Intervals: 95 % Student-t over "
             "the seeds for a mean, 95 % Welch for a difference of means.",
             "",
             "## Quality first (did both learn?)",
             "",
             "| setting | seeds | FID | precision | recall | conditional accuracy |",
             "|---|---|---|---|---|---|"]
    for s, rs in records.items():
        cells = [fmt(*t_interval([r["metrics"][k] for r in rs]), d=2 if k == "fid" else 3)
                 for k in ("fid", "precision", "recall", "conditional_accuracy")]
        lines.append(f"| {s} | {len(rs)} | " + " | ".join(cells) + " |")
    lines += ["", "Per run:", "", "| setting | seed | FID | recall | conditional accuracy | requested → most frequent predicted class (its share) | permutation of the classes |",
              "|---|---|---|---|---|---|---|"]
    for s, rs in records.items():
        for r in rs:
            mp = mapping(r["confusion"])
            arrows = ", ".join(f"{c}→{d} ({sh:.2f})" for c, (d, sh) in enumerate(zip(mp["dominant"], mp["dominant_share"])))
            lines.append(f"| {s} | {r['seed']} | {r['metrics']['fid']:.2f} | {r['metrics']['recall']:.3f} | "
                         f"{r['metrics']['conditional_accuracy']:.3f} | {arrows} | {'yes' if mp['permutation'] else 'no'} |")
    lines += ["", "## Verdicts", ""]
    if {"2c", "d2dce"} <= set(records):
        d, lo, hi = welch_interval(acc["d2dce"], acc["2c"])
        lines.append(f"- **2C's fakes show their requested class less often than D2D-CE's** (seed 004's claim): "
                     f"conditional accuracy d2dce − 2c = {fmt(d, lo, hi)} → {judge(lo, hi)}.")
        share = [mapping(r["confusion"])["mean_dominant_share"] for r in records["2c"]]
        wrong = [mapping(r["confusion"])["wrong_dominant"] / len(r["confusion"]) for r in records["2c"]]
        m, lo, hi = t_interval(share)
        mw, lw, hw = t_interval(wrong)
        lines.append(f"- **2C's unintended classes are systematic** (criterion: on average more than half of a "
                     f"requested class's fakes fall in one single class): mean share of the most frequent predicted "
                     f"class = {fmt(m, lo, hi)} → {judge(lo, hi, 0.5)}. Fraction of requested classes whose most "
                     f"frequent predicted class is another class: {fmt(mw, lw, hw)}.")
        f, flo, fhi = welch_interval([r["metrics"]["fid"] for r in records["2c"]], [r["metrics"]["fid"] for r in records["d2dce"]])
        lines.append(f"- For reference (no claim): FID 2c − d2dce = {fmt(f, flo, fhi, 2)}.")
    lines += ["", "Samples (seed 0; one row per requested class 0–9, fixed latents per column):", "",
              "| 2c | d2dce |", "|---|---|", "| ![](2c_seed0_samples.png) | ![](d2dce_seed0_samples.png) |", "",
              "Per-run JSONs (config overrides, metrics, full 10 × 10 confusion of requested vs predicted class): "
              "[runs/](runs/).", "",
              "<details><summary>commands</summary>\n\n```\n" + "\n".join(commands) + "\n```\n</details>\n"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS))
    ap.add_argument("--runs", default=str(ROOT / "runs" / "seed004_2c"))
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from the per-run JSONs")
    args = ap.parse_args()
    t0 = time.time()
    out_dir = DOCS / "runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, list[dict]] = {}
    commands: list[str] = []
    for setting in args.settings:
        for seed in args.seeds:
            overrides = SETTINGS[setting] + BASE + [f"seed={seed}"]
            run_dir = Path(args.runs) / f"{setting}-s{seed}"
            out = out_dir / f"{setting}-s{seed}.json"
            log: list[str] = []
            if not out.exists() and not args.report_only:
                t_run = time.time()
                train(run_dir, PRESET, overrides, log)
                record = {"study": "seed004 2c unintended classes", "setting": setting, "seed": seed, "preset": PRESET,
                          "overrides": overrides, "command": log[-1],
                          "train_seconds": float((run_dir / "done").read_text()), **evaluate(run_dir, NUM_SAMPLES),
                          "num_samples": NUM_SAMPLES, "eval_seed": 0,
                          "eval_command": "in-process: Evaluator(domain, 5000 fakes, seed 0) + confusion",
                          "wall_seconds": round(time.time() - t_run, 1)}
                out.write_text(json.dumps(record, indent=1) + "\n")
                print(f"{setting} seed {seed}: {record['metrics']}", flush=True)
            if out.exists():
                record = json.loads(out.read_text())
                records.setdefault(setting, []).append(record)
                commands.append(record["command"])
            if seed == 0 and run_dir.exists() and not (DOCS / f"{setting}_seed0_samples.png").exists():
                subprocess.run([sys.executable, "-m", "condgan.cli.main", "sample", str(run_dir), "--num", "10",
                                "--out", str(DOCS / f"{setting}_seed0_samples.png")], check=True, cwd=ROOT)
    if all(len(rs) >= 2 for rs in records.values()) and records:
        text = report(records, commands, t0)
        (DOCS / "2c_unintended_classes.md").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
