"""Limited data: {DCGAN, ResNet, StyleGAN2} × {nothing, DiffAugment, ADA, ADA + LeCam, APA} on
Fashion-MNIST training subsets of 500, 2,000 and all (60,000) images, at least 3 seeds.

Each net keeps its own training setup (all with the projection discriminator, 28 px, batch 64,
the same number of generator steps): `dcgan` and `resnet` are the SNGAN-style preset
`fashion-mnist-pd` (hinge, spectral norm, 2 D steps; ResNet at widths 16), `stylegan2` is the
preset `fashion-mnist-stylegan2` (non-saturating loss, lazy R1, style mixing, path length). The
methods add, on top of that:

    none         nothing
    diffaugment  train.diffaugment=[color, translation, cutout] (Zhao et al. 2020)
    ada          ada.target=0.6 (bgc pipeline), ada.kimg=100: p can rise from 0 to 1 in
                 100k real images (~1,560 steps), which a run of a few thousand steps needs
    ada+lecam    ADA and reg.lecam=0.3 (the LeCam paper's BigGAN weight)
    apa          apa.target=0.6, apa.kimg=100

`data.train_images=N` keeps N training images with the class balance (deterministic by
data.split_seed, the same subset for every seed and net); evaluation is against the full test
split (10,000 images, the shipped Fashion-MNIST domain classifier at 28 px) in every case.
Scored: FID, precision / recall (PRDC) and conditional accuracy of the final EMA generator on
2,000 fakes. Kept series: ADA's and APA's p and r_t (the p curves are plotted).

    python experiments/limited_data.py --list
    python experiments/limited_data.py --seeds 0 1 2 --workers 2
    python experiments/limited_data.py --nets stylegan2 --sizes 500 --seeds 0 1 2   # a slice

Claims tested (FID, per net): every method beats nothing at 500 and at 2,000 images; LeCam adds
to ADA at 500; ADA beats nothing with all images (Karras et al. 2020 report a small gain or none
there, so "inconclusive" is the expected verdict).
"""

from __future__ import annotations

from report import metrics_table, plot_series
from runner import Baseline, Claim, Evaluation, Setting, Study, run_main

NETS = {
    "dcgan": ("fashion-mnist-pd", ()),
    "resnet": ("fashion-mnist-pd", ("model.net=resnet", "model.g_width=16", "model.d_width=16")),
    "stylegan2": ("fashion-mnist-stylegan2", ()),
}
METHODS = {
    "none": (),
    "diffaugment": ("train.diffaugment=[color,translation,cutout]",),
    "ada": ("ada.target=0.6", "ada.kimg=100"),
    "ada+lecam": ("ada.target=0.6", "ada.kimg=100", "reg.lecam=0.3"),
    "apa": ("apa.target=0.6", "apa.kimg=100"),
}
SIZES = {"500": 500, "2000": 2000, "all": None}
METRICS = ("fid", "precision", "recall", "conditional_accuracy")


def label(net: str, method: str, size: str) -> str:
    return f"{net}, {method}, {size}"


def settings(args) -> list[Setting]:
    out = []
    for net in args.nets:
        preset, net_overrides = NETS[net]
        for size in args.sizes:
            for method in args.methods:
                data = (f"data.train_images={SIZES[size]}",) if SIZES[size] else ()
                out.append(Setting(label(net, method, size), preset, data + net_overrides + METHODS[method]))
    return out


def claims() -> tuple[Claim, ...]:
    out = []
    for net in NETS:
        for size in ("500", "2000"):
            for method in ("diffaugment", "ada", "ada+lecam", "apa"):
                out.append(Claim(f"{net}, {size} images: {method} lowers FID", "fid", label(net, method, size),
                                 label(net, "none", size), "lower", source="ADA §4 / DiffAugment §4 / APA §4"))
        out.append(Claim(f"{net}, 500 images: LeCam lowers FID on top of ADA", "fid", label(net, "ada+lecam", "500"),
                         label(net, "ada", "500"), "lower", source="LeCam Table 3"))
        out.append(Claim(f"{net}, all images: ADA lowers FID", "fid", label(net, "ada", "all"),
                         label(net, "none", "all"), "lower", source="ADA Fig. 4"))
    return tuple(out)


def report(ctx) -> list[str]:
    out = []
    nets = [n for n in NETS if any(r["setting"].startswith(n + ",") for r in ctx.results.records)]
    for size in SIZES:
        rows = [s for s in ctx.results.settings() if s.endswith(f", {size}")]
        if not rows:
            continue
        name = "all 60,000" if size == "all" else f"{int(size):,}"
        out += [f"### {name} training images\n",
                f"Final EMA generators, {ctx.args.num_samples} fakes, domain features, full test split; mean ± std "
                "over seeds. FID: lower is better; precision, recall, conditional accuracy: higher.\n",
                metrics_table(ctx.results, None, list(METRICS), rows), ""]
        for key, what in (("ada_p", "ADA"), ("apa_p", "APA")):
            curves = [s for s in rows if ctx.results.series(s, key) and any(ctx.results.series(s, key))]
            png = ctx.figure(f"{key}_{size}.png")
            if curves and plot_series(ctx.results, None, key, png, f"{what}'s p over training, {name} images "
                                      f"(mean ± std over seeds)", curves, ylabel="p"):
                out += [f"![{what} p, {name} images]({png.name})", ""]
    if nets:
        out += [f"Nets in these tables: {', '.join(nets)}.", ""]
    return out


def add_arguments(ap) -> None:
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))


STUDY = Study(
    name="limited_data", title="Limited data: ADA, APA, LeCam and DiffAugment on Fashion-MNIST subsets",
    settings=settings, steps=3000, seeds=(0, 1, 2),
    overrides=("data.image_size=28", "train.checkpoint_every=500", "train.sample_every=0", "train.log_every=50"),
    evaluation=Evaluation(("fid", "prdc", "conditional_accuracy"), num_samples=2000, real_split="test"),
    series=("ada_p", "apa_p", "ada_rt", "apa_rt"), claims=claims(), report=report, add_arguments=add_arguments,
    baseline=Baseline(label("stylegan2", "none", "all"), ("fid", "conditional_accuracy"),
                      learned_metric="conditional_accuracy", at_least=0.7),
    description=__doc__)

if __name__ == "__main__":
    run_main(STUDY)
