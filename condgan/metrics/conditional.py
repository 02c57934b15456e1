"""Does G obey the label? Conditional accuracy and class-distribution distance (docs/evaluation.md).

Both use the classifier's decision ŷ(x') = argmax_k C(x')_k on each fake x' = G(z, y').

conditional accuracy = 1/N_f Σ_i 1[ŷ(x'_i) = y'_i]

class-distribution distance (seed 001 §6.3, the class-imbalanced mixed-batch experiment):
total variation between the predicted class histogram of the fakes and the requested class mix,

    class_tv = ½ Σ_k | h_k − q_k |,   h_k = 1/N_f Σ_i 1[ŷ(x'_i) = k]

q is `requested_class_marginal` or, when absent, the histogram of the target labels y'.

attribute accuracy (multi-label data: G gets a multi-hot attribute vector a' ∈ {0,1}^M and a
multi-label classifier gives per-attribute probabilities p(x')_m = sigmoid(logit_m)):

    attribute_accuracy   = 1/(N_f M) Σ_i Σ_m 1[(p(x'_i)_m > ½) = a'_im]
    attribute_accuracy/m = 1/N_f Σ_i 1[(p(x'_i)_m > ½) = a'_im]      (one key per attribute index m)

All three read the classifier in the data set's own classes / attributes (data_classes=True).
"""

from __future__ import annotations

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, as_distribution, register_metric


@register_metric("conditional_accuracy", needs={"fake_probs", "fake_labels"},
                 higher_is_better={"conditional_accuracy": True}, data_classes=True)
def conditional_accuracy(inputs: MetricInputs) -> dict[str, float]:
    """Accuracy of argmax C(x') against the target labels y'."""
    pred = inputs.fake_probs.argmax(1).cpu()
    return {"conditional_accuracy": float((pred == inputs.fake_labels.cpu().long()).double().mean())}


@register_metric("class_tv", needs={"fake_probs", "requested_class_marginal|fake_labels"},
                 higher_is_better={"class_tv": False}, data_classes=True)
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


@register_metric("attribute_accuracy", needs={"fake_attribute_probs", "fake_attributes"},
                 higher_is_better={"attribute_accuracy": True}, data_classes=True)
def attribute_accuracy(inputs: MetricInputs) -> dict[str, float]:
    """Per-attribute agreement of the classifier's decisions (p > ½) with the requested attributes."""
    pred = inputs.fake_attribute_probs.detach().cpu() > 0.5
    want = inputs.fake_attributes.detach().cpu() > 0.5
    if pred.shape != want.shape:
        raise CondganError(f"fake_attribute_probs {tuple(pred.shape)} and fake_attributes "
                           f"{tuple(want.shape)} must have the same shape")
    per = (pred == want).double().mean(0)
    return {"attribute_accuracy": float(per.mean()), **{f"attribute_accuracy/{m}": float(v) for m, v in enumerate(per)}}
