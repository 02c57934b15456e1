"""The linear probe of a run with an encoder (`model.encoder`, BiGAN / BigBiGAN) in `condgan
evaluate`: how linearly separable the data's classes are in the encoder's codes.

A multinomial logistic regression (scikit-learn, L-BFGS, L2 with C = 1, on codes standardized
with the train codes' mean and standard deviation) is fitted to the codes E(x) of the labeled
real train split and tested on the codes of the test split (`linear_probe_acc`, the metric
`linear_probe` of condgan.metrics.transfer). The train split is the run's data without
`data.class_fractions` and with its labels (`data.unlabeled` only hides them from training).
"""

from __future__ import annotations

import torch

from condgan.evaluation.reference import reference_data_config
from condgan.metrics import MetricInputs, compute_metrics
from condgan.training.encoder_clusters import encode

MAX_ITER = 2000


def probe_probabilities(train_codes, train_labels, test_codes) -> torch.Tensor:
    """(N_test, K) probabilities of the logistic regression fitted on the train codes."""
    from sklearn.linear_model import LogisticRegression

    mean, std = train_codes.mean(0), train_codes.std(0).clamp_min(1e-8)
    model = LogisticRegression(max_iter=MAX_ITER).fit(((train_codes - mean) / std).double().numpy(),
                                                      train_labels.numpy())
    probs = torch.zeros(len(test_codes), int(train_labels.max()) + 1, dtype=torch.float64)
    probs[:, torch.as_tensor(model.classes_)] = torch.from_numpy(
        model.predict_proba(((test_codes - mean) / std).double().numpy()))
    return probs.float()


def linear_probe_metrics(trained, device) -> dict[str, float]:
    """{'linear_probe_acc': ...} of the run's encoder; {} when the data has no single labels."""
    from condgan.data import load_dataset

    cfg = reference_data_config(trained.cfg.data)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    if train.labels is None or train.multi_label or len(test) == 0:
        return {}
    probs = probe_probabilities(encode(trained.encoder, train.images, device), train.labels,
                                encode(trained.encoder, test.images, device))
    return compute_metrics(MetricInputs(test_labels=test.labels, probe_probs=probs), ["linear_probe"])
