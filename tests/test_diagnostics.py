"""The discriminator diagnostics (feature norm, conditioning-loss gradient norm) against direct
computations on the same network."""

from __future__ import annotations

import json

import torch

from condgan.training.trainer import Trainer


def test_diagnostics_match_a_direct_computation(tiny_config, tmp_path):
    trainer = Trainer(tiny_config("model.conditioning=ac_mod", "train.diagnostics=true", "train.steps=1"),
                      tmp_path / "run", progress=False)
    trainer.setup()
    D, method = trainer.D, trainer.method
    real, labels = trainer.images[:6], trainer.labeling.real(trainer.images[:6], trainer.labels[:6])
    diag = trainer.diagnostics
    diag.arm()
    out = D(real, labels.cnd)
    D(real * 0, labels.cnd)  # a second forward (the fakes) must not replace the caught features
    cls_loss = torch.nn.functional.cross_entropy(out["cls"], labels.y)
    got = diag({"d_cls": cls_loss}, num_real=6)
    want_norm = D.trunk(real).flatten(1).norm(dim=1).mean()
    torch.testing.assert_close(got["diag_feature_norm"], want_norm)
    grads = torch.autograd.grad(cls_loss, list(D.parameters()), allow_unused=True)
    want_grad = torch.sqrt(sum(g.square().sum() for g in grads if g is not None))
    torch.testing.assert_close(got["diag_cond_grad_norm"], want_grad)
    assert want_grad > 0


def test_diagnostics_are_logged_per_interval(tiny_config, tmp_path):
    Trainer(tiny_config("model.conditioning=ac_mod", "train.diagnostics=true", "train.steps=5"),
            tmp_path / "run", progress=False).train()
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["diag_feature_norm"] > 0 and record["diag_cond_grad_norm"] > 0


def test_diagnostics_off_by_default(tiny_config, tmp_path):
    trainer = Trainer(tiny_config("train.steps=1"), tmp_path / "run", progress=False)
    trainer.setup()
    assert trainer.diagnostics is None
