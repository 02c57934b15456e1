"""LeCam regularization: the zero-debiased anchors and the one-sided penalty by hand, its
gradient, and the state a checkpoint keeps."""

from __future__ import annotations

import pytest
import torch

from condgan.losses.lecam import LeCam


def test_anchors_are_zero_debiased_moving_averages():
    reg = LeCam(1.0, decay=0.9)
    assert reg.anchors() == (0.0, 0.0)
    reg.update(torch.tensor([1.0, 3.0]), torch.tensor([-2.0]))        # batch means 2, −2
    assert reg.anchors() == pytest.approx((2.0, -2.0))                 # 0.1·m / (1 − 0.9)
    reg.update(torch.tensor([4.0]), torch.tensor([0.0]))
    want_real = (0.9 * 0.1 * 2 + 0.1 * 4) / (1 - 0.81)
    want_fake = (0.9 * 0.1 * -2 + 0.1 * 0) / (1 - 0.81)
    assert reg.anchors() == pytest.approx((want_real, want_fake))


def test_penalty_by_hand_and_gradient():
    reg = LeCam(0.5, decay=0.0)  # decay 0: the anchors are this batch's means
    o_real = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)       # mean 0.5 = α_R
    o_fake = torch.tensor([1.0, -3.0], requires_grad=True)            # mean −1 = α_F
    value, logs = reg(o_real, o_fake)
    # E relu(o_r − α_F)² = ((3)² + 0 + (1.5)²)/3 ; E relu(α_R − o_f)² = (0 + (3.5)²)/2
    want = 0.5 * ((9 + 0 + 2.25) / 3 + (0 + 12.25) / 2)
    assert value.item() == pytest.approx(want)
    assert logs["lecam_anchor_real"].item() == pytest.approx(0.5)
    value.backward()
    assert torch.allclose(o_real.grad, 0.5 * torch.tensor([2 * 3.0, 0.0, 2 * 1.5]) / 3)   # anchors detached
    assert torch.allclose(o_fake.grad, 0.5 * torch.tensor([0.0, -2 * 3.5]) / 2)


def test_state_round_trip():
    reg = LeCam(1.0, decay=0.99)
    for m in range(5):
        reg.update(torch.tensor([float(m)]), torch.tensor([-float(m)]))
    other = LeCam(1.0, decay=0.99)
    other.load_state_dict(reg.state_dict())
    assert other.anchors() == reg.anchors() and other.updates == 5


def test_anchors_keep_no_graph_across_steps():
    """The anchors are constants of the penalty: updating them from outputs with a graph stores
    plain numbers (a graph kept in the moving average would grow with every step)."""
    lecam = LeCam(0.1)
    o_real = torch.randn(4, requires_grad=True)
    o_fake = torch.randn(4, requires_grad=True)
    for _ in range(3):
        lecam(o_real * 2, o_fake * 2)
    assert not lecam.real_acc.requires_grad and not lecam.fake_acc.requires_grad
