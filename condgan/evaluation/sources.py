"""The three things `condgan evaluate` scores, each returned as the dict it writes to eval.json:
a trained run's generator (`evaluate_run`), an external generator's images (`evaluate_fakes`),
and held-out real data, the real-data row (`evaluate_baseline`). All three use one `Evaluator`:
the same extractor, real reference and metrics (docs/evaluation.md)."""

from __future__ import annotations

import dataclasses
import time

import torch

from condgan.arguments import check_count
from condgan.errors import CondganError
from condgan.evaluation.evaluator import BATCH, EvalResult, Evaluator, check_metric_names
from condgan.evaluation.reference import held_out_images, reference_data_config
from condgan.evaluation.threads import with_evaluation_threads
from condgan.metrics import MetricInputs, compute_metrics


def eval_json_common(ev: Evaluator, result: EvalResult, t0: float) -> dict:
    """The fields every eval.json has: seeds, sizes, the reference and the metrics."""
    return {
        "eval_seed": ev.seed,
        "num_samples": result.num_fakes,
        "extractor": ev.extractor.id,
        "extractor_test_accuracy": getattr(ev.extractor, "test_accuracy", None),
        "extractor_sha256": getattr(ev.extractor, "weights_sha256", None),
        "real_split": ev.real.split,
        "real_split_rule": ev.real_split_rule,
        "real_samples": len(ev.balanced),
        "real_split_samples": len(ev.real),
        "metric_options": ev.metric_options,
        "metrics": result.metrics,
        "skipped_metrics": result.skipped,
        "intra_fid_flagged_classes": {str(y): {"real": r, "fake": f} for y, (r, f) in result.intra_fid_flagged.items()},
        "notes": result.notes,
        "seconds": round(time.perf_counter() - t0, 2),
    }


