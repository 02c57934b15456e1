"""BigGAN's orthogonal regularization (`reg.ortho`): the penalty by hand and by gradcheck, which
weights of G it reads, and that it is added to G's loss in training."""

from __future__ import annotations

import pytest
import torch

from condgan.training.extensions.orthogonal import orthogonal_penalty, regularized_weights


def test_penalty_by_hand():
    """W = [[1, 2], [3, 4]]: WWᵀ = [[5, 11], [11, 25]]; only the off-diagonal 11s count: 2·11² = 242."""
    assert float(orthogonal_penalty([torch.tensor([[1.0, 2.0], [3.0, 4.0]])])) == pytest.approx(242.0)
    # a conv weight (2 filters of 1×1×2): rows (1, 0) and (1, 1) → inner product 1, twice
    conv = torch.tensor([[[[1.0]], [[0.0]]], [[[1.0]], [[1.0]]]])
    assert float(orthogonal_penalty([conv])) == pytest.approx(2.0)
    # orthogonal rows of any norms: no penalty (the relaxed form leaves norms free)
    assert float(orthogonal_penalty([torch.tensor([[3.0, 0.0], [0.0, 0.5]])])) == 0.0
    assert float(orthogonal_penalty([torch.eye(2), torch.tensor([[1.0, 2.0], [3.0, 4.0]])])) == pytest.approx(242.0)


def test_penalty_gradient():
    w = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: orthogonal_penalty([v]), (w,))
    # the closed form: ∇ = 4 (WWᵀ ⊙ (1 − I)) W
    flat = w.detach().reshape(3, -1)
    gram = flat @ flat.t()
    (grad,) = torch.autograd.grad(orthogonal_penalty([w]), w)
    assert torch.allclose(grad.reshape(3, -1), 4 * (gram - torch.diag(torch.diag(gram))) @ flat)


def test_weights_leave_out_class_embeddings(tiny_config):
    from condgan.nets import NETWORKS

    cfg = tiny_config("model.net=resnet", "model.g_conditioning=cbn", "model.g_spectral_norm=true")
    g, _ = NETWORKS.get("resnet")(cfg, (1, 8, 8), 10)
    weights = regularized_weights(g)
    ids = {id(w) for w in weights}
    assert id(g.shared.weight) not in ids
    assert id(g.fc.parametrizations.weight.original) in ids           # the stored weight under SN
    gains = [m.gain.weight for m in g.modules() if hasattr(m, "gain") and m.gain is not None]
    assert gains and all(id(w) in ids for w in gains)
    cfg = tiny_config("model.g_conditioning=concat")
    g, _ = NETWORKS.get("dcgan")(cfg, (1, 8, 8), 10)
    assert id(g.label_input.embed.weight) not in {id(w) for w in regularized_weights(g)}


def test_added_to_the_generator_loss(tiny_config, set_up_trainer):
    with set_up_trainer(tiny_config("reg.ortho=0.01", "model.conditioning=none")) as trainer:
        expected = 0.01 * float(orthogonal_penalty(regularized_weights(trainer.G)).detach())
        logs = trainer.train_step()  # the D phase does not touch G: the G step sees these weights
        assert float(logs["g_ortho"]) == pytest.approx(expected, rel=1e-5)
        assert float(logs["g_loss"]) == pytest.approx(float(logs["g_adv"]) + expected, rel=1e-5)
