"""Feature extractors for evaluation (docs/evaluation.md): the interface and registry live in `base`,
the data set's own classifier in `domain` (shipped for the embedded data sets, else trained and
cached), the FID Inception-V3 in `inception`.

Importing this package registers the extractors in `EXTRACTORS` ("domain", "domain-trained",
"inception").
"""

from condgan.features.base import (
    EXTRACTORS,
    adapt_channels,
    build_extractor,
    cache_root,
    extract,
    iter_extract,
    resolve_device,
)
from condgan.features.domain import (
    DOMAIN_CLASSIFIER_VERSION,
    DomainClassifier,
    DomainExtractor,
    domain_cache_key,
    domain_cache_paths,
    fit_domain_classifier,
    get_domain_extractor,
    train_domain_classifier,
)
from condgan.features.inception import (
    FIDInceptionV3,
    InceptionExtractor,
    download_inception_weights,
    find_inception_weights,
    load_inception_extractor,
)

__all__ = [
    "EXTRACTORS", "adapt_channels", "build_extractor", "cache_root", "extract", "iter_extract",
    "resolve_device", "DOMAIN_CLASSIFIER_VERSION", "DomainClassifier", "DomainExtractor",
    "domain_cache_key", "domain_cache_paths", "fit_domain_classifier", "get_domain_extractor",
    "train_domain_classifier", "FIDInceptionV3", "InceptionExtractor", "download_inception_weights",
    "find_inception_weights", "load_inception_extractor",
]
