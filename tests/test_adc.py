"""ADC-GAN (`model.conditioning=adc`): its D and G losses against a hand evaluation of the formula
(Python floats), the heads, D's class logits for dynamic labeling, and a training step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING, Labels

K, LAM = 2, 0.7


def ce(logits, target):
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def sp(v):
    return math.log1p(math.exp(v))


ADV_R, ADV_F = [0.3, -1.2], [0.5, 2.0]
C_R = [[1.0, -0.5, 0.2, 0.3], [0.3, 0.8, -1.0, 1.2]]      # 2K logits: real classes 0, 1; fake classes 0, 1
C_F = [[0.4, 0.4, -0.6, 0.9], [2.0, -1.0, 0.0, -0.3]]
Y_R, Y_F = [0, 1], [1, 0]


def _method():
    return CONDITIONING.get("adc")(ADVERSARIAL_LOSSES.get("ns"), K, LAM)


def _labels(y):
    y = torch.tensor(y)
    return Labels(y, nn.functional.one_hot(y, K).double())


def _out(adv, cls):
    return {"adv": torch.tensor(adv, dtype=torch.float64), "adc": torch.tensor(cls, dtype=torch.float64)}


def test_d_loss_by_hand():
    """L_D = adv_D + λ [CE(C(x), y) + CE(C(x'), K + y')]."""
    loss, logs = _method().d_loss(_out(ADV_R, C_R), _out(ADV_F, C_F), _labels(Y_R), _labels(Y_F))
    adv = sum(sp(-o) for o in ADV_R) / 2 + sum(sp(o) for o in ADV_F) / 2
    cls = sum(ce(c, y) for c, y in zip(C_R, Y_R)) / 2 + sum(ce(c, K + y) for c, y in zip(C_F, Y_F)) / 2
    assert float(loss) == pytest.approx(adv + LAM * cls, rel=1e-12)
    assert float(logs["d_adc"]) == pytest.approx(cls, rel=1e-12)


def test_g_loss_by_hand():
    """L_G = adv_G + λ [CE(C(x'), y') − CE(C(x'), K + y')]."""
    loss, logs = _method().g_loss(_out(ADV_F, C_F), _labels(Y_F))
    adv = sum(sp(-o) for o in ADV_F) / 2
    cls = sum(ce(c, y) - ce(c, K + y) for c, y in zip(C_F, Y_F)) / 2
    assert float(loss) == pytest.approx(adv + LAM * cls, rel=1e-12)
    assert float(logs["g_adc"]) == pytest.approx(cls, rel=1e-12)


def test_heads_and_class_logits():
    m = _method()
    heads = m.heads(5, False)
    h = torch.randn(3, 5)
    out = {k: head(h, None) for k, head in heads.items()}
    assert out["adv"].shape == (3,) and out["adc"].shape == (3, 2 * K)
    assert torch.equal(m.class_logits(out), out["adc"][:, :K])    # the real classes' half


def test_trains(tiny_config, set_up_trainer):
    cfg = tiny_config("model.conditioning=adc", "model.cond_weight=0.5", "loss.adversarial=hinge")
    with set_up_trainer(cfg) as trainer:
        logs = trainer.train_step()
        assert {"d_adc", "g_adc"} <= set(logs) and math.isfinite(float(logs["g_loss"]))


def test_composes_with_the_twin_classifier():
    """`adc` is a conditioning term: `adc+tac` = ψ, ADC's 2K-way classifier and TAC's twin, with
    L_D = adv_D + λ [ADC's term + CE(C_mi(x'), y')], and D's class logits from ADC's real half."""
    m = CONDITIONING.get("adc+tac")(ADVERSARIAL_LOSSES.get("ns"), K, LAM)
    assert set(m.heads(5, False)) == {"adv", "adc", "twin_cls"}
    twin = [[0.2, -0.4], [1.0, 0.3]]
    real, fake = _out(ADV_R, C_R), {**_out(ADV_F, C_F), "twin_cls": torch.tensor(twin, dtype=torch.float64)}
    real["twin_cls"] = torch.zeros(2, K, dtype=torch.float64)
    loss, _ = m.d_loss(real, fake, _labels(Y_R), _labels(Y_F))
    plain, _ = _method().d_loss(real, fake, _labels(Y_R), _labels(Y_F))
    assert float(loss) == pytest.approx(float(plain) + LAM * sum(ce(c, y) for c, y in zip(twin, Y_F)) / 2, rel=1e-12)
    assert torch.equal(m.class_logits(real), real["adc"][:, :K])
