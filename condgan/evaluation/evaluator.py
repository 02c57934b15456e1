"""Evaluate a generator (or any set of images): fakes and a real reference go through one feature
extractor, then the requested metrics. The protocol (docs/evaluation.md):

* Fakes. A class-conditional generator gets targets `y'_i = i mod K` (every class equally often:
  the requested mix is uniform). A multi-label (attribute) generator gets the attribute vectors
  of train-split images, drawn without replacement by a seeded permutation (repeated when more
  fakes than images are asked for), so the joint attribute distribution is the data's. An
  unconditional generator gets no condition. Latents come from a private generator seeded with
  the evaluation seed. External images (`evaluate_images`) bring their own labels, or none.
* Real reference. The real split (`real_split`, default test) of the data *without*
  `data.class_fractions` (they only shape what the GAN trains on). Pooled metrics (FID, KID,
  PRDC, IS, AM Score, ...) see its class-balanced subset (every class as often as the smallest
  one, fixed seed), so its class mix is the uniform mix requested from G; AM Score's C̄_train is
  that subset's class marginal, i.e. uniform. Per-class metrics (intra-FID) use every real image
  of the class. Intra-FID leaves out ("flags") classes with fewer than F + 1 real images.
* Skipped metrics. A metric is skipped, with the reason in `EvalResult.skipped` / the notes,
  when its inputs do not exist for this run: class metrics for unconditional or multi-label
  generators, and every metric that reads the classifier as the data set's classes
  (`MetricSpec.data_classes`: AM Score, conditional accuracy, class TV, attribute accuracy)
  when the extractor classifies something else (Inception's 1008 ImageNet classes). IS reads
  the extractor's own classes and stays valid with Inception.

Deterministic for a fixed seed and sample count. Memory is bounded: fakes are generated and
extracted batch by batch; only their features / logits (and a capped subset of images for SSIM)
are kept.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import torch

from condgan.errors import CondganError
from condgan.evaluation.reference import (balanced_indices, class_logits, real_reference,
                                          reference_data_config)
from condgan.features import build_extractor, extract
from condgan.metrics import METRICS, MetricInputs, compute_metrics
from condgan.metrics.fid import intra_fid_flagged_classes, intra_fid_min_real
from condgan.training.latents import sample_latents
from condgan.training.sampling import condition_vectors

# What `condgan evaluate` computes by default (clustering needs predicted clusters of a
# self-labeling run; Parzen is "for comparison only").
DEFAULT_METRICS = ("fid", "kid", "is", "am_score", "prdc", "intra_fid", "conditional_accuracy",
                   "class_tv", "intra_ssim")
# Added to the defaults (metrics=None) when the data is multi-label.
MULTI_LABEL_METRICS = ("attribute_accuracy",)
# Metrics that compare fakes of class y with the real images of class y: they get every real
# image of the class, not the class-balanced subset (balance is a property of pooled sets).
PER_CLASS_REAL_METRICS = ("intra_fid",)
SSIM_IMAGES_PER_CLASS = 50
BATCH = 250
ATTRIBUTE_SEED_OFFSET = 1  # attribute-vector draw: its own stream, independent of the latents


@dataclass
class EvalResult:
    metrics: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)
    """metric name → why it was not computed."""
    notes: list[str] = field(default_factory=list)
    intra_fid_flagged: dict[int, tuple[int, int]] = field(default_factory=dict)
    """class → (real, fake) counts of the classes intra-FID left out."""
    num_fakes: int = 0


def check_num_samples(n, what: str = "number of samples") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CondganError(f"{what} must be a positive integer, got {n!r}")
    return n


def extractor_classes(extractor) -> tuple[list[str] | None, bool]:
    """(class names, multi_label) the extractor's classifier was trained on, when it declares
    them (the domain classifier does); (None, False) for a classifier of foreign classes."""
    info = getattr(extractor, "info", None)
    if isinstance(info, dict) and info.get("class_names") is not None:
        return list(info["class_names"]), bool(info.get("multi_label", False))
    return None, False


class Evaluator:
    """Scores generators / image sets against one cached real reference (see module docstring).

    num_classes: K for a class-conditional generator of single-label data; 0 for an
    unconditional generator *or* a multi-label run (whether the data is multi-label is read from
    the data, and the generator then gets attribute vectors). `num_samples` ≥ 1 fakes.
    metrics None: DEFAULT_METRICS, plus MULTI_LABEL_METRICS for multi-label data.
    """

    def __init__(self, data_cfg, num_classes: int, extractor: str = "domain", num_samples: int = 1000,
                 metrics=DEFAULT_METRICS, seed: int = 0, device="cpu", real_split: str = "test",
                 cache_dir=None, extractor_options: dict | None = None):
        for name in metrics or ():
            METRICS.get(name)
        self.num_samples = check_num_samples(num_samples, "the number of evaluation samples (--num-samples / eval.num_samples)")
        self.seed = seed
        self.device = torch.device(device)
        self.data_cfg = data_cfg
        ref_cfg = reference_data_config(data_cfg)
        # The extractor trains with the global RNG when it is not cached yet; fork so that a
        # training run evaluating periodically stays bit-identical to one that does not.
        # The classifier is trained on all data of the run's classes (class_fractions removed):
        # trained on the imbalanced set it would be biased towards the frequent class.
        with torch.random.fork_rng(devices=[]):
            self.extractor = build_extractor(extractor, ref_cfg, seed=0, device=self.device,
                                             cache_dir=cache_dir, **(extractor_options or {}))
        self.real = real_reference(ref_cfg, self.extractor, real_split, cache_dir=cache_dir)
        self.multi_label = self.real.multi_label
        self.metrics = (list(metrics) if metrics is not None else
                        list(DEFAULT_METRICS) + (list(MULTI_LABEL_METRICS) if self.multi_label else []))
        self.num_classes = len(self.real.class_names) if self.multi_label else num_classes
        self.single_label = self.real.labels is not None and not self.multi_label
        self.notes_init: list[str] = []
        if self.single_label:
            k = len(self.real.class_names)
            self.balanced = balanced_indices(self.real.labels, k)
            counts = torch.bincount(self.real.labels, minlength=k)
            missing = [self.real.class_names[y] for y in range(k) if counts[y] == 0]
            if missing:
                self.notes_init.append(f"real reference: the {real_split} split has no image of class(es) "
                                       f"{', '.join(missing)}; the balanced reference leaves them out")
            if len(self.balanced) < len(self.real):
                self.notes_init.append(
                    f"real reference: class-balanced subset of {len(self.balanced)} of the {len(self.real)} "
                    f"{real_split} images ({int(counts[counts > 0].min())} per class, the smallest class)")
        else:
            self.balanced = torch.arange(len(self.real))
        names, ext_multi = extractor_classes(self.extractor)
        self.data_classes_ok = names is not None and names == self.real.class_names and ext_multi == self.multi_label
        # A multi-label classifier's logits are independent attributes, not a class distribution.
        self.class_probs_ok = not ext_multi
        self._attribute_targets = None

    # ------------------------------------------------------------------ fakes
    def targets(self) -> torch.Tensor | None:
        """Class targets y'_i = i mod K of a class-conditional generator (None otherwise)."""
        if not self.num_classes or self.multi_label:
            return None
        return torch.arange(self.num_samples) % self.num_classes

    @property
    def attribute_targets(self) -> torch.Tensor | None:
        """Multi-label data: num_samples attribute vectors of train-split images (the data the
        run trained on), drawn once; None otherwise."""
        if self.multi_label and self._attribute_targets is None:
            self._attribute_targets = self._draw_attributes()
        return self._attribute_targets

    def _draw_attributes(self) -> torch.Tensor:
        from condgan.data import load_dataset

        bank = load_dataset(self.data_cfg, "train").labels.float()
        gen = torch.Generator().manual_seed(self.seed + ATTRIBUTE_SEED_OFFSET)
        reps = -(-self.num_samples // len(bank))
        order = torch.cat([torch.randperm(len(bank), generator=gen) for _ in range(reps)])
        return bank[order[: self.num_samples]]

    def _conditions(self, start: int, n: int, y: torch.Tensor | None) -> torch.Tensor | None:
        if self.attribute_targets is not None:
            return self.attribute_targets[start:start + n].to(self.device)
        if y is not None:
            return condition_vectors(y[start:start + n].tolist(), self.num_classes, self.device)
        return None

    @torch.no_grad()
    def generate_features(self, generator: torch.nn.Module, z_dim: int):
        """(features, logits, class targets or None, kept images) of num_samples fakes."""
        gen = torch.Generator().manual_seed(self.seed)
        y = self.targets()
        feats, logits, keep = [], [], []
        ssim_cap = SSIM_IMAGES_PER_CLASS * max(self.num_classes, 1)
        was_training = generator.training
        generator.eval()
        self.extractor.eval()
        try:
            for start in range(0, self.num_samples, BATCH):
                n = min(BATCH, self.num_samples - start)
                z = sample_latents(n, z_dim, gen, device=self.device)
                x = generator(z, self._conditions(start, n, y))
                out = self.extractor(x)
                feats.append(out["features"].float().cpu())
                logits.append(class_logits(out).float().cpu())
                if start < ssim_cap:
                    keep.append(x[: max(0, min(n, ssim_cap - start))].cpu())
        finally:
            generator.train(was_training)
        return torch.cat(feats), torch.cat(logits), y, torch.cat(keep)

    # ------------------------------------------------------------------ scoring
    def evaluate(self, generator: torch.nn.Module, z_dim: int, why_unlabeled: str | None = None) -> EvalResult:
        """`why_unlabeled`: the reason given for skipped class metrics when the generator is not
        asked for the data's classes (default: it is unconditional / multi-label)."""
        feats, logits, y, images = self.generate_features(generator, z_dim)
        requested = (torch.full((self.num_classes,), 1.0 / self.num_classes)
                     if y is not None and self.single_label else None)
        why_unlabeled = why_unlabeled or (
            "the run is multi-label: fakes are conditioned on attribute vectors, not classes"
            if self.multi_label else "the generator is unconditional")
        return self._score(feats, logits, y, images, self.attribute_targets, requested, why_unlabeled)

    def __call__(self, generator: torch.nn.Module, z_dim: int) -> dict[str, float]:
        """Metrics only (what the trainer logs); `evaluate` also returns the notes."""
        return self.evaluate(generator, z_dim).metrics

    @torch.no_grad()
    def evaluate_images(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                        why_unlabeled: str = "the fakes have no labels") -> EvalResult:
        """Score given images (N×C×H×W in [−1, 1]) as fakes; labels are (N,) class indices or,
        for multi-label data, (N, M) attribute vectors (or None)."""
        out = extract(self.extractor, images, BATCH)
        classes = labels if labels is not None and labels.dim() == 1 and self.single_label else None
        attributes = labels.float() if labels is not None and labels.dim() == 2 and self.multi_label else None
        return self._score(out["features"], class_logits(out), classes, images, attributes, None, why_unlabeled)

    def _score(self, fake_features, fake_logits, fake_labels, fake_images, fake_attributes,
               requested, why_unlabeled) -> EvalResult:
        real_idx = self.balanced
        real_labels = self.real.labels[real_idx] if self.single_label else None
        labeled = fake_labels is not None and self.single_label
        prior = None
        if self.single_label and self.data_classes_ok:
            # C̄_train of AM Score = the (balanced, hence uniform) reference's class marginal
            prior = torch.bincount(real_labels, minlength=len(self.real.class_names)).double()
        inputs = MetricInputs(
            real_features=self.real.features[real_idx],
            fake_features=fake_features,
            real_labels=real_labels if labeled else None,
            fake_labels=fake_labels if labeled else None,
            real_probs=self.real.logits[real_idx].softmax(1) if self.class_probs_ok else None,
            fake_probs=fake_logits.softmax(1) if self.class_probs_ok else None,
            train_class_marginal=prior,
            requested_class_marginal=requested if labeled else None,
            fake_attributes=fake_attributes if self.data_classes_ok else None,
            fake_attribute_probs=(fake_logits.sigmoid() if self.data_classes_ok and fake_attributes is not None
                                  else None),
            fake_images=fake_images if fake_images is not None and fake_images.dim() == 4 else None,
            seed=self.seed,
        )
        per_class = dataclasses.replace(inputs, real_features=self.real.features,
                                        real_labels=self.real.labels if labeled else None, real_probs=None)
        reasons = self._reasons(why_unlabeled)
        result = EvalResult({}, num_fakes=fake_features.shape[0])
        result.notes += self.notes_init
        for name in self.metrics:
            spec = METRICS.get(name)
            these = per_class if name in PER_CLASS_REAL_METRICS else inputs
            if spec.data_classes and not self.data_classes_ok:
                result.skipped[name] = reasons["data_classes"]
            elif spec.missing(these):
                result.skipped[name] = "; ".join(dict.fromkeys(
                    reasons.get(req.split("|")[0], f"no {req}") for req in spec.missing(these)))
            else:
                result.metrics.update(compute_metrics(these, [name]))
        if "intra_fid" in self.metrics and "intra_fid" not in result.skipped:
            self._note_intra_fid(per_class, result)
        result.notes += [f"{name} skipped: {why}" for name, why in result.skipped.items()]
        return result

    def _reasons(self, why_unlabeled: str) -> dict[str, str]:
        """Why a MetricInputs field is absent for this evaluation (first field of a 'a|b' need)."""
        ext = getattr(self.extractor, "id", "?")
        no_labels = ("the data set is multi-label (attributes), not classes" if self.multi_label
                     else "the data set is unlabeled" if not self.single_label else why_unlabeled)
        return {
            "data_classes": (f"the extractor '{ext}' classifies {getattr(self.extractor, 'num_classes', '?')} "
                             f"classes of its own, not the data set's "
                             f"{len(self.real.class_names) or 'no'} {'attributes' if self.multi_label else 'classes'}"),
            "fake_labels": no_labels, "real_labels": no_labels, "requested_class_marginal": no_labels,
            "train_class_marginal": no_labels,
            "fake_probs": f"the extractor '{ext}' is a multi-label (attribute) classifier: no class distribution",
            "real_probs": f"the extractor '{ext}' is a multi-label (attribute) classifier: no class distribution",
            "fake_attributes": ("the data set has no attribute labels" if not self.multi_label
                                else "the fakes have no attribute vectors"),
            "fake_attribute_probs": "the data set has no attribute labels",
            "predicted_clusters": "needs the cluster assignments of a self-labeling run, which evaluation does not compute",
            "fake_images": "no images of the fakes",
        }

    def _note_intra_fid(self, per_class: MetricInputs, result: EvalResult) -> None:
        min_real = intra_fid_min_real(per_class.real_features.shape[1])
        flagged = intra_fid_flagged_classes(per_class.real_labels, per_class.fake_labels, max(2, min_real))
        result.intra_fid_flagged = flagged
        if not flagged:
            return
        reals = sorted({r for r, _ in flagged.values()})
        span = f"{reals[0]}" if len(reals) == 1 else f"{reals[0]}-{reals[-1]}"
        result.notes.append(
            f"intra_fid: class(es) {', '.join(map(str, flagged))} left out of the average: a class needs "
            f"{min_real} real images (feature dims + 1) and 2 fakes, these have {span} real images in the "
            f"{self.real.split} split (counts in intra_fid_flagged_classes)")
        if "intra_fid" not in result.metrics:
            few_real = any(r < min_real for r, _ in flagged.values())
            result.notes.append("intra_fid not reported: every class is flagged ("
                                + ("evaluate against a split with more images per class, e.g. --real-split train"
                                   if few_real else "generate at least 2 fakes per class") + ")")

    # ------------------------------------------------------------------ real data as fakes
    def baseline_images(self, num_samples: int) -> tuple[torch.Tensor, torch.Tensor | None, str]:
        """Real images of the *other* split (train when the reference is test), class-balanced
        for single-label data: min(num_samples // K, smallest class) per class; returns (images,
        labels, description)."""
        from condgan.data import load_dataset

        split = "train" if self.real.split == "test" else "test"
        data = load_dataset(reference_data_config(self.data_cfg), split)
        if self.single_label:
            counts = torch.bincount(data.labels, minlength=len(self.real.class_names))
            per = min(max(1, num_samples // len(counts)), int(counts[counts > 0].min()))
            idx = balanced_indices(data.labels, len(counts), per, seed=self.seed)
            what = f"{len(idx)} real {split} images ({per} per class)"
        else:
            idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed))[:num_samples]
            idx = torch.sort(idx)[0]
            what = f"{len(idx)} real {split} images"
        labels = data.labels[idx] if data.labels is not None else None
        return data.images[idx], labels, what


def _common(ev: Evaluator, result: EvalResult, t0: float) -> dict:
    out = {
        "eval_seed": ev.seed,
        "num_samples": result.num_fakes,
        "extractor": ev.extractor.id,
        "extractor_test_accuracy": getattr(ev.extractor, "test_accuracy", None),
        "real_split": ev.real.split,
        "real_samples": len(ev.balanced),
        "real_split_samples": len(ev.real),
        "metrics": result.metrics,
        "skipped_metrics": result.skipped,
        "intra_fid_flagged_classes": {str(y): {"real": r, "fake": f} for y, (r, f) in result.intra_fid_flagged.items()},
        "notes": result.notes,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return out


def evaluate_run(run_dir, num_samples: int = 1000, metrics=None, extractor: str = "domain",
                 seed: int = 0, use_ema: bool = True, checkpoint: str = "last", device: str = "cpu",
                 cache_dir=None, extractor_options: dict | None = None, real_split: str = "test",
                 standing_stats: int | None = None, category_prior: str = "learned") -> dict:
    """Everything `condgan evaluate` writes: metrics plus what is needed to reproduce them.
    `category_prior`: where a self-labeling run's fakes take their categories from (`learned`:
    the run's learned prior P(C), as in training; `uniform`; see `load_generator`)."""
    from condgan.training.restore import load_generator

    check_num_samples(num_samples, "--num-samples")
    trained = load_generator(run_dir, use_ema=use_ema, checkpoint=checkpoint, device=device,
                             standing_stats=standing_stats, category_prior=category_prior)
    if len(trained.info.sample_shape) != 3:
        raise CondganError(f"run '{run_dir}' generates vector data; evaluation needs images")
    t0 = time.perf_counter()
    clusters = trained.category_predictor is not None and (metrics is None or "clustering" in metrics)
    if clusters and metrics is not None:
        metrics = [m for m in metrics if m != "clustering"]  # computed below, on the real split
    from condgan.training.trainer import evaluation_classes

    ev = Evaluator(trained.cfg.data, evaluation_classes(trained.cfg, trained.info),
                   extractor, num_samples, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    why = (f"the run's {trained.num_categories} categories are found without labels, not the data's classes "
           f"(fakes request categories {category_requests(trained)})" if trained.num_categories else None)
    result = ev.evaluate(trained.generator, trained.cfg.model.z_dim, why)
    if clusters:
        result.metrics.update(cluster_real_split(trained, real_split, device))
    return {
        "run": str(run_dir),
        "step": trained.step,
        "checkpoint": checkpoint,
        "generator": "ema" if trained.ema else "raw",
        "standing_stats": trained.cfg.train.standing_stats if standing_stats is None else standing_stats,
        **({"category_prior": category_prior} if trained.num_categories else {}),
        "train_seed": trained.cfg.seed,
        **_common(ev, result, t0),
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

    data = load_dataset(dataclasses.replace(trained.cfg.data, class_fractions=None, unlabeled=False), split)
    if data.labels is None or data.multi_label:
        return {}
    predicted = torch.cat([trained.category_predictor(data.images[i:i + BATCH].to(device)).cpu()
                           for i in range(0, len(data), BATCH)])
    return compute_metrics(MetricInputs(predicted_clusters=predicted, real_labels=data.labels), ["clustering"])


def evaluate_fakes(path, data_cfg, num_samples: int | None = None, metrics=None,
                   extractor: str = "domain", seed: int = 0, device: str = "cpu", cache_dir=None,
                   extractor_options: dict | None = None, real_split: str = "test") -> dict:
    """Score an external generator's images (a folder or .npz, see condgan.evaluation.fakes)
    with the same extractor, real reference and metrics as a run. num_samples None: all images;
    else a seeded random subset of about that many, drawn per class (labeled fakes keep their
    class mix; rounding per class can move the total by a few)."""
    from condgan.evaluation.fakes import load_fakes

    if num_samples is not None:
        check_num_samples(num_samples, "--num-samples")
    t0 = time.perf_counter()
    ev = Evaluator(data_cfg, 0, extractor, 1, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    images, labels = load_fakes(path, ev.real.sample_shape, ev.real.class_names, ev.multi_label)
    notes = []
    if num_samples is not None and num_samples < len(images):
        from condgan.data.common import stratified_indices

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
            "data": dataclasses.asdict(data_cfg), "train_seed": None, **_common(ev, result, t0)}


def evaluate_baseline(data_cfg, num_samples: int = 1000, metrics=None, extractor: str = "domain",
                      seed: int = 0, device: str = "cpu", cache_dir=None, extractor_options: dict | None = None,
                      real_split: str = "test") -> dict:
    """What a perfect generator scores with these features: held-out real images (the other
    split, class-balanced) scored as fakes against the real reference."""
    check_num_samples(num_samples, "--num-samples")
    t0 = time.perf_counter()
    ev = Evaluator(data_cfg, 0, extractor, 1, metrics, seed, device, real_split, cache_dir=cache_dir,
                   extractor_options=extractor_options)
    images, labels, what = ev.baseline_images(num_samples)
    result = ev.evaluate_images(images, labels)
    result.notes.insert(0, f"baseline: {what} scored as fakes against the {ev.real.split} reference")
    return {"run": f"baseline:{data_cfg.name}", "step": None, "checkpoint": None, "generator": "real-data",
            "data": dataclasses.asdict(data_cfg), "train_seed": None, **_common(ev, result, t0)}
