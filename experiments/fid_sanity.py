"""Real-vs-real sanity check of the evaluator: with domain features, FID between the train and
test splits of a data set must be far below FID between the train split and the samples of an
untrained (step-0) generator.

    python experiments/fid_sanity.py [--preset fashion-mnist-pd] [--n 10000] [--seed 0]

Result: docs/results/fid_sanity/README.md (record in runs/).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runner import Setting, Study, run_main


def fid_pair(spec, args) -> dict:
    """FID(train, test) and FID(train, step-0 generator fakes), n images each, domain features."""
    import torch

    from condgan.validation import load_config
    from condgan.data import load_dataset
    from condgan.features import build_extractor, extract
    from condgan.metrics import GaussianStats
    from condgan.metrics.fid import fid_between
    from condgan.training.build import DataInfo, build_gan
    from condgan.training.sampling import condition_vectors

    params = dict(p.split("=", 1) for p in spec.overrides)
    n, preset = int(params["n"]), params["preset"]
    cfg = load_config(preset, [f"seed={spec.seed}"])
    extractor = build_extractor("domain", cfg.data, seed=0)
    train, test = load_dataset(cfg.data, "train"), load_dataset(cfg.data, "test")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]
    f_train = extract(extractor, train.images[pick], keys=["features"])["features"]
    f_test = extract(extractor, test.images[:n], keys=["features"])["features"]
    torch.manual_seed(cfg.seed)
    g = build_gan(cfg, DataInfo.of(train), torch.device("cpu")).generator.eval()
    gen = torch.Generator().manual_seed(spec.seed)
    y = torch.arange(n) % train.num_classes
    with torch.no_grad():
        fakes = torch.cat([g(torch.randn(len(c), cfg.model.z_dim, generator=gen),
                             condition_vectors(c.tolist(), train.num_classes, "cpu")) for c in y.split(500)])
    f_fake = extract(extractor, fakes, keys=["features"])["features"]
    s_train, s_test, s_fake = map(GaussianStats.of, (f_train, f_test, f_fake))
    return {"fid_train_vs_test": fid_between(s_train, s_test), "fid_train_vs_untrained": fid_between(s_train, s_fake),
            "n_train": n, "n_test": len(f_test), "extractor": extractor.id,
            "extractor_test_accuracy": extractor.test_accuracy, "feature_dims": extractor.num_features,
            "data": cfg.data.name}


def report(ctx) -> list[str]:
    rec = ctx.results.records[0]
    m, p = rec["metrics"], dict(x.split("=", 1) for x in rec["params"])
    rr, rf = m["fid_train_vs_test"], m["fid_train_vs_untrained"]
    return [f"Extractor: `{m['extractor']}` (domain classifier, test accuracy {m['extractor_test_accuracy']:.4f}), "
            f"{m['feature_dims']}-d features. Data set `{m['data']}`; {rec['wall_s']:.0f} s wall.\n",
            "| pair | n | FID |", "|---|---|---|",
            f"| train vs test (real vs real) | {m['n_train']} vs {m['n_test']} | {rr:.3f} |",
            f"| train vs step-0 generator of `{p['preset']}` (seed {rec['seed']}) | {m['n_train']} vs {m['n_train']} "
            f"| {rf:.3f} |", "",
            f"Ratio: {rf / max(rr, 1e-12):.0f}×. One measurement (one seed), not a comparison over seeds: real-vs-real "
            "FID is small but not zero (two finite samples of one distribution); an untrained generator is far "
            "away.\n"]


class _Out(argparse.Action):
    """--out PATH.md: the document's folder and name."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.docs, namespace.doc = str(Path(value).parent), Path(value).stem


def add_arguments(ap) -> None:
    ap.add_argument("--preset", default="fashion-mnist-pd")
    ap.add_argument("--n", type=int, default=10000, help="real images per split, fakes")
    ap.add_argument("--seed", dest="seeds", type=lambda s: [int(s)], help="the generator's seed (alias of --seeds)")
    ap.add_argument("--out", action=_Out, help="the document (default docs/results/fid_sanity/README.md)")


STUDY = Study(
    name="fid_sanity", title="FID sanity check: real vs real and real vs untrained generator",
    settings=lambda args: [Setting("fid pair", compute=fid_pair, overrides=(f"preset={args.preset}", f"n={args.n}"))],
    steps=0, seeds=(0,), report=report, add_arguments=add_arguments, doc="README", description=__doc__)

if __name__ == "__main__":
    run_main(STUDY)
