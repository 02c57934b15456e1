"""KID on domain-classifier features, checked on a trained run (docs/results/kid/README.md):

    python experiments/kid_check.py RUN [--num-samples 5000]

For the run's generator (N fakes, evaluation seed 0) and for the real-data row (the held-out
split), against the default reference, it prints KID with raw features (the old default) and
whitened by the reference (the evaluator's default for the domain classifier), and checks the
whitened KID against torchmetrics' KernelInceptionDistance on the same whitened features:
exactly on equal-size whole sets, and within the spread over 100 random subsets (the two draw
their subsets with different generators)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def torchmetrics_kid(real, fake, subsets, subset_size):
    from torchmetrics.image.kid import KernelInceptionDistance

    # the inputs already are the features: an identity "extractor"
    tm = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=subsets, subset_size=subset_size)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    mean, std = tm.compute()
    return float(mean), float(std)


def main() -> None:
    from condgan.evaluation import Evaluator
    from condgan.evaluation.reference import held_out_images
    from condgan.features import extract
    from condgan.metrics import METRICS, MetricInputs
    from condgan.metrics.kid import whitening
    from condgan.training.restore import load_generator
    from condgan.training.trainer import evaluation_classes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--num-samples", type=int, default=5000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save")
    torch.set_num_threads(1)
    torch.manual_seed(0)  # torchmetrics draws its subsets from the global generator

    trained = load_generator(args.run)
    ev = Evaluator(trained.cfg.data, evaluation_classes(trained.cfg, trained.info), "domain", args.num_samples,
                   ["kid"], seed=0)
    fake = ev.generate_features(trained.generator, trained.cfg.model.z_dim)[0]
    images, _, info = held_out_images(trained.cfg.data, ev.real, args.num_samples, ev.seed)
    rows = {"generator": fake, f"real-data row ({info['images']} {info['held_out_split']} images)":
            extract(ev.extractor, images)["features"]}
    real = ev.real.features[ev.balanced]
    print(f"reference: {len(real)} {ev.real.split} images ({ev.real_split_rule}); extractor {ev.extractor.id}\n")
    print("| set | KID raw features | KID whitened | torchmetrics, whitened, 100 subsets | "
          "whole equal-size sets: ours / torchmetrics |")
    print("|---|---|---|---|---|")
    results = {}
    for name, features in rows.items():
        inputs = MetricInputs(real_features=real, fake_features=features)
        raw = METRICS.get("kid")(inputs)
        white = METRICS.get("kid")(inputs, feature_scale="whiten")
        results[name] = white
        transform = whitening(real, "whiten")
        tm_mean, tm_std = torchmetrics_kid(transform(real), transform(features), 100, int(white["kid_subset_size"]))
        n = min(len(real), len(features))
        whole = METRICS.get("kid")(MetricInputs(real_features=real[:n], fake_features=features[:n]), subsets=1,
                                   subset_size=n, max_subset_fraction=1.0, feature_scale="whiten",
                                   kernel_dtype="float64")
        transform_n = whitening(real[:n], "whiten")
        tm_whole = torchmetrics_kid(transform_n(real[:n]), transform_n(features[:n]), 1, n)[0]
        print(f"| {name} | {raw['kid']:.4g} ± {raw['kid_std']:.3g} (m={raw['kid_subset_size']:.0f}) | "
              f"{white['kid']:.4g} ± {white['kid_std']:.2g} (m={white['kid_subset_size']:.0f}) | "
              f"{tm_mean:.4g} ± {tm_std:.2g} | {whole['kid']:.7g} / {tm_whole:.7g} (n={n}) |")
    (gan, base) = results.values()
    gap = gan["kid"] - base["kid"]
    print(f"\nseparation (whitened): gap {gap:.4g} = {gap / max(gan['kid_std'], base['kid_std']):.1f} × the larger "
          f"std, {gap / (gan['kid_std'] ** 2 + base['kid_std'] ** 2) ** 0.5:.1f} × the combined std")


if __name__ == "__main__":
    main()