@with_evaluation_threads
def evaluate_run(run_dir, num_samples: int = 1000, metrics=None, extractor: str = "domain",
                 seed: int = 0, use_ema: bool = True, checkpoint: str = "last", device: str = "cpu",
                 cache_dir=None, extractor_options: dict | None = None, real_split: str = "auto",
                 standing_stats: int | None = None, category_prior: str = "learned") -> dict:
    """Everything `condgan evaluate` writes: metrics plus what is needed to reproduce them.
    `category_prior`: where a self-labeling run's fakes take their categories from (`learned`:
    the run's learned prior P(C), as in training; `uniform`; see `load_generator`)."""
    from condgan.training.restore import load_generator
    from condgan.training.labeling import evaluation_classes

    check_count(num_samples, "--num-samples")
    metrics = check_metric_names(metrics, "metrics")
    trained = load_generator(run_dir, use_ema=use_ema, checkpoint=checkpoint, device=device,
                             standing_stats=standing_stats, category_prior=category_prior)
    if len(trained.info.sample_shape) != 3:
        raise CondganError(f"run '{run_dir}' generates vector data; evaluation needs images")
    t0 = time.perf_counter()
    clusters = trained.category_predictor is not None and (metrics is None or "clustering" in metrics)
    if clusters and metrics is not None:
        metrics = [m for m in metrics if m != "clustering"]  # computed below, on the real split
    ev = Evaluator(trained.cfg.data, evaluation_classes(trained.cfg, trained.info),
                   extractor, num_samples, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    why = (f"the run's {trained.num_categories} categories are found without labels, not the data's classes "
           f"(fakes request categories {category_requests(trained)})" if trained.num_categories else None)
    result = ev.evaluate(trained.generator, trained.cfg.model.z_dim, why)
    if clusters:  # on labeled held-out data (the test split) unless a split is named
        result.metrics.update(cluster_real_split(trained, "test" if real_split == "auto" else real_split, device))
    return {
        "run": str(run_dir),
        "step": trained.step,
        "checkpoint": checkpoint,
        "generator": "ema" if trained.ema else "raw",
        "standing_stats": trained.cfg.train.standing_stats if standing_stats is None else standing_stats,
        **({"category_prior": category_prior} if trained.num_categories else {}),
        "train_seed": trained.cfg.seed,
        **eval_json_common(ev, result, t0),
    }


def category_requests(trained) -> str:
    """How a self-labeling run's fakes were given their categories (for the evaluation notes)."""
    return ("drawn from the run's learned prior P(C)" if getattr(trained.generator, "prior", None) is not None
            else "equally often")


@torch.no_grad()
def cluster_real_split(trained, split: str, device) -> dict[str, float]:
    """Clustering ACC (Hungarian) / NMI / ARI of the run's category predictor on every image of
    the real split against its labels: how well the categories the run found match the classes."""
    from condgan.data import load_dataset

    data = load_dataset(reference_data_config(trained.cfg.data), split)
    if data.labels is None or data.multi_label:
        return {}
    predicted = torch.cat([trained.category_predictor(data.images[i:i + BATCH].to(device)).cpu()
                           for i in range(0, len(data), BATCH)])
    return compute_metrics(MetricInputs(predicted_clusters=predicted, real_labels=data.labels), ["clustering"])


def evaluate_fakes(path, data_cfg, num_samples: int | None = None, metrics=None,
                   extractor: str = "domain", seed: int = 0, device: str = "cpu", cache_dir=None,
                   extractor_options: dict | None = None, real_split: str = "auto") -> dict:
    """Score an external generator's images (a folder or .npz, see condgan.evaluation.fakes)
    with the same extractor, real reference and metrics as a run. num_samples None: all images;
    else a seeded random subset of about that many, drawn per class (labeled fakes keep their
    class mix; rounding per class can move the total by a few) over the images in canonical
    order, so the subset does not depend on the order they were stored in."""
    from condgan.data.common import stratified_indices
    from condgan.evaluation.fakes import load_fakes
    from condgan.metrics.base import canonical_order

    if num_samples is not None:
        check_count(num_samples, "--num-samples")
    t0 = time.perf_counter()
    ev = Evaluator(data_cfg, 0, extractor, 1, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    images, labels = load_fakes(path, ev.real.sample_shape, ev.real.class_names, ev.multi_label)
    order = canonical_order(images, *([labels] if labels is not None else []))
    images, labels = images[order], (labels[order] if labels is not None else None)
    notes = []
    if num_samples is not None and num_samples < len(images):
        # per class (round(n/N · class count)), so the subset keeps the fakes' class mix
        groups = labels if labels is not None and labels.dim() == 1 else None
        idx = stratified_indices(groups, len(images), [num_samples / len(images)], seed)[0]
        images, labels = images[idx], (labels[idx] if labels is not None else None)
    elif num_samples is not None and num_samples > len(images):
        notes.append(f"--num-samples {num_samples} asked for, but '{path}' holds only {len(images)} images")
    if labels is not None and labels.dim() == 1 and ev.single_label:
        counts = torch.bincount(labels, minlength=len(ev.real.class_names))
        if int(counts.max()) != int(counts.min()):
            notes.append(f"the fakes' classes are not balanced ({counts.tolist()}); the real reference and "
                         "AM Score's C̄_train are uniform over classes")
    result = ev.evaluate_images(images, labels, "the fakes have no class labels (flat folder / no 'labels' in the .npz)")
    result.notes[:0] = notes
    return {"run": str(path), "step": None, "checkpoint": None, "generator": "external",
            "data": dataclasses.asdict(data_cfg), "train_seed": None, **eval_json_common(ev, result, t0)}


def evaluate_baseline(data_cfg, num_samples: int = 1000, metrics=None, extractor: str = "domain",
                      seed: int = 0, device: str = "cpu", cache_dir=None, extractor_options: dict | None = None,
                      real_split: str = "auto") -> dict:
    """The real-data row: what a perfect generator scores with these features. Images of the
    split that is not the reference (held out from it), class-balanced, scored as fakes against
    the same reference a run is scored against (see `held_out_images`). eval.json's `baseline`
    says which images, and why there are fewer than `num_samples` when the held-out split is
    smaller."""
    check_count(num_samples, "--num-samples")
    t0 = time.perf_counter()
    ev = Evaluator(data_cfg, 0, extractor, 1, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    images, labels, info = held_out_images(data_cfg, ev.real, num_samples, ev.seed)
    result = ev.evaluate_images(images, labels)
    per = f" ({info['per_class']} per class)" if info["per_class"] else ""
    result.notes.insert(0, f"baseline: {info['images']} real {info['held_out_split']} images{per} scored as "
                           f"fakes against the {ev.real.split} reference")
    if "why_fewer" in info:
        result.notes.insert(1, f"baseline: {info['images']} fakes, not the {num_samples} asked for: {info['why_fewer']}")
    return {"run": f"baseline:{data_cfg.name}", "step": None, "checkpoint": None, "generator": "real-data",
            "data": dataclasses.asdict(data_cfg), "train_seed": None, "baseline": info,
            **eval_json_common(ev, result, t0)}
