"""Reproduce seed 000 (Cho, "Training Classifier Gradient Penalty GAN with Codebook Architecture")
at CPU scale with condgan: labels hidden from training (`data.unlabeled=true`), d_c = 10.

Settings, on MNIST-5k and Fashion-MNIST, several seeds, the same step budget for all:
  cgpgan             CGPGAN, concat generator input          (preset mnist5k-cgpgan)
  cgpgan+codebook    CGPGAN with the codebook input          (mnist5k-cgpgan-codebook)
  vanilla+codebook   unconditional D, codebook G, uniform categories (mnist5k-vanilla-codebook)
  infogan            InfoGAN, 10 categories + 2 continuous codes (mnist5k-infogan)
  ca (labeled)       a `ca` GAN trained WITH labels: the upper reference for FID / precision /
                     recall (it has no category predictor)
(the Fashion-MNIST runs use the same presets with `data.name=fashion-mnist`). Every final EMA
generator is scored with FID, precision and recall (domain features, class-balanced categories)
and the category predictor with clustering ACC (Hungarian) / NMI / ARI on the test split.

Baselines for clustering (k = 10, same test split): k-means on raw pixels, and k-means on the
32-d codes of a small convolutional autoencoder trained in this driver WITHOUT labels on the
train split (`--ae-epochs`, at most 10,000 images) — the domain classifier saw the labels, so its
features would leak them. k-means: scikit-learn's KMeans (n_init=10, seeded per seed).

Also: P(C) over training with and without the prior warm-up (CGPGAN, MNIST-5k, logged every
log interval as prior_g0_<c>) and the d_l = d_c = 4 sample figures of seed 000 Figs. 2–3 for
CGPGAN without / with codebook (seed 0).

    python experiments/seed000.py --datasets mnist5k fashion-mnist --seeds 0 1 2

Claims tested (verdicts from the mean over seeds):
  * the codebook raises precision and lowers recall (CGPGAN with vs without codebook);
  * the vanilla GAN with codebook collapses (recall ≈ 0: below 0.05);
  * CGPGAN with codebook clusters at least as well as without (ACC).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from common import (ROOT, add_run_arguments, final_metrics, log_series, publish_tables,  # noqa: E402
                    mean_of, metrics_table, run_all, verdict)

SETTINGS = {  # label → (preset, extra overrides)
    "cgpgan": ("mnist5k-cgpgan", []),
    "cgpgan+codebook": ("mnist5k-cgpgan-codebook", []),
    "vanilla+codebook": ("mnist5k-vanilla-codebook", []),
    "infogan": ("mnist5k-infogan", []),
    "ca (labeled)": ("mnist5k-cagan", []),
}
METRICS = ["fid", "prdc", "clustering"]
TABLE_KEYS = ["fid", "precision", "recall", "cluster_acc", "cluster_nmi", "cluster_ari"]
DEFAULT_STEPS = 2000
COLLAPSE_RECALL = 0.05


# --------------------------------------------------------------------------- k-means baselines
def kmeans_labels(x, k: int, seed: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)


def train_autoencoder(images, epochs: int, seed: int, code_dim: int = 32):
    """A small conv autoencoder (28 → 14 → 7 → code_dim) trained with MSE on unlabeled images;
    returns its encoder."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Conv2d(images.shape[1], 32, 4, 2, 1), nn.LeakyReLU(0.2),
                        nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                        nn.Linear(64 * 7 * 7, code_dim))
    dec = nn.Sequential(nn.Linear(code_dim, 64 * 7 * 7), nn.Unflatten(1, (64, 7, 7)), nn.ReLU(),
                        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                        nn.ConvTranspose2d(32, images.shape[1], 4, 2, 1), nn.Tanh())
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=gen).split(128):
            x = images[idx]
            loss = (dec(enc(x)) - x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return enc.eval()


def kmeans_baselines(ds: str, seeds: list[int], ae_epochs: int) -> dict[str, dict[str, list[float]]]:
    import torch

    from condgan.config import DataConfig
    from condgan.metrics import MetricInputs, compute_metrics

    from condgan.data import load_dataset

    cfg = DataConfig(name=ds, image_size=28)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    out: dict[str, dict[str, list[float]]] = {}

    def score(label, predicted):
        m = compute_metrics(MetricInputs(predicted_clusters=torch.as_tensor(predicted), real_labels=test.labels),
                            ["clustering"])
        for key, v in m.items():
            out.setdefault(label, {}).setdefault(key, []).append(v)

    raw = test.images.flatten(1).numpy()
    for s in seeds:
        score("k-means, raw pixels", kmeans_labels(raw, 10, s))
        gen = torch.Generator().manual_seed(s)
        subset = train.images[torch.randperm(len(train), generator=gen)[:10000]]
        enc = train_autoencoder(subset, ae_epochs, s)
        with torch.no_grad():
            codes = torch.cat([enc(test.images[i:i + 500]) for i in range(0, len(test), 500)]).numpy()
        score(f"k-means, autoencoder codes ({ae_epochs} epochs, no labels)", kmeans_labels(codes, 10, s))
    return out


# --------------------------------------------------------------------------- figures
def plot_prior(groups: dict[str, list[Path]], out_png: Path, d_c: int = 10) -> dict[str, list[float]]:
    """The learned prior P(C) over training, one line per run (colour = group): its largest entry
    and its normalized entropy H(P)/log d_c (1 = uniform). Category indices are arbitrary per run,
    so P(c) itself is not averaged over seeds. Returns each group's final largest P(c) per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_max, ax_h) = plt.subplots(1, 2, figsize=(9, 3.3))
    final: dict[str, list[float]] = {}
    for i, (label, runs) in enumerate(groups.items()):
        for j, r in enumerate(runs):
            per = [dict(log_series(r, f"prior_g0_{c}")) for c in range(d_c)]
            steps = sorted(set.intersection(*(set(p) for p in per)))
            probs = [[p[s] for p in per] for s in steps]
            largest = [max(v) for v in probs]
            entropy = [-sum(x * math.log(x) for x in v if x > 0) / math.log(d_c) for v in probs]
            kw = dict(color=f"C{i}", lw=1, label=label if j == 0 else None)
            ax_max.plot(steps, largest, **kw)
            ax_h.plot(steps, entropy, **kw)
            final.setdefault(label, []).append(largest[-1] if largest else math.nan)
    ax_max.axhline(1 / d_c, color="gray", lw=0.8, ls="--")
    ax_max.set_ylabel("largest P(c)")
    ax_h.set_ylabel("H(P(C)) / log d_c")
    for ax in (ax_max, ax_h):
        ax.set_xlabel("generator step")
    ax_max.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return final


def grids_figure(groups: dict[str, list[Path]], out_png: Path) -> None:
    """The final sample grid (samples/latest.png) of each setting's first seed, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.5), squeeze=False)
    for ax, (label, runs) in zip(axes[0], groups.items()):
        ax.imshow(mpimg.imread(runs[0] / "samples" / "latest.png"), cmap="gray")
        ax.set_title(f"{label} ({runs[0].name})", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110, metadata={"Software": None})
    plt.close(fig)


def sample_figure(run: Path, out_png: Path, log: list[str]) -> None:
    cmd = ["condgan", "sample", os.path.relpath(run, ROOT) if run.is_absolute() else str(run),
           "--num", "8", "--out", os.path.relpath(out_png, ROOT) if out_png.is_absolute() else str(out_png)]
    log.append(" ".join(cmd))
    subprocess.run([sys.executable, "-m", "condgan.cli.main"] + cmd[1:], check=True, cwd=ROOT,
                   capture_output=True, text=True)


# --------------------------------------------------------------------------- verdicts
def claims(values: dict, ds: str) -> list[str]:
    out = []
    a, b = "cgpgan", "cgpgan+codebook"
    if a in values and b in values:
        pa, pb = mean_of(values, a, "precision"), mean_of(values, b, "precision")
        ra, rb = mean_of(values, a, "recall"), mean_of(values, b, "recall")
        out.append(f"- {ds}: the codebook raises precision ({pa:.3f} → {pb:.3f}): {verdict(pb > pa)}")
        out.append(f"- {ds}: the codebook lowers recall ({ra:.3f} → {rb:.3f}): {verdict(rb < ra)}")
        if "cluster_acc" in values[a] and "cluster_acc" in values[b]:
            ca, cb = mean_of(values, a, "cluster_acc"), mean_of(values, b, "cluster_acc")
            out.append(f"- {ds}: CGPGAN with codebook clusters at least as well as without (ACC {ca:.3f} → "
                       f"{cb:.3f}): {verdict(cb >= ca)}")
    if "vanilla+codebook" in values:
        r = mean_of(values, "vanilla+codebook", "recall")
        out.append(f"- {ds}: the vanilla GAN with codebook collapses (recall {r:.3f}; collapse = below {COLLAPSE_RECALL}): "
                   f"{verdict(r < COLLAPSE_RECALL)}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["mnist5k", "fashion-mnist"])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--ae-epochs", type=int, default=5, help="epochs of the k-means baseline's autoencoder")
    ap.add_argument("--settings-only", action="store_true",
                    help="only the --settings table: no prior-schedule runs, no d_l = d_c = 4 figures")
    add_run_arguments(ap, "seed000", num_samples=2000)
    args = ap.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    steps = args.steps or DEFAULT_STEPS
    base = ["train.threads=1", f"train.steps={steps}"] + args.overrides
    t0 = time.time()
    sections, all_log = [], []
    for ds in args.datasets:
        jobs, groups = [], {}
        for label in args.settings:
            preset, extra = SETTINGS[label]
            for s in args.seeds:
                d = runs / f"{ds}-{label.split(' ')[0].replace('+', '-')}-s{s}"
                jobs.append((d, preset, [f"data.name={ds}", f"seed={s}"] + extra + base))
                groups.setdefault(label, []).append(d)
        warm = {}
        if ds == "mnist5k" and "cgpgan" in args.settings and not args.settings_only:  # the prior without warm-up / uniform throughout
            for tag, label, value in [("nowarmup", "cgpgan, no warm-up", 0),
                                      ("uniformprior", "cgpgan, uniform prior throughout", steps)]:
                for s in args.seeds:
                    d = runs / f"{ds}-cgpgan-{tag}-s{s}"
                    jobs.append((d, "mnist5k-cgpgan", [f"data.name={ds}", f"seed={s}"] + base
                                 + [f"model.prior_warmup={value}"]))
                    warm.setdefault(label, []).append(d)
        all_log += run_all(jobs, args.workers)
        values = final_metrics(groups, METRICS, args.num_samples)
        baselines = kmeans_baselines(ds, args.seeds, args.ae_epochs)
        keys = [k for k in TABLE_KEYS if any(k in v for v in values.values())]
        sections += [f"### {ds}\n",
                     f"Labels hidden from training except `ca (labeled)`; {steps} steps; final EMA generators, "
                     f"{args.num_samples} fakes (categories class-balanced), domain features, test split; clustering "
                     f"of the category predictor on every test image; mean ± std over seeds {args.seeds}. "
                     "FID: lower is better; the others: higher.\n",
                     metrics_table(values, keys), "",
                     "k-means baselines (k = 10, test split, same seeds):\n",
                     metrics_table(baselines, ["cluster_acc", "cluster_nmi", "cluster_ari"]), ""]
        if ds == "mnist5k" and "cgpgan" in groups:  # the learned prior (and its schedules, when run)
            from condgan.config import load_config

            warmup = load_config(SETTINGS["cgpgan"][0], base).model.prior_warmup  # the preset's, or --set's
            with_codebook = {f"cgpgan+codebook (warm-up until step {warmup})": groups["cgpgan+codebook"]} \
                if "cgpgan+codebook" in groups else {}
            final = plot_prior({f"cgpgan (warm-up until step {warmup})": groups["cgpgan"], **warm, **with_codebook},
                               docs / "seed000_prior_warmup.png")
            schedules = ", without it, and uniform for the whole run" if warm else ""
            codebook = " (and CGPGAN + codebook with the warm-up)" if with_codebook else ""
            sections += ["The learned prior P(C) over training (one line per seed) with the probability-normalization "
                         f"warm-up until step {warmup}{schedules}{codebook}: ![prior](seed000_prior_warmup.png)\n",
                         "Final largest P(c) per seed: " + "; ".join(
                             f"{k}: {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in final.items()) + "\n"]
            if warm:
                sections += ["CGPGAN with each prior schedule (same protocol as the table above):\n",
                             metrics_table({"cgpgan": values["cgpgan"],
                                            **final_metrics(warm, METRICS, args.num_samples)}, keys), ""]
        grids_figure(groups, docs / f"seed000_samples_{ds}.png")
        sections += [f"Final sample grids, first seed (self-labeled runs: one column per category, one row per latent; "
                     f"`ca (labeled)`: one row per class): ![samples](seed000_samples_{ds}.png)\n"]
        sections += ["Verdicts (computed from the table above):\n", "\n".join(claims(values, ds)), ""]
    if "mnist5k" in args.datasets and not args.settings_only:  # seed 000 Figs. 2–3: d_l = d_c = 4
        figs = {"mnist5k-cgpgan-4x4": "seed000_4x4_cgpgan.png",
                "mnist5k-cgpgan-4x4-codebook": "seed000_4x4_cgpgan_codebook.png"}
        s = args.seeds[0]
        jobs = [(runs / f"{p}-s{s}", p, [f"seed={s}"] + base) for p in figs]
        all_log += run_all(jobs, args.workers)
        for (d, p, _), png in zip(jobs, figs.values()):
            sample_figure(d, docs / png, all_log)
        sections += ["### d_l = d_c = 4 (seed 000 Figs. 2–3), MNIST-5k, seed "
                     f"{s}: columns = categorical vectors (16 of 256, evenly spaced joint indices), rows = latents\n",
                     "| CGPGAN | CGPGAN + codebook |", "|---|---|",
                     "| ![](seed000_4x4_cgpgan.png) | ![](seed000_4x4_cgpgan_codebook.png) |", ""]
    publish_tables(docs / "seed000_tables.md", sections, all_log, t0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
