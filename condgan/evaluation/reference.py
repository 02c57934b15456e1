"""Real-data reference for evaluation: features, logits and labels of a real split through an
extractor, cached on disk by (data options, split, extractor id, n) and written atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import torch
from safetensors.torch import load_file, save

from condgan.features import cache_root, extract
from condgan.training.checkpoint import atomic_write_bytes

REFERENCE_VERSION = 1


def class_logits(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits whose softmax is C(x). Inception's standard IS uses the bias-free logits of the
    original TF graph ('logits_unbiased'); the domain classifier has only 'logits'."""
    return out.get("logits_unbiased", out["logits"])


@dataclass
class RealReference:
    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None
    split: str
    key: str

    def __len__(self) -> int:
        return self.features.shape[0]


def reference_key(data_cfg, split: str, extractor_id: str, n: int | None) -> str:
    payload = {"data": dataclasses.asdict(data_cfg), "split": split, "extractor": extractor_id,
               "n": n, "version": REFERENCE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def real_reference(data_cfg, extractor, split: str = "test", max_samples: int | None = None,
                   cache_dir=None) -> RealReference:
    """Extract (or load from cache) the real split's outputs. `max_samples` takes the first n
    of a fixed seeded permutation, so the subset is the same in every call."""
    key = reference_key(data_cfg, split, extractor.id, max_samples)
    path = cache_root(cache_dir) / "reference" / f"{data_cfg.name}-{split}-{key}.safetensors"
    if path.is_file():
        t = load_file(str(path))
        return RealReference(t["features"], t["logits"], t.get("labels"), split, key)
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
    atomic_write_bytes(path, save(tensors))
    return RealReference(tensors["features"], tensors["logits"], tensors.get("labels"), split, key)
