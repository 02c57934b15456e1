"""Clustering quality of discovered classes on labeled real test data (SPEC §6).

For `classifier` / `infogan` / `dynamic` labeling modes, Q (or D's class head) assigns each real
test image a cluster id c_i; the true class is y_i.

ACC (unsupervised clustering accuracy, e.g. Xie et al. 2016, DEC):

    ACC = max_{m} 1/N Σ_i 1[m(c_i) = y_i]

over one-to-one maps m from clusters to classes, found with the Hungarian algorithm
(scipy.optimize.linear_sum_assignment) on the contingency matrix W[c, y] = #{i: c_i = c, y_i = y},
maximising the matched count. The matrix may be rectangular (more clusters than classes): then
unmatched clusters count as errors.

NMI (arithmetic-mean normalisation) and ARI are sklearn.metrics' normalized_mutual_info_score
and adjusted_rand_score; all three are invariant to renaming the clusters.
"""

from __future__ import annotations

import numpy as np

from condgan.metrics.base import MetricInputs, register_metric


def contingency(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """W[c, y] = number of samples with cluster c and class y (ids remapped to 0..n−1)."""
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(true, return_inverse=True)
    w = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(w, (p, t), 1)
    return w


def hungarian_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment  # lazy: keep `import condgan.metrics` light

    w = contingency(pred, true)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum() / len(pred))


@register_metric(
    "clustering",
    needs={"predicted_clusters", "real_labels"},
    higher_is_better={"cluster_acc": True, "cluster_nmi": True, "cluster_ari": True},
)
def clustering(inputs: MetricInputs) -> dict[str, float]:
    """Hungarian-matched accuracy, NMI and ARI of predicted clusters against true classes."""
    # sklearn.metrics costs ~90 MB of imports; only pay it when clustering is evaluated
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pred = inputs.predicted_clusters.detach().cpu().numpy()
    true = inputs.real_labels.detach().cpu().numpy()
    return {
        "cluster_acc": hungarian_accuracy(pred, true),
        "cluster_nmi": float(normalized_mutual_info_score(true, pred)),
        "cluster_ari": float(adjusted_rand_score(true, pred)),
    }
