"""Label-level metrics: conditional accuracy, class-histogram TV, clustering ACC / NMI / ARI."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from condgan.metrics import METRICS, MetricInputs

# five fakes of 3 classes; argmax predictions are [0, 1, 1, 2, 0]
PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
TARGETS = torch.tensor([0, 1, 2, 2, 1])


def test_conditional_accuracy_on_hand_made_predictions():
    out = METRICS.get("conditional_accuracy")(MetricInputs(fake_probs=PROBS, fake_labels=TARGETS))
    assert out == {"conditional_accuracy": pytest.approx(3 / 5)}


def test_class_tv_against_requested_mix_and_against_target_histogram():
    # predicted histogram (0.4, 0.4, 0.2)
    requested = torch.tensor([0.5, 0.25, 0.25])
    out = METRICS.get("class_tv")(MetricInputs(fake_probs=PROBS, requested_class_marginal=requested))
    assert out["class_tv"] == pytest.approx(0.5 * (0.1 + 0.15 + 0.05))
    # without a requested mix: the histogram of the targets, (0.2, 0.4, 0.4)
    out = METRICS.get("class_tv")(MetricInputs(fake_probs=PROBS, fake_labels=TARGETS))
    assert out["class_tv"] == pytest.approx(0.5 * (0.2 + 0.0 + 0.2))
    # a perfect match is 0, disjoint support is 1
    assert METRICS.get("class_tv")(MetricInputs(fake_probs=PROBS, requested_class_marginal=torch.tensor(
        [2.0, 2.0, 1.0])))["class_tv"] == pytest.approx(0.0)
    one_class = torch.tensor([[1.0, 0, 0]] * 4)
    assert METRICS.get("class_tv")(MetricInputs(fake_probs=one_class, requested_class_marginal=torch.tensor(
        [0.0, 0.5, 0.5])))["class_tv"] == pytest.approx(1.0)


def brute_force_acc(pred, true):
    """Best accuracy over one-to-one matchings of clusters and classes, by enumeration
    (the smaller side is mapped injectively into the larger)."""
    clusters, classes = list(np.unique(pred)), list(np.unique(true))
    if len(clusters) <= len(classes):
        maps = (dict(zip(clusters, image)) for image in itertools.permutations(classes, len(clusters)))
    else:
        maps = (dict(zip(image, classes)) for image in itertools.permutations(clusters, len(classes)))
    best = max(sum(m.get(p, -1) == t for p, t in zip(pred, true)) for m in maps)
    return best / len(pred)


def clustering(pred, true):
    return METRICS.get("clustering")(MetricInputs(predicted_clusters=torch.as_tensor(pred),
                                                  real_labels=torch.as_tensor(true)))


@pytest.mark.parametrize("k_true,k_pred,seed", [(3, 3, 0), (4, 4, 1), (5, 5, 2), (3, 5, 3), (4, 2, 4)])
def test_cluster_acc_equals_brute_force_permutation_search(k_true, k_pred, seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(k_true, size=120)
    # a noisy, shuffled clustering: half the points follow a random relabeling, half are random
    relabel = rng.permutation(max(k_true, k_pred))[:k_true] % k_pred
    pred = np.where(rng.random(120) < 0.5, relabel[true], rng.integers(k_pred, size=120))
    assert clustering(pred, true)["cluster_acc"] == pytest.approx(brute_force_acc(pred, true))


def test_clustering_scores_are_invariant_to_renaming_clusters():
    rng = np.random.default_rng(5)
    true = rng.integers(4, size=200)
    pred = np.where(rng.random(200) < 0.7, true, rng.integers(4, size=200))
    renamed = np.array([7, 3, 9, 1])[pred]
    a, b = clustering(pred, true), clustering(renamed, true)
    assert a == pytest.approx(b)
    assert 0 < a["cluster_nmi"] < 1 and 0 < a["cluster_ari"] < 1
    perfect = clustering(np.array([2, 0, 3, 1])[true], true)
    assert perfect == pytest.approx({"cluster_acc": 1.0, "cluster_nmi": 1.0, "cluster_ari": 1.0})


@pytest.mark.parametrize(
    "case", ["noisy", "more_clusters", "one_cluster", "singletons", "both_trivial", "independent"]
)
def test_nmi_and_ari_match_sklearn(case):
    rng = np.random.default_rng(6)
    true = rng.integers(5, size=300)
    pred = {
        "noisy": np.where(rng.random(300) < 0.6, true, rng.integers(5, size=300)),
        "more_clusters": true * 2 + rng.integers(2, size=300),
        "one_cluster": np.zeros(300, dtype=int),
        "singletons": np.arange(300),
        "both_trivial": np.zeros(300, dtype=int),
        "independent": np.repeat(np.arange(5), 60),
    }[case]
    if case == "both_trivial":
        true = np.full(300, 3)
    if case == "independent":  # every cluster holds every class equally: I = 0
        true = np.tile(np.arange(5), 60)
    out = clustering(pred, true)
    assert out["cluster_nmi"] == pytest.approx(normalized_mutual_info_score(true, pred), abs=1e-12)
    assert out["cluster_ari"] == pytest.approx(adjusted_rand_score(true, pred), abs=1e-12)
