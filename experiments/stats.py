"""Effect sizes with 95 % intervals over seeds, and the verdict every results document states.

A claim compares a metric between two settings, a and b ("AM-GAN has a lower AM Score than
AC-GAN*"), or one setting with a fixed value ("recall below 0.05"). Its effect is the difference
of the means over seeds, d = mean(a) - mean(b) (and, where both means are positive, the ratio
mean(a) / mean(b)), with a 95 % interval:

* Welch (default): d ± t_{0.975, ν} · se, se² = s_a²/n_a + s_b²/n_b, with the Welch–Satterthwaite
  degrees of freedom ν = se⁴ / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1)) (s: sample standard
  deviation, ddof = 1). It needs only each group's mean, standard deviation and n, so it can be
  computed from a committed "mean ± std over n seeds" table (`Summary`).
* one sample (b a fixed value): mean(a) - b ± t_{0.975, n-1} · s_a / √n_a.
* bootstrap (percentile, `scipy.stats.bootstrap`, independent resampling of each group, fixed
  seed): for skewed per-seed values or for the ratio. It needs the per-seed values and at least
  `MIN_BOOTSTRAP_N` of them per group: with 3 seeds a percentile bootstrap has only 10 distinct
  resamples per group and its interval is far too narrow.

Verdict of a claim "d > 0" (or "d < 0"): **holds** only when the whole interval lies on the
claimed side of zero, **does not hold** when it lies wholly on the other side, **inconclusive**
otherwise (including when a group has fewer than two seeds, where no interval exists).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence, Union

CONFIDENCE = 0.95
MIN_BOOTSTRAP_N = 5
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


@dataclass(frozen=True)
class Summary:
    """A group's mean, sample standard deviation (ddof = 1) and number of seeds: what a
    'mean ± std over n seeds' table keeps."""

    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Summary":
        values = [float(v) for v in values]
        if not values:
            raise ValueError("no values to summarize")
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))


Sample = Union[Sequence[float], Summary]


@dataclass(frozen=True)
class Effect:
    """d = mean(a) - mean(b) with its interval [low, high]; ratio = mean(a) / mean(b) with its
    interval where computed (None otherwise). `method`: 'welch', 'one-sample t' or 'bootstrap'."""

    a: Summary
    b: Summary | None  # None: compared with the fixed value `reference`
    reference: float | None
    difference: float
    low: float
    high: float
    method: str
    df: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    confidence: float = CONFIDENCE

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


def _summary(x: Sample) -> Summary:
    return x if isinstance(x, Summary) else Summary.of(x)


def _t_quantile(df: float, confidence: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def _ratio(a: Summary, b_mean: float) -> float | None:
    return a.mean / b_mean if a.mean > 0 and b_mean > 0 else None


def welch(a: Sample, b: Sample, confidence: float = CONFIDENCE) -> Effect:
    """Welch's interval of mean(a) - mean(b) (unequal variances); a, b: per-seed values or Summary."""
    sa, sb = _summary(a), _summary(b)
    d = sa.mean - sb.mean
    if sa.n < 2 or sb.n < 2:
        return Effect(sa, sb, None, d, -math.inf, math.inf, "welch", ratio=_ratio(sa, sb.mean), confidence=confidence)
    va, vb = sa.sd ** 2 / sa.n, sb.sd ** 2 / sb.n
    se = math.sqrt(va + vb)
    if se == 0.0:  # both groups constant: the difference is known exactly
        return Effect(sa, sb, None, d, d, d, "welch", ratio=_ratio(sa, sb.mean), confidence=confidence)
    df = (va + vb) ** 2 / (va ** 2 / (sa.n - 1) + vb ** 2 / (sb.n - 1))
    half = _t_quantile(df, confidence) * se
    return Effect(sa, sb, None, d, d - half, d + half, "welch", df=df, ratio=_ratio(sa, sb.mean),
                  confidence=confidence)


def one_sample(a: Sample, reference: float, confidence: float = CONFIDENCE) -> Effect:
    """Student's interval of mean(a) - reference."""
    sa = _summary(a)
    d = sa.mean - reference
    if sa.n < 2:
        return Effect(sa, None, reference, d, -math.inf, math.inf, "one-sample t", confidence=confidence)
    half = _t_quantile(sa.n - 1, confidence) * sa.sd / math.sqrt(sa.n)
    return Effect(sa, None, reference, d, d - half, d + half, "one-sample t", df=sa.n - 1.0, confidence=confidence)


