"""The Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score for
Conditional Generative Models", §3; the metric `cas`, condgan.metrics.transfer): a classifier
trained on labeled images — a class-conditional generator's fakes (x', y'), or for the real-data
row real train images — and tested on the real test split.

The classifier is the domain classifier's network and recipe (condgan.features.domain.fit: a
small CNN, Adam with a one-cycle schedule, ~300 steps, random 1-px translations), trained from
scratch with the evaluation seed on exactly the given images: the fakes are stored as 8-bit
images first, as a saved PNG would hold them. The test split is the run's data without
`data.class_fractions` (every class as the data set has it).
"""

from __future__ import annotations

import torch

from condgan.data.base import ImageData
from condgan.evaluation.reference import reference_data_config
from condgan.features import extract
from condgan.features.domain.fit import fit_domain_classifier
from condgan.features.domain.net import DomainExtractor

BATCH = 1024


def test_split(data_cfg) -> ImageData:
    from condgan.data import load_dataset

    return load_dataset(reference_data_config(data_cfg), "test")


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()


def cas_probabilities(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], data_cfg, seed: int,
                      device) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities on the test split, its labels) of a classifier trained on (images, labels);
    images in [-1, 1] or uint8."""
    test = test_split(data_cfg)
    train = ImageData(from_uint8(images), labels.long().cpu(), list(class_names))
    with torch.enable_grad():  # evaluation runs under no_grad; this is a training
        model, _ = fit_domain_classifier(train, None, seed=seed, device=device)
    view = DomainExtractor(model, {"image_size": list(test.sample_shape[1:])})
    logits = extract(view, test, BATCH, keys=["logits"])["logits"]
    return logits.float().softmax(1), test.labels
