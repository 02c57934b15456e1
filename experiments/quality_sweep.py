"""Sample quality per CPU-minute: train named configurations under one budget of generator steps,
evaluate each with the same protocol (class-balanced fakes, domain features, the data set's test
split), and tabulate them next to the real-data row (real train images scored as fakes).

    python experiments/quality_sweep.py --data mnist5k --steps 2000 --seeds 0 --configs ca-ls ac_mod-ls ...
    python experiments/quality_sweep.py --data mnist5k --seeds 0 1 --configs FINALIST ... --table mnist5k_finalists

Every run is a plain `condgan train PRESET --set ...` (in the document's commands), so any row can
be repeated by hand; finished runs are skipped on re-runs (records in docs/results/quality/runs/).
Output: docs/results/quality/<table>.md and the sample grid of every configuration beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from report import mean_sd
from runner import ROOT, Evaluation, Setting, Study, run_main

# name → (preset, overrides). The search space the issue named: conditioning method, loss,
# regularization (R1 / SN), widths, learning rates / betas, d_steps, EMA and DiffAugment.
CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ca-ls": ("mnist5k-cagan", ()),
    "ac_mod-ls": ("mnist5k-cagan", ("model.conditioning=ac_mod",)),
    "ac_mod-ls-mbstd": ("mnist5k-cagan", ("model.conditioning=ac_mod", "model.d_minibatch_std=4")),
    "ca-ls-mbstd": ("mnist5k-cagan", ("model.d_minibatch_std=4",)),
    "ac_mod-ns-r1": ("mnist5k-cagan", ("model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1")),
    "ac_mod-ls-ema0.99": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.ema=0.99")),
    "ac_mod-ls-ttur": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.d_lr=4e-4")),
    "ac_mod-ns-r1-mbstd": ("mnist5k-cagan", ("model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1",
                                             "model.d_minibatch_std=4")),
    "ac_mod-ns-r1-mbstd-lr5": ("mnist5k-cagan", ("model.conditioning=ac_mod", "loss.adversarial=ns", "reg.r1=1",
                                                 "model.d_minibatch_std=4", "train.g_lr=5e-4", "train.d_lr=5e-4",
                                                 "train.g_betas=[0.5,0.99]", "train.d_betas=[0.5,0.99]")),
    "ac_mod-ls-ttur-mbstd": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.d_lr=4e-4", "model.d_minibatch_std=4")),
    "ac_mod-ls-ttur8": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.d_lr=8e-4")),
    "ac_mod-ls-ttur8-cw0.5": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.d_lr=8e-4", "model.cond_weight=0.5")),
    "ac_mod-ls-fast": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.g_lr=4e-4", "train.d_lr=8e-4")),
    "ac_mod-ls-fast-cw0.5": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.g_lr=4e-4", "train.d_lr=8e-4",
                                               "model.cond_weight=0.5")),
    "ca-ls-wide": ("mnist5k-cagan", ("model.g_width=64", "model.d_width=64")),
    "ac_mod-ls-diffaug": ("mnist5k-cagan", ("model.conditioning=ac_mod", "train.diffaugment=[translation,cutout]")),
    "pd-hinge-sn-diffaug": ("mnist5k-cagan", ("model.conditioning=pd", "loss.adversarial=hinge",
                                              "model.d_spectral_norm=true", "model.g_conditioning=cbn",
                                              "train.g_betas=[0,0.9]", "train.d_betas=[0,0.9]",
                                              "train.diffaugment=[translation,cutout]")),
}
COLUMNS = [("fid", "FID"), ("intra_fid", "intra-FID"), ("conditional_accuracy", "cond. acc."),
           ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage")]
METRICS = ("fid", "intra_fid", "conditional_accuracy", "prdc")
REAL = "real train split scored as fakes"


def real_data_row(spec, args) -> dict:
    """`condgan evaluate --baseline`: real train images scored as fakes against the test split."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        cmd = [sys.executable, "-m", "condgan.cli.main", "evaluate", "--baseline", "--data", spec.group,
               "--num-samples", str(args.num_samples), "--metrics", ",".join(METRICS), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"condgan evaluate --baseline failed:\n{proc.stderr[-2000:]}")
        return json.loads(out.read_text())["metrics"]


def settings(args) -> list[Setting]:
    return [Setting(REAL, compute=real_data_row, overrides=(f"num_samples={args.num_samples}",), seeds="none")] + [
        Setting(name, preset, overrides) for name, (preset, overrides) in CONFIGS.items()]


def report(ctx) -> list[str]:
    r = ctx.results
    rows = ["| configuration | seeds | train s | " + " | ".join(c for _, c in COLUMNS) + " |",
            "|" + "---|" * (len(COLUMNS) + 3)]
    grids = []
    for ds in r.groups():
        if r.select(REAL, ds):
            rows.append(f"| **{REAL}** | – | – | " + " | ".join(mean_sd(r.values(REAL, k, ds)) for k, _ in COLUMNS) + " |")
        configs = [s for s in r.settings(ds) if s != REAL]
        fid = {s: (sum(v) / len(v) if (v := r.values(s, "fid", ds)) else float("inf")) for s in configs}
        for s in sorted(configs, key=fid.get):
            recs = r.select(s, ds)
            wall = [x["wall_s"] for x in recs if x.get("wall_s") is not None]
            rows.append(f"| {s} | {len(recs)} | {mean_sd(wall, 0)} | "
                        + " | ".join(mean_sd(r.values(s, k, ds)) for k, _ in COLUMNS) + " |")
            png = ctx.figure(f"{s}.png")
            d = ctx.run_dir(recs[0])
            if d is not None and (d / "samples" / "latest.png").exists():
                shutil.copyfile(d / "samples" / "latest.png", png)
            if png.exists():
                grids.append(f"- {s}: ![]({png.name})")
    return [f"{', '.join(r.groups())}, {ctx.args.steps} generator steps, {ctx.args.num_samples} class-balanced fakes, "
            "domain features, test split; sorted by FID (mean ± std over seeds). `train s`: wall time of the "
            "training, with the machine shared: it compares nothing.\n", "\n".join(rows), "",
            "Sample grids (first seed, one row per class):\n", "\n".join(grids), ""]


def add_arguments(ap) -> None:
    ap.add_argument("--data", dest="datasets", nargs="+", help="alias of --datasets")
    ap.add_argument("--configs", dest="settings", nargs="+", choices=list(CONFIGS), help="alias of --settings")
    ap.add_argument("--table", dest="doc", help="alias of --doc: the document's name")


STUDY = Study(
    name="quality", title="Sample quality per CPU-minute", settings=settings, steps=2000, seeds=(0,),
    datasets=("mnist5k",), overrides=("train.sample_every=0",),
    evaluation=Evaluation(METRICS, num_samples=5000, real_split="test"), report=report,
    add_arguments=add_arguments, doc="sweep", description=__doc__)

if __name__ == "__main__":
    run_main(STUDY)