def bootstrap(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, n_resamples: int = 9999,
              seed: int = 0) -> Effect:
    """Percentile-bootstrap intervals of mean(a) - mean(b) and, where both means are positive, of
    mean(a) / mean(b); each group resampled on its own (the seeds of a and b are not paired)."""
    import numpy as np
    from scipy.stats import bootstrap as scipy_bootstrap

    if isinstance(a, Summary) or isinstance(b, Summary):
        raise TypeError("the bootstrap needs the per-seed values, not a Summary")
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if min(len(xa), len(xb)) < MIN_BOOTSTRAP_N:
        raise ValueError(f"a bootstrap interval needs at least {MIN_BOOTSTRAP_N} seeds per group "
                         f"(got {len(xa)} and {len(xb)}); use the Welch interval")
    sa, sb = Summary.of(xa), Summary.of(xb)

    def interval(statistic):
        res = scipy_bootstrap((xa, xb), statistic, vectorized=True, paired=False, n_resamples=n_resamples,
                              confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    low, high = interval(lambda x, y, axis: x.mean(axis) - y.mean(axis))
    ratio = _ratio(sa, sb.mean)
    r_low = r_high = None
    if ratio is not None and (xb > 0).all():
        r_low, r_high = interval(lambda x, y, axis: x.mean(axis) / y.mean(axis))
    return Effect(sa, sb, None, sa.mean - sb.mean, low, high, "bootstrap", ratio=ratio, ratio_low=r_low,
                  ratio_high=r_high, confidence=confidence)


def effect(a: Sample, b: Sample | float, method: str = "welch", confidence: float = CONFIDENCE) -> Effect:
    """The effect of a claim: `b` a group (per-seed values or Summary) or a fixed value."""
    if isinstance(b, (int, float)):
        if method == "bootstrap":
            raise ValueError("the comparison with a fixed value uses the one-sample t interval")
        return one_sample(a, float(b), confidence)
    if method == "welch":
        return welch(a, b, confidence)
    if method == "bootstrap":
        return bootstrap(a, b, confidence)
    raise ValueError(f"unknown interval method '{method}' (choose welch or bootstrap)")


def verdict(e: Effect, claimed: str) -> str:
    """'holds' / 'does not hold' / 'inconclusive' for the claim d > 0 (claimed='higher') or d < 0
    (claimed='lower'), by where the interval lies."""
    if claimed not in ("higher", "lower"):
        raise ValueError(f"claimed must be 'higher' or 'lower', got '{claimed}'")
    if not e.defined:
        return INCONCLUSIVE
    above, below = e.low > 0, e.high < 0
    if claimed == "higher":
        return HOLDS if above else DOES_NOT_HOLD if below else INCONCLUSIVE
    return HOLDS if below else DOES_NOT_HOLD if above else INCONCLUSIVE


def _decimals(*scales: float) -> int:
    """Decimals that show the smallest positive spread among `scales` (standard deviations, the
    interval's half-width) to two significant digits, between 1 and 3."""
    finite = [abs(x) for x in scales if math.isfinite(x) and x != 0]
    if not finite:
        return 3
    return max(1, min(3, 1 - math.floor(math.log10(min(finite)))))


def fmt(x: float, decimals: int, sign: bool = False) -> str:
    if not math.isfinite(x):
        return "-inf" if x < 0 else "+inf"
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


def describe(e: Effect, claimed: str, a_label: str = "a", b_label: str = "b") -> str:
    """'a 0.316 ± 0.050 vs b 0.218 ± 0.116 (3 / 3 seeds): difference +0.098, 95 % CI [-0.19,
    +0.39] (welch), claimed > 0: **inconclusive**' — the text every verdict line carries, in a
    format tests/test_docs.py parses back (interval and claimed direction decide the verdict)."""
    spreads = [e.a.sd, (e.high - e.low) / 2 if e.defined else 0.0] + ([e.b.sd] if e.b is not None else [])
    dec = _decimals(*spreads)
    def group(label, s: Summary) -> str:
        return f"{label} {fmt(s.mean, dec)}" + (f" ± {fmt(s.sd, dec)}" if s.n > 1 else "")

    left = group(a_label, e.a)
    if e.b is not None:
        right = f"{group(b_label, e.b)} ({e.a.n} / {e.b.n} seeds)"
    else:
        right = f"{fmt(e.reference, dec)} ({e.a.n} seeds)"
    text = (f"{left} vs {right}: difference {fmt(e.difference, dec, sign=True)}, "
            f"{e.confidence * 100:g} % CI [{fmt(e.low, dec, sign=True)}, {fmt(e.high, dec, sign=True)}] ({e.method})")
    if e.ratio is not None and e.ratio_low is not None:
        text += f", ratio {e.ratio:.3f} [{e.ratio_low:.3f}, {e.ratio_high:.3f}]"
    elif e.ratio is not None and e.b is not None:
        text += f", ratio {e.ratio:.3f}"
    return text + f", claimed {'>' if claimed == 'higher' else '<'} 0: **{verdict(e, claimed)}**"
