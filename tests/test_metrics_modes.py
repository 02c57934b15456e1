"""Modes recovered / high-quality fraction (`modes`) against a hand-counted case and on the
synthetic ring: a perfect generator recovers every mode, a collapsed one a single mode."""

from __future__ import annotations

import pytest
import torch

from condgan.config import DataConfig
from condgan.data import load_dataset
from condgan.errors import CondganError
from condgan.metrics import METRICS, MetricInputs


def test_modes_by_hand():
    """Two modes: reals at (0, ±0.1) (centre (0, 0), σ = sqrt(mean(0, 0.0133…)) ≈ 0.0816) and
    (10, ±0.1). 10 fakes: 6 within 3σ of (0, 0), 1 at 0.5 from it (not high quality), 3 near
    (10, 0). min_fraction 0.8: a mode needs 0.8 · 10 / 2 = 4 high-quality fakes: mode 0 has 6,
    mode 1 has 3."""
    real = torch.tensor([[0.0, 0.1], [0.0, -0.1], [0.0, 0.0], [10.0, 0.1], [10.0, -0.1], [10.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    sigma = ((0.0 + 0.01) / 2) ** 0.5   # variance over x: 0, over y: 0.01 (n − 1): σ = sqrt(mean)
    fakes = torch.tensor([[0.0, 0.0]] * 3 + [[0.1, 0.1], [-0.1, 0.1], [0.2, 0.0], [0.5, 0.0],
                                           [10.0, 0.0], [9.9, 0.1], [10.1, -0.1]])
    assert 0.2 < 3 * sigma < 0.5
    out = METRICS.get("modes")(MetricInputs(real_features=real, real_labels=labels, fake_features=fakes),
                               min_fraction=0.8)
    assert out == {"modes_recovered": 1.0, "high_quality": pytest.approx(0.9), "modes_total": 2.0}
    out = METRICS.get("modes")(MetricInputs(real_features=real, real_labels=labels, fake_features=fakes),
                               min_fraction=0.6)    # 3 ≥ 0.6 · 5: both
    assert out["modes_recovered"] == 2.0


def test_modes_on_the_ring():
    cfg = DataConfig(name="ring2d", num_samples=16000)   # 200 test samples per mode: σ within a few %
    test = load_dataset(cfg, "test")
    train = load_dataset(cfg, "train")
    inputs = lambda fakes: MetricInputs(real_features=test.images, real_labels=test.labels,  # noqa: E731
                                        fake_features=fakes)
    perfect = METRICS.get("modes")(inputs(train.images[:2000]))
    assert perfect["modes_recovered"] == 8 and perfect["high_quality"] > 0.97
    collapsed = train.images[train.labels == 3][:400]
    out = METRICS.get("modes")(inputs(torch.cat([collapsed, torch.zeros(20, 2)])))
    # a 2-D Gaussian puts 1 − e^(−9/2) ≈ 98.9 % of its mass within 3σ; the 20 points at 0 are far off
    assert out["modes_recovered"] == 1 and 0.97 * 400 / 420 < out["high_quality"] <= 400 / 420


def test_modes_needs_two_reals_per_class():
    with pytest.raises(CondganError, match="class 1 has 1"):
        METRICS.get("modes")(MetricInputs(real_features=torch.zeros(3, 2), real_labels=torch.tensor([0, 0, 1]),
                                          fake_features=torch.zeros(4, 2)))
