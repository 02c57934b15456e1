"""The one calling convention every metric follows, and the metric registry.

A metric is a pure function of already-extracted quantities (features, class probabilities,
labels, a few images), never of a network:

    fn(inputs: MetricInputs, **opts) -> dict[str, float]

It may return several keys (``prdc`` returns precision / recall / density / coverage;
``intra_fid`` returns ``intra_fid`` and one ``intra_fid/<k>`` per class). It is registered with
`register_metric(name, needs=..., higher_is_better=..., data_classes=...)`, which stores a
`MetricSpec` under the name in `METRICS`. `data_classes=True` declares that the metric reads the
classifier's outputs as probabilities over *the data set's* classes (column y of fake_probs is
class y of the labels): a runner must skip it when the extractor classifies something else
(e.g. Inception's 1008 ImageNet classes on MNIST). An evaluation runner therefore only does

    spec = METRICS.get(name)
    if spec.missing(inputs): skip or raise       # which MetricInputs fields are absent
    values = spec(inputs, **opts)                 # validates inputs and option names first
    spec.is_higher_better(key)                    # for best-checkpoint selection

or simply `compute_metrics(inputs, names, options)`.

Randomness (KID subsets, IS split shuffling, SSIM pairs, Parzen validation split) comes only
from `inputs.seed` through a private `torch.Generator`, so the same inputs and seed always give
the same numbers (docs/evaluation.md: evaluation is deterministic for a fixed seed). Every seeded draw is
made over the rows in `canonical_order` (sorted by a hash of their content), not over the
positions they were passed in: a set's score does not depend on how it was stored (a class
folder and an .npz of the same images in another order score the same).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable, Mapping, Optional

import torch

from condgan.errors import CondganError
from condgan.metrics.gaussian import GaussianStats
from condgan.registry import Registry, suggest



@dataclass
class MetricInputs:
    """Everything any metric may need; each metric declares which fields it reads (`needs`).

    Shapes: N_r real test samples, N_f generated samples, F feature dims, K classes.
    All fields default to None so a runner fills only what its metric subset needs.
    """

    real_features: Optional[torch.Tensor] = None
    """(N_r, F) extractor features of real test images."""
    fake_features: Optional[torch.Tensor] = None
    """(N_f, F) extractor features of generated images."""
    real_labels: Optional[torch.Tensor] = None
    """(N_r,) int64 true classes (None if unlabeled)."""
    fake_labels: Optional[torch.Tensor] = None
    """(N_f,) int64 target classes y' given to G."""
    real_probs: Optional[torch.Tensor] = None
    """(N_r, K) softmax C(x) of the extractor / domain classifier on real images."""
    fake_probs: Optional[torch.Tensor] = None
    """(N_f, K) softmax C(x') on generated images."""
    train_class_marginal: Optional[torch.Tensor] = None
    """(K,) class prior of the train split, C̄_train of AM Score (seed 003 Eq. 23)."""
    requested_class_marginal: Optional[torch.Tensor] = None
    """(K,) the class mix requested from G (class_tv); defaults to the histogram of fake_labels."""
    fake_attributes: Optional[torch.Tensor] = None
    """(N_f, M) multi-hot attribute vectors given to G (multi-label data)."""
    fake_attribute_probs: Optional[torch.Tensor] = None
    """(N_f, M) per-attribute probabilities sigmoid(logit) of a multi-label classifier on the fakes."""
    fake_images: Optional[torch.Tensor] = None
    """(N, C, H, W) in [-1, 1], a subset of the fakes for SSIM diversity; row i has target
    fake_labels[i] (so N ≤ N_f and the first N labels are used)."""
    predicted_clusters: Optional[torch.Tensor] = None
    """(N_r,) cluster ids predicted for the real test data (clustering ACC / NMI / ARI)."""
    test_labels: Optional[torch.Tensor] = None
    """(N_t,) int64 classes of the real test split (CAS, linear probe)."""
    cas_probs: Optional[torch.Tensor] = None
    """(N_t, K) class probabilities on the real test split of a classifier trained on the labeled
    fakes (CAS)."""
    probe_probs: Optional[torch.Tensor] = None
    """(N_t, K) class probabilities on the real test split of a linear classifier trained on an
    encoder's codes of the real train split (linear probe)."""
    real_stats: Optional[GaussianStats] = None
    """Cached streaming Gaussian statistics of the real features; FID uses them instead of
    real_features when given (the runner computes them batch by batch, once per data set)."""
    seed: int = 0

    def __post_init__(self):
        def rows(name):
            t = getattr(self, name)
            return None if t is None else t.shape[0]

        for name in ("real_features", "fake_features", "real_probs", "fake_probs", "fake_attributes",
                     "fake_attribute_probs", "cas_probs", "probe_probs"):
            t = getattr(self, name)
            if t is not None and t.dim() != 2:
                raise CondganError(f"MetricInputs.{name} must be 2-D (N, D), got shape {tuple(t.shape)}")
        for name in ("real_labels", "fake_labels", "predicted_clusters", "test_labels",
                     "train_class_marginal", "requested_class_marginal"):
            t = getattr(self, name)
            if t is not None and t.dim() != 1:
                raise CondganError(f"MetricInputs.{name} must be 1-D, got shape {tuple(t.shape)}")
        if self.fake_images is not None and self.fake_images.dim() != 4:
            raise CondganError(
                f"MetricInputs.fake_images must be (N, C, H, W), got shape {tuple(self.fake_images.shape)}"
            )
        if self.real_features is not None and self.fake_features is not None:
            if self.real_features.shape[1] != self.fake_features.shape[1]:
                raise CondganError(
                    f"real_features have {self.real_features.shape[1]} dims but fake_features "
                    f"{self.fake_features.shape[1]}; both must come from the same extractor"
                )
        # Per-sample fields of one side must describe the same samples.
        for side, group in (("real", ("real_features", "real_labels", "real_probs", "predicted_clusters")),
                            ("fake", ("fake_features", "fake_labels", "fake_probs", "fake_attributes",
                                      "fake_attribute_probs")),
                            ("test", ("test_labels", "cas_probs", "probe_probs"))):
            sizes = {n: rows(n) for n in group if rows(n) is not None}
            if len(set(sizes.values())) > 1:
                raise CondganError(f"MetricInputs {side}-side fields disagree on the number of samples: {sizes}")
        if self.fake_images is not None and self.fake_labels is not None:
            if self.fake_images.shape[0] > self.fake_labels.shape[0]:
                raise CondganError(
                    f"fake_images has {self.fake_images.shape[0]} rows but fake_labels only "
                    f"{self.fake_labels.shape[0]}; image i must be the fake with target fake_labels[i]"
                )

    def has(self, name: str) -> bool:
        return getattr(self, name) is not None


