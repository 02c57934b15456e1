"""Accuracies of classifiers trained on one set and tested on the real test split.

CAS, the Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score
for Conditional Generative Models", §3): a classifier trained *only on a generator's labeled
fakes* (x', y') is tested on the real test images; its accuracy says whether the fakes carry
what a classifier needs about every class (a collapsed or off-class generator scores low even
with a good FID). The same recipe trained on real train images gives the real-data row's CAS
(its ceiling at that training-set size).

Linear probe (the protocol of representation learning, e.g. Donahue et al. 2017, "Adversarial
Feature Learning", §4.1; Donahue & Simonyan 2019, §3): a linear (multinomial logistic)
classifier trained on an encoder's codes E(x) of the labeled real train split, tested on the
codes of the test split.

The classifiers are trained by condgan.evaluation (cas.py, encoder.py); the metrics here are
their accuracy on the test split, 1/N_t Σ_i 1[argmax_k p_ik = y_i].
"""

from __future__ import annotations

import torch

from condgan.metrics.base import MetricInputs, register_metric


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(1).cpu() == labels.cpu().long()).double().mean())


@register_metric("cas", needs={"cas_probs", "test_labels"}, higher_is_better={"cas": True})
def classification_accuracy_score(inputs: MetricInputs) -> dict[str, float]:
    """Accuracy on the real test split of the classifier trained on the fakes."""
    return {"cas": accuracy(inputs.cas_probs, inputs.test_labels)}


@register_metric("linear_probe", needs={"probe_probs", "test_labels"}, higher_is_better={"linear_probe_acc": True})
def linear_probe(inputs: MetricInputs) -> dict[str, float]:
    """Accuracy on the real test split of the linear classifier on the encoder's codes."""
    return {"linear_probe_acc": accuracy(inputs.probe_probs, inputs.test_labels)}
