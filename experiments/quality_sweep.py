"""Sample quality per CPU-minute: train named configurations under one budget of generator steps,
evaluate each with the same protocol (class-balanced fakes, domain features, the data set's test
split), and tabulate them next to the real-data row (held-out real images scored as fakes).

    python experiments/quality_sweep.py --data mnist5k --steps 2000 --seeds 0 --configs ca-ls ac_mod-ls ...
    python experiments/quality_sweep.py --data mnist5k --seeds 0 1 --configs FINALIST ... --table quality_mnist5k_finalists

Every run is a plain `condgan train PRESET --set ...` (printed in the table's commands), so any
row can be repeated by hand; finished runs are skipped on re-runs. Each training's wall time is
measured alone (runs go one at a time unless --workers > 1, with train.threads set).
Outputs: docs/results/<table>.md (table + commands) and the sample grid of every configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, generated_by, run_all  # noqa: E402  (experiments/ is on sys.path when run as a script)

# name → (preset, overrides). The search space the issue names: conditioning method, loss,
# regularization (R1 / SN), widths, learning rates / betas, d_steps, EMA and DiffAugment.
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "ca-ls": ("mnist5k-cagan", []),
    "ac_mod-ls": ("mnist5k-cagan", ["model.conditioning=ac_mod"]),
    "ac_mod-ls-mbstd": ("mnist5k-cagan", ["model.conditioning=ac_mod", "model.d_minibatch_std=4"]),
    "ca-ls-mbstd": ("mnist5k-cagan", ["model.d_minibatch_std=4"]),
    "ac_mod-ns-r1": ("mnist5k-cagan", ["model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1"]),
    "ac_mod-ls-ema0.99": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.ema=0.99"]),
    "ac_mod-ls-ttur": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.d_lr=4e-4"]),
    "ac_mod-ns-r1-mbstd": ("mnist5k-cagan", ["model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1",
                                             "model.d_minibatch_std=4"]),
    "ac_mod-ns-r1-mbstd-lr5": ("mnist5k-cagan", ["model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1",
                                                 "model.d_minibatch_std=4", "train.g_lr=5e-4", "train.d_lr=5e-4",
                                                 "train.g_betas=[0.5,0.99]", "train.d_betas=[0.5,0.99]"]),
    "ac_mod-ls-ttur-mbstd": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.d_lr=4e-4", "model.d_minibatch_std=4"]),
    "ac_mod-ls-ttur8": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.d_lr=8e-4"]),
    "ac_mod-ls-ttur8-cw0.5": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.d_lr=8e-4", "model.cond_weight=0.5"]),
    "ac_mod-ls-fast": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.g_lr=4e-4", "train.d_lr=8e-4"]),
    "ac_mod-ls-fast-cw0.5": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.g_lr=4e-4", "train.d_lr=8e-4",
                                               "model.cond_weight=0.5"]),
    "ca-ls-wide": ("mnist5k-cagan", ["model.g_width=64", "model.d_width=64"]),
    "ac_mod-ls-diffaug": ("mnist5k-cagan", ["model.conditioning=ac_mod", "train.diffaugment=[translation,cutout]"]),
    "pd-hinge-sn-diffaug": ("mnist5k-cagan", ["model.conditioning=pd", "loss.adversarial=hinge",
                                              "model.d_spectral_norm=true", "model.g_conditioning=cbn",
                                              "train.g_betas=[0,0.9]", "train.d_betas=[0,0.9]",
                                              "train.diffaugment=[translation,cutout]"]),
}
COLUMNS = [("fid", "FID"), ("intra_fid", "intra-FID"), ("conditional_accuracy", "cond. acc."),
           ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage")]
METRICS = "fid,intra_fid,conditional_accuracy,prdc"


def condgan(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "condgan", *argv], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"condgan {' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return proc


def evaluate(run_dir: Path, num_samples: int) -> dict:
    out = run_dir / f"eval-{num_samples}.json"
    if not out.exists():
        condgan("evaluate", str(run_dir), "--num-samples", str(num_samples), "--metrics", METRICS, "--out", str(out))
    return json.loads(out.read_text())


def baseline(data: str, num_samples: int, runs: Path) -> dict | None:
    """The real-data row: real train images scored as fakes against the test reference."""
    out = runs / f"baseline-{data}-{num_samples}.json"
    if not out.exists():
        try:
            condgan("evaluate", "--baseline", "--data", data, "--num-samples", str(num_samples),
                    "--metrics", METRICS, "--out", str(out))
        except RuntimeError as e:  # an older condgan without --baseline
            print(f"no baseline row: {e}", file=sys.stderr)
            return None
    return json.loads(out.read_text())


def fmt(values: list[float | None]) -> str:
    if any(v is None for v in values):
        return "–"  # not reported (e.g. intra-FID on a split with too few images per class)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist5k")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--num-samples", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="train.threads of every run")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "quality"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--table", default=None, help="output stem (default quality_<data>)")
    args = ap.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    stem = args.table or f"quality_{args.data}"
    t0 = time.time()

    jobs, groups = [], {}
    for name in args.configs:
        preset, overrides = CONFIGS[name]
        for seed in args.seeds:
            o = [f"data.name={args.data}", f"train.steps={args.steps}", f"seed={seed}",
                 f"train.threads={args.threads}", "train.sample_every=0"] + overrides
            d = runs / f"{args.data}-{name}-s{seed}"
            jobs.append((d, preset, o))
            groups.setdefault(name, []).append(d)
    log = run_all(jobs, args.workers)

    header = "| configuration | seeds | train s | " + " | ".join(c for _, c in COLUMNS) + " |"
    rows = [header, "|" + "---|" * (len(COLUMNS) + 3)]
    real = baseline(args.data, args.num_samples, runs)
    if real:
        rows.append("| **real train split scored as fakes** | – | – | "
                    + " | ".join(fmt([real["metrics"].get(k)]) for k, _ in COLUMNS) + " |")
    results = []
    for name, dirs in groups.items():
        evals = [evaluate(d, args.num_samples) for d in dirs]
        seconds = [float((d / "done").read_text()) for d in dirs]
        cells = [fmt([e["metrics"].get(k) for e in evals]) for k, _ in COLUMNS]
        results.append((statistics.mean(e["metrics"]["fid"] for e in evals), name, len(dirs), fmt(seconds), cells))
        shutil.copyfile(dirs[0] / "samples" / "latest.png", docs / f"{stem}_{name}.png")
    for _, name, n, secs, cells in sorted(results):
        rows.append(f"| {name} | {n} | {secs} | " + " | ".join(cells) + " |")
    grids = "\n".join(f"- {name}: ![]({stem}_{name}.png)" for _, name, *_ in sorted(results))
    text = (generated_by(t0) + "\n"
            f"{args.data}, {args.steps} generator steps, {args.num_samples} class-balanced fakes, domain features, "
            f"test split; sorted by FID (mean ± std over seeds {args.seeds}).\n\n" + "\n".join(rows)
            + f"\n\nSample grids (seed {args.seeds[0]}, one row per class):\n\n{grids}\n"
            + "\n<details><summary>commands</summary>\n\n```\n" + "\n".join(log) + "\n```\n</details>\n")
    (docs / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
