"""experiments/stats.py: the intervals against scipy on hand-made numbers, and the verdict rule."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import stats  # noqa: E402

A = [0.316, 0.402, 0.281]
B = [0.218, 0.095, 0.341, 0.190]


def test_welch_matches_scipy_ttest_ind():
    e = stats.welch(A, B)
    ref = sps.ttest_ind(A, B, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert e.difference == pytest.approx(np.mean(A) - np.mean(B))
    assert (e.low, e.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert e.df == pytest.approx(ref.df, rel=1e-10)


def test_welch_from_summary_matches_per_seed_values():
    """A committed 'mean ± std over n seeds' row gives the same interval as the seeds themselves."""
    e = stats.welch(stats.Summary.of(A), stats.Summary(float(np.mean(B)), float(np.std(B, ddof=1)), len(B)))
    assert (e.low, e.high) == pytest.approx((stats.welch(A, B).low, stats.welch(A, B).high), rel=1e-10)
    t = sps.ttest_ind_from_stats(np.mean(A), np.std(A, ddof=1), 3, np.mean(B), np.std(B, ddof=1), 4, equal_var=False)
    # the interval's edge is where the two-sided p-value is 0.05: the p-value of 0 in the interval
    assert (t.pvalue > 0.05) == (e.low < 0 < e.high)


def test_one_sample_matches_scipy_ttest_1samp():
    e = stats.one_sample(A, 0.05)
    ci = sps.ttest_1samp(A, 0.05).confidence_interval(0.95)  # scipy's: of the mean itself
    assert (e.low, e.high) == pytest.approx((ci.low - 0.05, ci.high - 0.05), rel=1e-10)
    assert e.difference == pytest.approx(np.mean(A) - 0.05)


def test_one_sample_interval_is_of_the_difference():
    ci = sps.ttest_1samp(np.asarray(A) - 0.3, 0.0).confidence_interval(0.95)
    e = stats.effect(A, 0.3)
    assert (e.low, e.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert e.method == "one-sample t"


def test_other_confidence_levels_match_scipy():
    ci = sps.ttest_ind(A, B, equal_var=False).confidence_interval(0.9)
    e = stats.welch(A, B, confidence=0.9)
    assert (e.low, e.high) == pytest.approx((ci.low, ci.high), rel=1e-10)


@pytest.mark.parametrize("claimed,low,high,expected", [
    ("higher", 0.1, 0.5, "holds"), ("higher", -0.5, -0.1, "does not hold"), ("higher", -0.1, 0.5, "inconclusive"),
    ("lower", -0.5, -0.1, "holds"), ("lower", 0.1, 0.5, "does not hold"), ("lower", -0.1, 0.5, "inconclusive"),
    ("lower", -math.inf, math.inf, "inconclusive"), ("higher", 0.0, 0.3, "inconclusive"),
])
def test_verdict_rule(claimed, low, high, expected):
    s = stats.Summary(1.0, 0.1, 3)
    e = stats.Effect(s, s, None, (low + high) / 2 if math.isfinite(low) else 0.0, low, high, "welch")
    assert stats.verdict(e, claimed) == expected


def test_differences_smaller_than_the_seed_spread_are_inconclusive():
    """The seed-004 case: D2D-CE 289.122 ± 1.494 vs no margins 289.246 ± 2.231 (3 seeds each)."""
    e = stats.welch(stats.Summary(289.122, 1.494, 3), stats.Summary(289.246, 2.231, 3))
    assert e.low < 0 < e.high
    assert stats.verdict(e, "lower") == "inconclusive"
    # ... while a difference of many standard errors holds: 263.7 ± 7.0 vs 289.1 ± 1.5.
    e = stats.welch(stats.Summary(263.722, 6.967, 3), stats.Summary(289.122, 1.494, 3))
    assert stats.verdict(e, "lower") == "holds" and stats.verdict(e, "higher") == "does not hold"


def test_single_seed_has_no_interval():
    e = stats.welch([1.0], [0.0, 0.1, 0.2])
    assert not e.defined and stats.verdict(e, "higher") == "inconclusive"


def test_constant_groups_give_the_exact_difference():
    e = stats.welch([2.0, 2.0, 2.0], [1.0, 1.0])
    assert (e.low, e.high) == (1.0, 1.0) and stats.verdict(e, "higher") == "holds"


def test_ratio_of_means():
    e = stats.welch([2.0, 4.0], [1.0, 3.0])
    assert e.ratio == pytest.approx(1.5)
    assert stats.welch([-1.0, 1.0], [1.0, 2.0]).ratio is None  # not natural for a mean <= 0


def test_bootstrap_is_deterministic_and_close_to_welch_with_many_seeds():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 40).tolist(), rng.normal(0.0, 2.0, 50).tolist()
    e1, e2 = stats.bootstrap(a, b, seed=3), stats.bootstrap(a, b, seed=3)
    assert (e1.low, e1.high) == (e2.low, e2.high)
    w = stats.welch(a, b)
    assert e1.low == pytest.approx(w.low, abs=0.15) and e1.high == pytest.approx(w.high, abs=0.15)
    assert e1.ratio_low is None  # b's values are not all positive: no ratio interval


def test_bootstrap_ratio_interval_contains_the_ratio():
    a, b = [10.0, 12.0, 11.0, 13.0, 9.0], [5.0, 6.0, 5.5, 6.5, 4.5]
    e = stats.bootstrap(a, b)
    assert e.ratio == pytest.approx(2.0) and e.ratio_low <= 2.0 <= e.ratio_high
    # Every resampled mean lies within the groups' ranges: the ratio interval does too.
    assert 9 / 6.5 <= e.ratio_low and e.ratio_high <= 13 / 4.5


def test_bootstrap_refuses_too_few_seeds():
    with pytest.raises(ValueError, match="at least"):
        stats.bootstrap([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(TypeError):
        stats.bootstrap(stats.Summary(1, 1, 9), [1.0] * 9)


def test_describe_states_interval_direction_and_verdict():
    text = stats.describe(stats.welch(A, B), "higher", "with", "without")
    assert "95 % CI [" in text and "claimed > 0" in text and text.endswith("**inconclusive**")
    assert text.startswith("with 0.33") and "(3 / 4 seeds)" in text
    one = stats.describe(stats.one_sample([0.249, 0.18, 0.31], 0.05), "lower", "vanilla")
    assert "claimed < 0: **does not hold**" in one
