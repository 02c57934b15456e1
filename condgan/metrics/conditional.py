"""Does G obey the label? Conditional accuracy and class-distribution distance (SPEC §6).

Both use the classifier's decision ŷ(x') = argmax_k C(x')_k on each fake x' = G(z, y').

conditional accuracy = 1/N_f Σ_i 1[ŷ(x'_i) = y'_i]

class-distribution distance (seed 001 §6.3, the class-imbalanced mixed-batch experiment):
total variation between the predicted class histogram of the fakes and the requested class mix,

    class_tv = ½ Σ_k | h_k − q_k |,   h_k = 1/N_f Σ_i 1[ŷ(x'_i) = k]

q is `requested_class_marginal` or, when absent, the histogram of the target labels y'.
"""

from __future__ import annotations

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, as_distribution, register_metric


@register_metric("conditional_accuracy", needs={"fake_probs", "fake_labels"},
                 higher_is_better={"conditional_accuracy": True})
def conditional_accuracy(inputs: MetricInputs) -> dict[str, float]:
    """Accuracy of argmax C(x') against the target labels y'."""
    pred = inputs.fake_probs.argmax(1).cpu()
    return {"conditional_accuracy": float((pred == inputs.fake_labels.cpu().long()).double().mean())}


@register_metric("class_tv", needs={"fake_probs", "requested_class_marginal|fake_labels"},
                 higher_is_better={"class_tv": False})
def class_tv(inputs: MetricInputs) -> dict[str, float]:
    """Total variation between the predicted class histogram of the fakes and the requested mix."""
    num_classes = inputs.fake_probs.shape[1]
    if inputs.requested_class_marginal is not None:
        q = as_distribution(inputs.requested_class_marginal, "requested_class_marginal")
    else:
        q = as_distribution(torch.bincount(inputs.fake_labels.cpu().long(), minlength=num_classes), "fake_labels")
    if q.shape[0] != num_classes:
        raise CondganError(f"requested class mix has {q.shape[0]} classes but fake_probs {num_classes}")
    h = torch.bincount(inputs.fake_probs.argmax(1).cpu(), minlength=num_classes).double()
    return {"class_tv": float(0.5 * (h / h.sum() - q).abs().sum())}
