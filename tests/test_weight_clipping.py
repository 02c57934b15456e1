"""WGAN with weight clipping (`reg.weight_clip`, Arjovsky 2017 Algorithm 1) and RMSProp."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.training.extensions import STEP_EXTENSIONS
from condgan.training.trainer import Trainer


def test_clipping_by_hand(tiny_config):
    d = nn.Linear(3, 1)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[-0.5, 0.003, 0.2]]))
        d.bias.fill_(-0.004)
    clip = STEP_EXTENSIONS.get("weight_clip")(tiny_config("reg.weight_clip=0.01"))
    clip.attach(SimpleNamespace(D=d, phases=[]))
    clip.after_d_step()
    assert torch.equal(d.weight, torch.tensor([[-0.01, 0.003, 0.01]]))
    assert torch.equal(d.bias, torch.tensor([-0.004]))


def test_every_d_step_ends_clipped_and_the_critic_trains(tiny_config, tmp_path, monkeypatch):
    """Two D steps per iteration: D's weights are within [−c, c] right after each of them (the
    G step's reads see clipped weights), and without clipping they are not."""
    cfg = tiny_config("loss.adversarial=wasserstein", "reg.weight_clip=0.01", "train.optimizer=rmsprop",
                      "train.d_lr=5e-3", "train.d_steps=2")
    trainer = Trainer(cfg, tmp_path / "clip", progress=False)
    trainer.setup()
    try:
        assert isinstance(trainer.opt_d, torch.optim.RMSprop) and isinstance(trainer.opt_g, torch.optim.RMSprop)
        seen = []
        clip = trainer.gan_step.extensions[0]
        original = clip.after_d_step

        def after():
            original()
            seen.append(max(p.abs().max().item() for p in trainer.D.parameters()))

        monkeypatch.setattr(clip, "after_d_step", after)
        before = [p.detach().clone() for p in trainer.D.parameters()]
        for _ in range(2):
            trainer.train_step()
            trainer.step += 1
        assert len(seen) == 4 and max(seen) <= 0.01
        assert any(not torch.equal(a, b) for a, b in zip(before, trainer.D.parameters()))
    finally:
        trainer.close()
    plain = Trainer(tiny_config("loss.adversarial=wasserstein", "reg.gp=10", "train.d_lr=5e-3"), tmp_path / "gp",
                    progress=False)
    plain.setup()
    try:
        plain.train_step()
        assert max(p.abs().max().item() for p in plain.D.parameters()) > 0.01
    finally:
        plain.close()


def test_wasserstein_accepts_clipping_as_its_lipschitz_constraint(tiny_config):
    with pytest.raises(CondganError, match="reg.weight_clip"):
        tiny_config("loss.adversarial=wasserstein")
    tiny_config("loss.adversarial=wasserstein", "reg.weight_clip=0.01")
    with pytest.raises(CondganError, match="reg.weight_clip"):
        tiny_config("reg.weight_clip=-0.1")
    with pytest.raises(CondganError, match="reg.weight_clip with lazy regularization"):
        tiny_config("reg.weight_clip=0.01", "reg.dragan=1", "reg.d_interval=4")
    tiny_config("reg.weight_clip=0.01", "reg.d_interval=4")  # no penalty: no lazy step
