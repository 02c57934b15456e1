"""The domain classifier extractor: a small CNN of the data set's own classes (docs/evaluation.md).

    net.py      the network and its feature-extractor view
    fit.py      the training recipe
    shipped.py  pinned classifiers of the embedded data sets (package data, SHA-256 checked)
    cache.py    classifiers trained on this machine and cached, for every other data option

Registered extractors: `domain` (the shipped classifier when one covers the data options, else
trained on first use and cached) and `domain-trained` (always the trained-and-cached one, e.g.
to compare a locally trained classifier with the shipped one).
"""

from __future__ import annotations

import sys
from typing import Optional

import torch

from condgan.config import DataConfig
from condgan.features.base import EXTRACTORS
from condgan.features.domain.cache import (KEY_FIELDS, Loader, domain_cache_key, domain_cache_paths,
                                           get_domain_extractor, load_domain_classifier,
                                           save_domain_classifier, train_domain_classifier)
from condgan.features.domain.fit import (DOMAIN_CLASSIFIER_VERSION, TRAIN_THREADS, Log, accuracy,
                                         default_schedule, fit_domain_classifier, random_translate)
from condgan.features.domain.net import NUM_FEATURES, WIDTH, DomainClassifier, DomainExtractor
from condgan.features.domain.shipped import ShippedClassifierError, find_shipped, load_shipped

__all__ = [
    "DOMAIN_CLASSIFIER_VERSION", "KEY_FIELDS", "NUM_FEATURES", "TRAIN_THREADS", "WIDTH",
    "DomainClassifier", "DomainExtractor", "ShippedClassifierError", "accuracy", "default_schedule",
    "domain_cache_key", "domain_cache_paths", "domain_extractor", "find_shipped", "fit_domain_classifier",
    "get_domain_extractor", "load_domain_classifier", "load_shipped", "random_translate",
    "save_domain_classifier", "train_domain_classifier",
]


def domain_extractor(data_cfg: DataConfig, seed: int = 0, device: str | torch.device = "cpu", cache_dir=None,
                     train_if_missing: bool = True, loader: Optional[Loader] = None,
                     threads: int = TRAIN_THREADS, log: Log = None, shipped: bool = True) -> DomainExtractor:
    """The shipped classifier for `data_cfg` when one covers these options (and `shipped`), else
    `get_domain_extractor` (cached, trained on first use). A custom `loader` means data other
    than the published data set, so it always takes the trained route."""
    if shipped and loader is None:
        entry = find_shipped(data_cfg, seed)
        if entry is not None:
            return load_shipped(entry, device)
    return get_domain_extractor(data_cfg, seed, device, cache_dir, train_if_missing,
                                loader=loader, threads=threads, log=log)


def _log_to_stderr(message: str) -> None:
    print(f"condgan: {message}", file=sys.stderr, flush=True)


@EXTRACTORS.register("domain")
def _build_domain(data_cfg: DataConfig, seed: int = 0, device="cpu", cache_dir=None,
                  train_if_missing: bool = True, loader: Optional[Loader] = None,
                  threads: int = TRAIN_THREADS, log: Log = _log_to_stderr, shipped: bool = True, **_unused):
    """Registry factory (see `domain_extractor`); options for other extractors are ignored.

    Logs to stderr by default: when no shipped classifier covers the data, this is the path
    `condgan evaluate` (and evaluation during training) takes, and the first call trains the
    classifier for up to minutes, which without a line per epoch looks like a hang. A shipped or
    cached classifier loads silently."""
    return domain_extractor(data_cfg, seed, device, cache_dir, train_if_missing, loader, threads, log, shipped)


@EXTRACTORS.register("domain-trained")
def _build_domain_trained(data_cfg: DataConfig, seed: int = 0, device="cpu", cache_dir=None, **options):
    """The classifier trained on this machine and cached, even where a shipped one exists."""
    options.pop("shipped", None)
    return _build_domain(data_cfg, seed, device, cache_dir, shipped=False, **options)
