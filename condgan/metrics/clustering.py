"""Clustering quality of discovered classes on labeled real test data (docs/evaluation.md).

For `classifier` / `infogan` / `dynamic` labeling modes, Q (or D's class head) assigns each real
test image a cluster id c_i; the true class is y_i.

ACC (unsupervised clustering accuracy, e.g. Xie et al. 2016, DEC):

    ACC = max_{m} 1/N Σ_i 1[m(c_i) = y_i]

over one-to-one maps m from clusters to classes, found with the Hungarian algorithm
(scipy.optimize.linear_sum_assignment) on the contingency matrix W[c, y] = #{i: c_i = c, y_i = y},
maximising the matched count. The matrix may be rectangular (more clusters than classes): then
unmatched clusters count as errors.

NMI and ARI are computed from the same matrix (n = N, a_c = Σ_y W[c, y], b_y = Σ_c W[c, y]):

    NMI = I(c; y) / ((H(c) + H(y)) / 2),   I = Σ_{c,y} W/n · log(n W / (a_c b_y))
    (Strehl & Ghosh 2002, arithmetic normalisation; 1 when both sides are a single group, 0 when
    I = 0), and ARI (Hubert & Arabie 1985) in its pair-counting form
    ARI = 2 (tp·tn − fn·fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn))
    over ordered pairs of samples (1 when the two partitions agree on every pair).

These are exactly sklearn.metrics' normalized_mutual_info_score (average_method="arithmetic") and
adjusted_rand_score, which the tests check; computing them here avoids importing sklearn.metrics
(~90 MB, ~1 s) on every evaluation. All three are invariant to renaming the clusters.
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


def hungarian_accuracy(w: np.ndarray) -> float:
    """ACC from the contingency matrix: the best one-to-one matching's share of samples."""
    from scipy.optimize import linear_sum_assignment  # lazy: keep `import condgan.metrics` light

    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum() / w.sum())


def nmi_from_contingency(w: np.ndarray) -> float:
    if w.shape[0] == w.shape[1] == 1:
        return 1.0  # both sides a single group: a perfect (trivial) match, as sklearn
    n = w.sum()
    a, b = w.sum(1), w.sum(0)
    c, y = np.nonzero(w)
    nz = w[c, y].astype(np.float64)
    mi = max(float((nz / n * (np.log(nz) + np.log(n) - np.log(a[c]) - np.log(b[y]))).sum()), 0.0)
    if mi == 0.0:
        return 0.0

    def entropy(counts):
        p = counts[counts > 0] / n
        return float(-(p * np.log(p)).sum())

    return mi / ((entropy(a) + entropy(b)) / 2)


def ari_from_contingency(w: np.ndarray) -> float:
    # ordered-pair counts; Python ints because tp·tn overflows int64 from ~10^5 samples
    n = int(w.sum())
    same_both = int((w.astype(np.int64) ** 2).sum())
    same_c = int((w.sum(1).astype(np.int64) ** 2).sum())
    same_y = int((w.sum(0).astype(np.int64) ** 2).sum())
    tp = same_both - n
    fp = same_c - same_both  # same cluster, different class
    fn = same_y - same_both  # same class, different cluster
    tn = n * n - same_c - same_y + same_both
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


@register_metric(
    "clustering",
    needs={"predicted_clusters", "real_labels"},
    higher_is_better={"cluster_acc": True, "cluster_nmi": True, "cluster_ari": True},
)
def clustering(inputs: MetricInputs) -> dict[str, float]:
    """Hungarian-matched accuracy, NMI and ARI of predicted clusters against true classes."""
    w = contingency(inputs.predicted_clusters.detach().cpu().numpy(), inputs.real_labels.detach().cpu().numpy())
    return {
        "cluster_acc": hungarian_accuracy(w),
        "cluster_nmi": nmi_from_contingency(w),
        "cluster_ari": ari_from_contingency(w),
    }
