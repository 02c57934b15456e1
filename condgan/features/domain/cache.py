"""Domain classifiers trained on this machine and cached on disk: the route for data options
that no shipped (pinned) classifier covers, e.g. a user's own image folder.

A trained classifier is cached keyed by everything that changes what it learns (the data
options and its seed, plus DOMAIN_CLASSIFIER_VERSION), so every run that evaluates on the same
data reuses one classifier, and reference statistics cached under its `id` stay valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Optional

import torch
from safetensors.torch import load_file, save_file

from condgan.config import DataConfig
from condgan.data.base import ImageData
from condgan.data.download import file_digest
from condgan.errors import CondganError
from condgan.features.base import cache_root, resolve_device
from condgan.features.domain.fit import (DOMAIN_CLASSIFIER_VERSION, TRAIN_THREADS, Log,
                                         fit_domain_classifier)
from condgan.features.domain.net import DomainClassifier, DomainExtractor
from condgan.io import atomic_path

# Data options that change what the classifier sees, hence part of the cache key.
KEY_FIELDS = ("name", "root", "image_size", "channels", "classes", "class_fractions", "attributes",
              "split_seed", "test_fraction", "num_samples")

Loader = Callable[[DataConfig, str], ImageData]


def key_fields(data_cfg: DataConfig) -> dict:
    """The data options (KEY_FIELDS) that shape a classifier, `root` made absolute."""
    fields = {k: getattr(data_cfg, k) for k in KEY_FIELDS}
    if fields["root"] is not None:  # the same directory spelled differently is the same data
        fields["root"] = os.path.abspath(os.path.expanduser(fields["root"]))
    return fields


def domain_cache_key(data_cfg: DataConfig, seed: int = 0) -> str:
    """16 hex digits of SHA-256 over the data options that shape the classifier, its seed and
    DOMAIN_CLASSIFIER_VERSION."""
    if not dataclasses.is_dataclass(data_cfg):
        raise CondganError(f"expected a DataConfig, got {type(data_cfg).__name__}")
    payload = {"data": key_fields(data_cfg), "seed": seed, "version": DOMAIN_CLASSIFIER_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def domain_cache_paths(data_cfg: DataConfig, seed: int = 0, cache_dir=None) -> tuple[Path, Path]:
    """(weights .safetensors, info .json) paths of the cached classifier for these options."""
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', data_cfg.name)}-{domain_cache_key(data_cfg, seed)}"
    folder = cache_root(cache_dir) / "domain_classifier"
    return folder / f"{stem}.safetensors", folder / f"{stem}.json"


def _default_loader() -> Loader:
    try:
        from condgan.data import load_dataset
    except ImportError:
        raise CondganError("condgan.data.load_dataset is not available in this installation") from None
    return load_dataset


def train_domain_classifier(
    data_cfg: DataConfig,
    seed: int = 0,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    device: str | torch.device = "cpu",
    loader: Optional[Loader] = None,
    threads: int = TRAIN_THREADS,
    log: Log = None,
) -> tuple[DomainClassifier, dict]:
    """Load the train and test splits of `data_cfg` and fit a classifier (no caching).

    The info dict also records the cache key and the data options it was computed from.
    """
    load = loader or _default_loader()
    model, info = fit_domain_classifier(
        load(data_cfg, "train"), load(data_cfg, "test"),
        seed=seed, epochs=epochs, batch_size=batch_size, device=device, threads=threads, log=log,
    )
    info["key"] = domain_cache_key(data_cfg, seed)
    info["data"] = key_fields(data_cfg)
    return model, info


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp_path)`, then the temporary file atomically replaces `path`."""
    with atomic_path(path) as tmp:
        write(tmp)


def _write_json(obj: dict) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())

    return write


def save_domain_classifier(model: DomainClassifier, info: dict, weights_path: Path, info_path: Path) -> None:
    """Weights first, info second: the info file marks a complete cache entry."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(weights_path, lambda tmp: save_file(state, tmp))
    _atomic_write(info_path, _write_json(info))


def load_domain_classifier(weights_path: Path, info_path: Path) -> tuple[DomainClassifier, dict]:
    """Rebuild a cached classifier; raises CondganError when the entry is unreadable."""
    try:
        info = json.loads(info_path.read_text())
        model = DomainClassifier.from_info(info)
        model.load_state_dict(load_file(str(weights_path)), strict=True)
    except Exception as e:  # noqa: BLE001 - any failure means a broken cache entry
        raise CondganError(f"cached domain classifier {weights_path} is unreadable ({e}); "
                           "delete it to retrain") from None
    return model.eval(), info


def get_domain_extractor(
    data_cfg: DataConfig,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cache_dir=None,
    train_if_missing: bool = True,
    retrain: bool = False,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    loader: Optional[Loader] = None,
    threads: int = TRAIN_THREADS,
    log: Log = None,
) -> DomainExtractor:
    """The domain extractor for `data_cfg` trained on this machine: loaded from the cache, else
    trained and cached (shipped classifiers are not consulted here; see `domain_extractor`).

    `epochs`/`batch_size` only matter when training; a cached entry trained with other explicitly
    requested values is retrained. `loader(cfg, split)` defaults to condgan.data.load_dataset.
    """
    weights_path, info_path = domain_cache_paths(data_cfg, seed, cache_dir)
    ident = f"domain-v{DOMAIN_CLASSIFIER_VERSION}-{weights_path.stem}"
    device = resolve_device(device)
    why = "retraining was requested" if retrain else "no classifier is cached"
    if info_path.is_file() and weights_path.is_file() and not retrain:
        try:
            model, info = load_domain_classifier(weights_path, info_path)
        except CondganError as e:
            why = str(e)
        else:
            stale = [name for name, want in (("epochs", epochs), ("batch_size", batch_size))
                     if want is not None and info.get(name) != want]
            if not stale:
                return DomainExtractor(model, info, ident, weights_path, from_cache=True,
                                       weights_sha256=file_digest(weights_path), source="cache").to(device).eval()
            why = f"the cached classifier was trained with other {' and '.join(stale)}"
    if not train_if_missing:
        raise CondganError(
            f"domain classifier for data set '{data_cfg.name}' (seed {seed}) at {weights_path}: {why}; "
            f"train it with `condgan classifier train {data_cfg.name}` (plus the same --set data.* options)"
        )
    if log:
        log(f"training the domain classifier for '{data_cfg.name}' (seed {seed}): {why}")
    model, info = train_domain_classifier(data_cfg, seed, epochs, batch_size, device, loader, threads, log)
    save_domain_classifier(model, info, weights_path, info_path)
    return DomainExtractor(model, info, ident, weights_path, from_cache=False,
                           weights_sha256=file_digest(weights_path), source="trained").eval()
