"""Real-data reference for evaluation: features, logits and labels of a real split through an
extractor, cached on disk by (data options, split, extractor id, n) and written atomically.

The reference is drawn from the *full* split: `reference_data_config` drops
`data.class_fractions`, which only shape what the GAN trains on (e.g. seed 001's 55 %-zeros set),
not what a class looks like or which classes the generator is asked for. `balanced_indices`
then picks the class-balanced subset the pooled metrics (FID, KID, PRDC, ...) compare with, so
the real reference has the same uniform class mix that the evaluator requests from the generator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import torch
from safetensors import safe_open
from safetensors.torch import save

from condgan.features import cache_root, extract
from condgan.training.checkpoint import atomic_write_bytes

# 2: drawn from the full split (class_fractions dropped by the evaluator) and stores metadata
REFERENCE_VERSION = 2
BALANCE_SEED = 0  # fixed: every evaluation seed compares with the same balanced reference


def class_logits(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits whose softmax is C(x). Inception's standard IS uses the bias-free logits of the
    original TF graph ('logits_unbiased'); the domain classifier has only 'logits'."""
    return out.get("logits_unbiased", out["logits"])


def reference_data_config(data_cfg):
    """The data options of the real reference: the run's, without `class_fractions`, labels
    visible (`data.unlabeled` only hides them from training)."""
    return dataclasses.replace(data_cfg, class_fractions=None, unlabeled=False)


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
    data = dataclasses.asdict(data_cfg)
    data.pop("unlabeled", None)  # training-only option: the same images and labels either way
    payload = {"data": data, "split": split, "extractor": extractor_id,
               "n": n, "version": REFERENCE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _load(path, split: str, key: str) -> RealReference:
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("condgan", "{}"))
        t = {name: f.get_tensor(name) for name in f.keys()}
    return RealReference(t["features"], t["logits"], t.get("labels"), split, key,
                         meta.get("class_names", []), meta.get("multi_label", False),
                         tuple(meta.get("sample_shape", ())))


def real_reference(data_cfg, extractor, split: str = "test", max_samples: int | None = None,
                   cache_dir=None) -> RealReference:
    """Extract (or load from cache) the real split's outputs. `max_samples` takes the first n
    of a fixed seeded permutation, so the subset is the same in every call. The data options are
    used as given; the evaluator passes `reference_data_config(run's data options)`."""
    key = reference_key(data_cfg, split, extractor.id, max_samples)
    path = cache_root(cache_dir) / "reference" / f"{data_cfg.name}-{split}-{key}.safetensors"
    if path.is_file():
        return _load(path, split, key)
    from condgan.data import load_dataset

    data = load_dataset(data_cfg, split)
    images, labels = data.images, data.labels
    if max_samples is not None and max_samples < len(data):
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:max_samples]
        images = images[idx]
        labels = labels[idx] if labels is not None else None
    out = extract(extractor, images)
    tensors = {"features": out["features"].contiguous(), "logits": class_logits(out).contiguous()}
    if labels is not None and not data.multi_label:
        tensors["labels"] = labels.contiguous()
    meta = {"class_names": list(data.class_names), "multi_label": data.multi_label,
            "sample_shape": list(data.sample_shape)}
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
