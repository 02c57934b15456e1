"""Real data for evaluation: which split is the reference, its features cached on disk, and the
held-out images of the real-data row.

* **Which split** (`resolve_real_split`): `auto` (the default) takes the test split when it
  holds at least `MIN_TEST_REFERENCE` images and the train split otherwise. Scores against a
  small reference carry its sampling noise (MNIST-5k's test split: 500 images, 50 per class,
  too few for a per-class covariance of 128 features, so intra-FID was never reported); GAN
  papers score against the training set for the same reason.
* **Full split, class-balanced**: the reference is drawn from the *full* split:
  `reference_data_config` drops `data.class_fractions` and `data.train_images`, which only shape
  what the GAN trains on (e.g. seed 001's 55 %-zeros set, a limited-data run's 500 images), not what a class looks like or which classes the generator
  is asked for. `balanced_indices` then picks the class-balanced subset the pooled metrics (FID,
  KID, PRDC, ...) compare with, so the real reference has the same uniform class mix that the
  evaluator requests from the generator.
* **Canonical order**: the split's images are put in `canonical_order` (content hash) before
  extraction, so every seeded draw over the reference (balanced subset, metric subsets) depends
  on the images, not on the order the data source lists them in.
* **Cache** (`$CONDGAN_CACHE/reference/`): keyed by (data options, split, extractor id, n),
  written atomically with the SHA-256 of its tensors in the metadata (condgan.integrity). A
  cache that is unreadable, inconsistent or fails the checksum is rebuilt with a warning.
* **Real-data row** (`held_out_images`): the images of the *other* split — never part of the
  reference — scored as fakes: what a perfect generator scores with these features.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch
from safetensors import safe_open
from safetensors.torch import save

from condgan.errors import CondganError
from condgan.features import cache_root, extract
from condgan.integrity import tensors_digest
from condgan.metrics.base import canonical_order
from condgan.training.checkpoint import atomic_write_bytes
from condgan.console import warn

# 3: canonical image order, split "auto", SHA-256 of the tensors in the metadata
REFERENCE_VERSION = 3
BALANCE_SEED = 0  # fixed: every evaluation seed compares with the same balanced reference
REAL_SPLITS = ("auto", "test", "train")
MIN_TEST_REFERENCE = 10_000
"""`auto` scores against the test split only when it holds at least this many images: the
sample size Heusel et al. (2017) recommend for FID, and the size of the official test splits of
Fashion-MNIST and CIFAR-10. Smaller test splits (hold-outs of small data sets) give way to the
train split."""


def class_logits(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits whose softmax is C(x). Inception's standard IS uses the bias-free logits of the
    original TF graph ('logits_unbiased'); the domain classifier has only 'logits'."""
    return out.get("logits_unbiased", out["logits"])


def reference_data_config(data_cfg):
    """The data options of the real reference (and of the domain classifier, the real-data row and
    clustering): the run's, without `class_fractions` / `train_images` (what the GAN trains on,
    not what the data set is), labels visible (`data.unlabeled` only hides them from training)."""
    return dataclasses.replace(data_cfg, class_fractions=None, train_images=None, unlabeled=False)


def resolve_real_split(data_cfg, split: str) -> tuple[str, str]:
    """(the split the reference is drawn from, why) for `--real-split` / `eval.real_split`."""
    if split not in REAL_SPLITS:
        raise CondganError(f"real split '{split}' is not one of {', '.join(REAL_SPLITS)}")
    if split != "auto":
        return split, f"the {split} split, as requested"
    from condgan.data import load_dataset

    n_test = len(load_dataset(reference_data_config(data_cfg), "test"))
    if n_test >= MIN_TEST_REFERENCE:
        return "test", f"auto: the test split ({n_test} images) has at least {MIN_TEST_REFERENCE}"
    return "train", (f"auto: the test split has only {n_test} images (< {MIN_TEST_REFERENCE}), so the "
                     "larger train split is the reference, as GAN papers score against the training set")


def other_split(split: str) -> str:
    return "train" if split == "test" else "test"


@dataclass
class RealReference:
    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None
    """(N,) int64 classes of single-label data; None for unlabeled or multi-label data."""
    split: str
    key: str
    class_names: list[str] = dataclasses.field(default_factory=list)
    """Class (or attribute) names of the data; empty when unlabeled."""
    multi_label: bool = False
    sample_shape: tuple[int, ...] = ()
    """(C, H, W) of the data's images: external fakes are converted to this shape."""

    def __len__(self) -> int:
        return self.features.shape[0]