_FIELDS = {f.name for f in fields(MetricInputs)}


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: its function and the metadata a runner needs.

    needs: requirements on MetricInputs; each entry is a field name, or alternatives joined by
        '|' (e.g. "real_features|real_stats": either is enough).
    higher_is_better: direction of each *quality* key the metric returns. Keys like
        "intra_fid/3" inherit the direction of their prefix ("intra_fid"); keys absent from the
        map (standard deviations, chosen bandwidths) are not scores and get None.
    data_classes: the metric reads classifier outputs as the data set's classes (see the module
        docstring); meaningless with an extractor trained on other classes.
    """

    name: str
    fn: Callable[..., dict[str, float]]
    needs: frozenset[str]
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
    data_classes: bool = False

    @property
    def primary(self) -> str:
        """The headline key (the first direction given), e.g. for best-checkpoint selection."""
        return next(iter(self.higher_is_better))

    def options(self) -> dict[str, object]:
        """Keyword options and their defaults."""
        params = list(inspect.signature(self.fn).parameters.values())[1:]
        return {p.name: p.default for p in params}

    def missing(self, inputs: MetricInputs) -> list[str]:
        """Requirements in `needs` that `inputs` does not satisfy (empty when it can run)."""
        return sorted(req for req in self.needs if not any(inputs.has(a) for a in req.split("|")))

    def is_higher_better(self, key: str) -> Optional[bool]:
        if key in self.higher_is_better:
            return self.higher_is_better[key]
        return self.higher_is_better.get(key.split("/", 1)[0]) if "/" in key else None

    def __call__(self, inputs: MetricInputs, **opts) -> dict[str, float]:
        missing = self.missing(inputs)
        if missing:
            raise CondganError(
                f"metric '{self.name}' needs MetricInputs field(s) {', '.join(missing)} "
                f"('a|b' means either); remove the metric or provide them"
            )
        allowed = self.options()
        for key in opts:
            if key not in allowed:
                raise CondganError(
                    f"unknown option '{key}' for metric '{self.name}'{suggest(key, allowed)}; "
                    f"options: {', '.join(allowed) or '(none)'}"
                )
        return self.fn(inputs, **opts)


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(name: str, needs: Iterable[str], higher_is_better: Mapping[str, bool],
                    data_classes: bool = False):
    """Decorator: register `fn(inputs, **opts) -> dict[str, float]` as metric `name`."""
    needs = frozenset(needs)
    for req in needs:
        for alt in req.split("|"):
            if alt not in _FIELDS:
                raise ValueError(f"metric '{name}' needs unknown MetricInputs field '{alt}'")

    def deco(fn):
        METRICS.register(name)(MetricSpec(name, fn, needs, dict(higher_is_better), data_classes))
        return fn

    return deco


def compute_metrics(
    inputs: MetricInputs,
    names: Iterable[str],
    options: Optional[Mapping[str, Mapping[str, object]]] = None,
    skip_missing: bool = False,
) -> dict[str, float]:
    """Compute the named metrics; `options[name]` are that metric's keyword options.

    With skip_missing, metrics whose inputs are absent are left out instead of raising.
    """
    options = dict(options or {})
    names = list(names)
    for name in options:
        if name not in names:
            raise CondganError(f"options given for metric '{name}', which is not being computed")
    out: dict[str, float] = {}
    for name in names:
        spec = METRICS.get(name)
        if skip_missing and spec.missing(inputs):
            continue
        for key, value in spec(inputs, **options.get(name, {})).items():
            if key in out:
                raise CondganError(f"metric '{name}' returns key '{key}' already returned by another metric")
            out[key] = value
    return out


# ---- small helpers shared by several metric modules -------------------------------------------

def generator(seed: int) -> torch.Generator:
    """A private CPU generator, so metrics never touch (or depend on) the global RNG state."""
    return torch.Generator().manual_seed(int(seed))


def canonical_order(*aligned: torch.Tensor) -> torch.Tensor:
    """The permutation that puts rows in a canonical order: sorted by a 64-bit BLAKE2b hash of
    each row's bytes (rows i of all `aligned` tensors, e.g. an image and its label, together).

    A seeded draw over the permuted rows (a KID subset, an IS split, an SSIM pair) then depends
    only on the multiset of rows, not on the order they came in. Identical rows may swap places,
    which changes nothing. -0.0 is hashed as 0.0; the dtype is part of the bytes, so a set given
    once as float32 and once as float64 may be ordered differently."""
    n = aligned[0].shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.int64)
    parts = []
    for t in aligned:
        if t.shape[0] != n:
            raise CondganError(f"canonical_order: tensors disagree on the number of rows ({t.shape[0]} vs {n})")
        flat = t.detach().cpu().reshape(n, -1)
        if flat.is_floating_point():
            flat = flat + 0  # -0.0 → 0.0: equal values, equal bytes
        parts.append(flat.contiguous().view(torch.uint8).reshape(n, -1).numpy())
    keys = [b"".join(hashlib.blake2b(p[i].tobytes(), digest_size=8).digest() for p in parts) for i in range(n)]
    return torch.tensor(sorted(range(n), key=keys.__getitem__), dtype=torch.int64)


def as_distribution(t: torch.Tensor, name: str) -> torch.Tensor:
    """float64 copy of a non-negative (K,) vector normalised to sum 1 (counts are accepted)."""
    t = t.detach().to(torch.float64).cpu()
    total = t.sum()
    if (t < 0).any() or not torch.isfinite(total) or total <= 0:
        raise CondganError(f"{name} must be non-negative with a positive sum, got {t.tolist()}")
    return t / total
