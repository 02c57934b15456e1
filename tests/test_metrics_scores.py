"""Inception Score and AM Score: torchmetrics, hand formulas and the seed-003 identities."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.image.inception import InceptionScore

from condgan.metrics import METRICS, MetricInputs
from condgan.metrics.base import canonical_order


def soft_probs(n, k, seed, sharpness=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharpness * torch.randn(n, k, generator=g, dtype=torch.float64), 1)


def one_hot_modes(modes, per_mode, k=10):
    """One-hot predictions spread uniformly over the first `modes` of k classes."""
    return torch.nn.functional.one_hot(torch.arange(modes).repeat_interleave(per_mode), k).double()


def numpy_is(p):
    """exp(mean_x Σ_k p_k (log p_k − log p̄_k)) on soft (strictly positive) probabilities."""
    p = np.asarray(p, np.float64)
    return math.exp((p * (np.log(p) - np.log(p.mean(0)))).sum(1).mean())


def inception_score(probs, **opts):
    return METRICS.get("is")(MetricInputs(fake_probs=probs), **opts)


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save", "ignore:std\\(\\)")
def test_is_matches_torchmetrics_on_one_split():
    probs = soft_probs(700, 10, seed=0)
    tm = InceptionScore(feature=torch.nn.Identity(), splits=1)
    tm.update(probs.log())  # torchmetrics applies softmax to its features: softmax(log p) = p
    ours = inception_score(probs, splits=1)
    assert ours["is"] == pytest.approx(float(tm.compute()[0]), rel=1e-10)
    assert ours["is"] == pytest.approx(numpy_is(probs), rel=1e-10)


def test_is_splits_follow_the_reference_split_arithmetic():
    probs = soft_probs(1003, 7, seed=1)
    n, splits = probs.shape[0], 10
    parts = [numpy_is(probs[i * n // splits:(i + 1) * n // splits]) for i in range(splits)]
    out = inception_score(probs, splits=splits, shuffle=False)
    assert out["is"] == pytest.approx(np.mean(parts), rel=1e-10)
    assert out["is_std"] == pytest.approx(np.std(parts), rel=1e-8)
    # shuffling is a seeded permutation of the rows, in their canonical order, before splitting
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    shuffled = METRICS.get("is")(MetricInputs(fake_probs=probs, seed=3), splits=splits)
    assert shuffled == inception_score(probs[canonical_order(probs)][perm], splits=splits, shuffle=False)


def test_is_equals_entropy_decomposition_of_seed_003_eq_22():
    # E_x KL(C(x) ‖ C̄) = H(C̄) − E_x H(C(x))
    p = soft_probs(500, 10, seed=2).numpy()
    h = lambda q: -(q * np.log(q)).sum(-1)  # noqa: E731
    log_is = math.log(inception_score(torch.from_numpy(p), splits=1)["is"])
    assert log_is == pytest.approx(h(p.mean(0)) - h(p).mean(), rel=1e-10)


def test_is_counts_modes_and_drops_monotonically_as_modes_vanish():
    scores = [inception_score(one_hot_modes(m, 30), splits=1)["is"] for m in range(10, 0, -1)]
    assert scores == pytest.approx(list(range(10, 0, -1)), rel=1e-12)  # one-hot uniform: IS = #modes
    assert all(a > b for a, b in zip(scores, scores[1:]))


def am_score(probs, prior):
    return METRICS.get("am_score")(MetricInputs(fake_probs=probs, train_class_marginal=prior))


def test_am_score_matches_hand_formula_with_an_uneven_prior():
    probs = soft_probs(400, 5, seed=4)
    prior = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05], dtype=torch.float64)
    p, q = probs.numpy(), prior.numpy()
    kl = (q * np.log(q / p.mean(0))).sum()  # KL(C̄_train ‖ C̄_G): the train prior comes first
    ent = -(p * np.log(p)).sum(1).mean()
    out = am_score(probs, prior)
    assert out["am_score/kl"] == pytest.approx(kl, rel=1e-10)
    assert out["am_score/entropy"] == pytest.approx(ent, rel=1e-10)
    assert out["am_score"] == pytest.approx(kl + ent, rel=1e-10)
    # the prior may be given as counts
    assert am_score(probs, prior * 1000) == out


def test_am_score_is_zero_when_one_hot_fakes_match_the_train_marginal():
    prior = torch.tensor([0.5, 0.3, 0.2])
    probs = torch.nn.functional.one_hot(torch.tensor([0] * 5 + [1] * 3 + [2] * 2), 3).double()
    assert am_score(probs, prior)["am_score"] == pytest.approx(0.0, abs=1e-12)


def test_am_score_is_positive_when_a_class_is_dropped():
    prior = torch.full((4,), 0.25)
    labels = torch.tensor([0, 1, 2] * 20)  # class 3 never generated
    smooth = 0.97 * torch.nn.functional.one_hot(labels, 4).double() + 0.03 / 4
    out = am_score(smooth, prior)
    assert 0 < out["am_score"] < math.inf and out["am_score/kl"] > 0.5
    # with exactly zero predicted mass the KL (and the score) is infinite, as the formula says
    assert am_score(torch.nn.functional.one_hot(labels, 4).double(), prior)["am_score"] == math.inf


def test_is_with_fewer_fakes_than_splits_uses_one_part_per_fake():
    # 10 splits of 3 fakes used to leave 7 empty parts and return NaN
    probs = soft_probs(3, 5, seed=4)
    out = inception_score(probs, splits=10)
    # min(10, 3) = 3 parts of one fake each: KL(p ‖ p) = 0, so IS = 1 in each part
    assert out == {"is": 1.0, "is_std": 0.0}
    four = soft_probs(4, 5, seed=5)
    assert inception_score(four, splits=4, shuffle=False) == inception_score(four, splits=9, shuffle=False)


def test_is_without_fakes_or_splits_is_an_error():
    from condgan.errors import CondganError

    with pytest.raises(CondganError, match="splits=10 and 0 fakes"):
        inception_score(soft_probs(0, 5, seed=0), splits=10)
    with pytest.raises(CondganError, match="splits=0"):
        inception_score(soft_probs(5, 5, seed=0), splits=0)
