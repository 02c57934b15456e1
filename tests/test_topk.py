"""Top-k training (`train.topk`): k's schedule by hand, the selection of the most realistic fakes,
and G's loss on them in a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels
from condgan.training.extensions.topk import TopKSelection, select_top, topk_size


def test_schedule_by_hand():
    """B = 10, N = 100 images, 10 images per step: epoch e = ⌊t/10⌋; γ = 0.5, ν = 0.3:
    k = max(⌈0.5^e·10⌉, 3)."""
    k = [topk_size(t, 10, 0.5, 0.3, 10, 100) for t in (0, 9, 10, 19, 20, 35, 1000)]
    assert k == [10, 10, 5, 5, 3, 3, 3]
    assert topk_size(50, 64, 0.99, 0.5, 64, 64) == 39          # ⌈0.99^50 · 64⌉ = ⌈38.7⌉
    assert topk_size(0, 1, 0.5, 0.01, 1, 1) == 1


def test_selects_the_largest_adversarial_logits():
    out = {"adv": torch.tensor([0.1, 2.0, -1.0, 0.5]), "cls": torch.arange(8.0).reshape(4, 2)}
    labels = Labels(torch.tensor([3, 1, 0, 2]), torch.eye(4)[[3, 1, 0, 2]])
    sel, lab = select_top(out, labels, out["adv"], 2)
    assert sel["adv"].tolist() == [2.0, 0.5] and sel["cls"].tolist() == [[2.0, 3.0], [6.0, 7.0]]
    assert lab.y.tolist() == [1, 2] and torch.equal(lab.cnd, torch.eye(4)[[1, 2]])


def test_ca_ranks_by_the_fakes_own_condition():
    """For ca the realism of a fake is its own condition's logit D_{y'}(x'), not the largest one."""
    ca = CONDITIONING.get("ca")(ADVERSARIAL_LOSSES.get("ns"), 3)
    selection = TopKSelection(ca, batch=3, gamma=0.5, minimum=0.1, images_per_step=3, num_train=3)
    out = {"cond": torch.tensor([[9.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])}
    labels = Labels(torch.tensor([1, 1, 2]), torch.eye(3)[[1, 1, 2]])

    class It:
        step = 1  # epoch 1: k = ⌈0.5·3⌉ = 2

    sel, lab, logs = selection(out, labels, It())
    assert float(logs["topk_k"]) == 2 and lab.y.tolist() == [2, 1]
    loss, _ = ca.g_loss(sel, lab)
    assert float(loss) == pytest.approx(float((F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-1.0))) / 2))


def test_training_step_uses_k_fakes(tiny_config, set_up_trainer):
    # digits train split: 1618 images, batch 16 → epoch 1 from step 102; k = ⌈0.5 · 16⌉ = 8 there
    with set_up_trainer(tiny_config("train.topk=true", "train.topk_gamma=0.5", "model.conditioning=none")) as trainer:
        assert float(trainer.train_step()["topk_k"]) == 16
        trainer.step = 102
        assert float(trainer.train_step()["topk_k"]) == 8
