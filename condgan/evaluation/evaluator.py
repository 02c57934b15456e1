"""Evaluate a generator (or any set of images): fakes and a real reference go through one feature
extractor, then the requested metrics. The protocol (docs/evaluation.md):

* Fakes. A class-conditional generator gets targets `y'_i = i mod K` (every class equally often:
  the requested mix is uniform). A multi-label (attribute) generator gets the attribute vectors
  of train-split images, drawn without replacement by a seeded permutation (repeated when more
  fakes than images are asked for), so the joint attribute distribution is the data's. An
  unconditional generator gets no condition. Latents come from a private generator seeded with
  the evaluation seed. External images (`evaluate_images`) bring their own labels, or none.
* Real reference. The real split (`real_split`; default `auto`: the test split when it holds
  ≥ 10,000 images, else the larger train split, see condgan.evaluation.reference) of the data
  *without* `data.class_fractions` and `data.train_images` (they only shape what the GAN trains
  on). Pooled metrics (FID, KID, PRDC, IS, AM Score, ...) see its class-balanced subset (every class as often as the smallest
  one, fixed seed), so its class mix is the uniform mix requested from G; AM Score's C̄_train is
  that subset's class marginal, i.e. uniform. Per-class metrics (intra-FID) use every real image
  of the class. Intra-FID leaves out ("flags") classes with fewer than F + 1 real images.
* Skipped metrics. A metric is skipped, with the reason in `EvalResult.skipped` / the notes,
  when its inputs do not exist for this run: class metrics for unconditional or multi-label
  generators, and every metric that reads the classifier as the data set's classes
  (`MetricSpec.data_classes`: AM Score, conditional accuracy, class TV, attribute accuracy)
  when the extractor classifies something else (Inception's 1008 ImageNet classes). IS reads
  the extractor's own classes and stays valid with Inception.

* Metric options. KID gets `feature_scale=whiten` with every extractor but Inception (whose
  standard KID is on raw features), see condgan.metrics.kid; they are listed in eval.json.
* A metric whose inputs are too small for it (k-NN metrics on a 3-image split, SSIM with one fake
  per class) is skipped with its own message, like a metric whose inputs are absent.

Deterministic for a fixed seed and sample count; images given as fakes are put in canonical order
first, so their scores do not depend on the order they were stored in. Memory is bounded: fakes are generated and
extracted batch by batch; only their features / logits (and a capped subset of images for SSIM)
are kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from condgan.arguments import check_seed
from condgan.errors import CondganError
from condgan.evaluation.notes import intra_fid_notes, skip_reasons
from condgan.evaluation.reference import (balanced_indices, class_logits, real_reference,
                                          reference_data_config, resolve_real_split)
from condgan.evaluation.threads import with_evaluation_threads
from condgan.features import build_extractor, extract
from condgan.metrics import METRICS, MetricInputs, compute_metrics
from condgan.metrics.base import canonical_order
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


def check_metric_names(metrics, what: str = "metrics"):
    """None, or a list of registered metric names; a single string is an error, not a sequence
    of one-letter names."""
    if metrics is None:
        return None
    if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
        raise CondganError(f"{what} must be a list of metric names, e.g. ['fid', 'kid'], got {metrics!r}")
    for name in metrics:
        METRICS.get(name)
    return list(metrics)


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

    @with_evaluation_threads
    def __init__(self, data_cfg, num_classes: int, extractor: str = "domain", num_samples: int = 1000,
                 metrics=DEFAULT_METRICS, seed: int = 0, device="cpu", real_split: str = "auto",
                 cache_dir=None, extractor_options: dict | None = None):
        from condgan.device import resolve_device

        metrics = check_metric_names(metrics)
        self.num_samples = check_num_samples(num_samples, "the number of evaluation samples (--num-samples / eval.num_samples)")
        self.seed = check_seed(seed, "the evaluation seed")
        self.device = resolve_device(device)
        self.data_cfg = data_cfg
        ref_cfg = reference_data_config(data_cfg)
        real_split, self.real_split_rule = resolve_real_split(ref_cfg, real_split)
        # The extractor trains with the global RNG when it is not cached yet; fork so that a
        # training run evaluating periodically stays bit-identical to one that does not.
        # The classifier is trained on all data of the run's classes (class_fractions and
        # train_images removed): trained on the imbalanced set it would be biased towards the
        # frequent class, on a limited-data subset it would be a weak judge.
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
        inception = getattr(self.extractor, "id", "").startswith("inception")
        self.metric_options = {} if inception else {"kid": {"feature_scale": "whiten"}}

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
    @with_evaluation_threads
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
    @with_evaluation_threads
    def evaluate_images(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                        why_unlabeled: str = "the fakes have no labels") -> EvalResult:
        """Score given images (N×C×H×W in [−1, 1]) as fakes; labels are (N,) class indices or,
        for multi-label data, (N, M) attribute vectors (or None). They are put in canonical
        order first: the scores do not depend on the order they come in."""
        order = canonical_order(images, *([labels] if labels is not None else []))
        images, labels = images[order], (labels[order] if labels is not None else None)
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
        reasons = skip_reasons(self, why_unlabeled)
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
                try:
                    result.metrics.update(compute_metrics(these, [name], {name: self.metric_options[name]}
                                                          if name in self.metric_options else None))
                except CondganError as e:  # inputs too small for it: skipped with its own message
                    result.skipped[name] = str(e)
        if "intra_fid" in self.metrics and "intra_fid" not in result.skipped:
            min_real = intra_fid_min_real(per_class.real_features.shape[1])
            result.intra_fid_flagged = intra_fid_flagged_classes(per_class.real_labels, per_class.fake_labels,
                                                                 max(2, min_real))
            result.notes += intra_fid_notes(result.intra_fid_flagged, min_real, self.real.split,
                                            "intra_fid" in result.metrics)
        result.notes += [f"{name} skipped: {why}" for name, why in result.skipped.items()]
        return result