def reference_key(data_cfg, split: str, extractor_id: str, n: int | None) -> str:
    import hashlib

    data = dataclasses.asdict(data_cfg)
    data.pop("unlabeled", None)  # training-only option: the same images and labels either way
    payload = {"data": data, "split": split, "extractor": extractor_id,
               "n": n, "version": REFERENCE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _load(path, split: str, key: str) -> RealReference:
    """A cached reference; raises (anything) when the file is unreadable or fails its check."""
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("condgan", "{}"))
        t = {name: f.get_tensor(name) for name in f.keys()}
    if meta.get("sha256") != tensors_digest(t):
        raise ValueError("its tensors do not match the SHA-256 stored with them")
    rows = {name: v.shape[0] for name, v in t.items()}
    if {"features", "logits"} - set(t) or len(set(rows.values())) != 1 or t["features"].dim() != 2:
        raise ValueError(f"inconsistent tensors {rows}")
    return RealReference(t["features"], t["logits"], t.get("labels"), split, key,
                         meta["class_names"], meta["multi_label"], tuple(meta["sample_shape"]))


def real_reference(data_cfg, extractor, split: str = "test", max_samples: int | None = None,
                   cache_dir=None) -> RealReference:
    """Extract (or load from cache) the real split's outputs, rows in canonical image order.
    `max_samples` takes the first n of a fixed seeded permutation of that order, so the subset
    is the same in every call. The data options are used as given; the evaluator passes
    `reference_data_config(run's data options)` and a resolved split (not `auto`)."""
    key = reference_key(data_cfg, split, extractor.id, max_samples)
    path = cache_root(cache_dir) / "reference" / f"{data_cfg.name}-{split}-{key}.safetensors"
    if path.is_file():
        try:
            return _load(path, split, key)
        except Exception as e:  # noqa: BLE001 - any failure means a damaged cache entry
            reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            warn(f"real-reference cache '{path}' is damaged ({reason}); rebuilding it")
    from condgan.data import load_dataset

    data = load_dataset(data_cfg, split)
    images, labels = data.images, data.labels
    order = canonical_order(images, *([labels] if labels is not None else []))
    if max_samples is not None and max_samples < len(data):
        order = order[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:max_samples]]
    images = images[order]
    labels = labels[order] if labels is not None else None
    out = extract(extractor, images)
    tensors = {"features": out["features"].contiguous(), "logits": class_logits(out).contiguous()}
    if labels is not None and not data.multi_label:
        tensors["labels"] = labels.contiguous()
    meta = {"class_names": list(data.class_names), "multi_label": data.multi_label,
            "sample_shape": list(data.sample_shape), "sha256": tensors_digest(tensors)}
    atomic_write_bytes(path, save(tensors, metadata={"condgan": json.dumps(meta)}))
    return RealReference(tensors["features"], tensors["logits"], tensors.get("labels"), split, key,
                         meta["class_names"], meta["multi_label"], tuple(meta["sample_shape"]))


def balanced_indices(labels: torch.Tensor, num_classes: int, per_class: int | None = None,
                     seed: int = BALANCE_SEED) -> torch.Tensor:
    """Sorted indices of a class-balanced subset: `per_class` (default: the smallest class's count
    among the classes present) seeded random members of every class present in `labels`. Classes
    with no member are absent from the subset; the caller reports them."""
    counts = torch.bincount(labels.long(), minlength=num_classes)
    present = torch.nonzero(counts).flatten().tolist()
    take = int(counts[present].min()) if per_class is None else int(per_class)
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for y in present:
        members = torch.nonzero(labels == y).flatten()
        parts.append(members[torch.randperm(len(members), generator=gen)[:take]])
    return torch.sort(torch.cat(parts))[0] if parts else torch.empty(0, dtype=torch.int64)


def held_out_images(data_cfg, reference: RealReference, num_samples: int, seed: int
                    ) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """The real-data row's "fakes": images of the split that is *not* the reference (none of
    them is in it), class-balanced for single-label data — min(num_samples // K, smallest class)
    per class — else a seeded random subset of num_samples; drawn over the canonical order.
    Returns (images, labels, description for eval.json)."""
    from condgan.data import load_dataset

    split = other_split(reference.split)
    data = load_dataset(reference_data_config(data_cfg), split)
    labels = data.labels
    order = canonical_order(data.images, *([labels] if labels is not None else []))
    images, labels = data.images[order], (labels[order] if labels is not None else None)
    single = labels is not None and not data.multi_label
    if single:
        counts = torch.bincount(labels, minlength=len(reference.class_names))
        per = min(max(1, num_samples // len(counts)), int(counts[counts > 0].min()))
        idx = balanced_indices(labels, len(counts), per, seed=seed)
    else:
        idx = torch.sort(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:num_samples])[0]
    info = {"held_out_split": split, "images": len(idx), "requested": num_samples,
            "split_images": len(data), "per_class": per if single else None}
    if len(idx) < num_samples:
        info["why_fewer"] = (
            f"the {split} split is all the held-out real data there is ({len(data)} images"
            + (f"; {per} per class, the smallest class" if single else "") + "). Reference images "
            "scored as fakes would match themselves (FID biased low, precision/recall ≈ 1), so the "
            "row uses fewer fakes instead: KID is unbiased at any size and compares directly; FID "
            "is biased upward at fewer fakes and IS, PRDC and intra-FID depend on the sample size, "
            "so read those as a real-data reference level, not an exact floor")
    return images[idx], (labels[idx] if labels is not None else None), info
