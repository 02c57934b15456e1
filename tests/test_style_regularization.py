"""Style mixing and the path-length penalty: mixing by construction, the path length against an
explicit Jacobian, the running mean and the penalty by hand, and the state a checkpoint keeps."""

from __future__ import annotations

import pytest
import torch

from condgan.losses.path_length import PathLengthPenalty, path_lengths
from condgan.nets.stylegan2 import StyleGAN2Generator
from condgan.training.style_mixing import generate, mixed_styles


def _generator():
    torch.manual_seed(0)
    return StyleGAN2Generator(8, 1, 16, width=2, w_dim=6, mapping_layers=2, num_conditions=3, embed_dim=4)


def test_mixing_switches_latents_at_one_crossover():
    g = _generator()
    z, c = torch.randn(4, 8), torch.eye(3)[[0, 1, 2, 0]]
    ws1 = g.broadcast(g.mapping(z, c, update_w_avg=False))
    rng = torch.Generator().manual_seed(5)
    before = g.w_avg.clone()
    ws = mixed_styles(g, z, c, 1.0, rng)
    after_one_update = g.w_avg.clone()
    replay = torch.Generator().manual_seed(5)
    k = int(torch.randint(1, g.num_ws, (), generator=replay))
    torch.rand((), generator=replay)
    z2 = torch.randn(z.shape, generator=replay)
    ws2 = g.broadcast(g.mapping(z2, c, update_w_avg=False))
    assert torch.allclose(ws[:, :k], ws1[:, :k]) and torch.allclose(ws[:, k:], ws2[:, k:])
    # Only the first mapping moved w̄ (one update from the batch of z).
    g2 = _generator()
    g2.mapping(z, c)
    assert torch.allclose(after_one_update, g2.w_avg) and not torch.equal(before, after_one_update)


def test_no_mixing_at_probability_zero():
    g = _generator()
    z, c = torch.randn(2, 8), torch.eye(3)[[0, 1]]
    ws = mixed_styles(g, z, c, 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(ws, ws[:, :1].expand_as(ws))
    images, ws = generate(g.eval(), z, c, 0.0, torch.Generator())
    assert torch.allclose(images, g(z, c))


def test_path_length_against_an_explicit_jacobian():
    torch.manual_seed(0)
    a = torch.randn(2 * 3 * 3, 4 * 5, dtype=torch.float64)           # linear "synthesis": img = A · vec(ws)
    ws = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    images = (ws.reshape(2, 20) @ a.t()).reshape(2, 2, 3, 3)
    lengths = path_lengths(images, ws, torch.Generator().manual_seed(3))
    y = torch.randn(images.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64) / 3.0
    for b in range(2):
        jty = (a.t() @ y[b].flatten()).reshape(4, 5)                  # J_wᵀ y
        assert lengths[b].item() == pytest.approx(jty.square().sum(1).mean().sqrt().item())


def test_penalty_running_mean_and_state():
    reg = PathLengthPenalty(2.0, decay=0.1)
    ws = torch.randn(3, 2, 4, requires_grad=True)
    images = (ws.sum(1).square() * torch.tensor([1.0, 2.0, 3.0, 4.0])).reshape(3, 1, 2, 2)  # J depends on w
    lengths = path_lengths(images, ws, torch.Generator().manual_seed(0)).detach()
    value, logs = reg(images, ws, torch.Generator().manual_seed(0))
    a = 0.1 * lengths.mean()                                          # lerp from 0 with β = 0.1
    assert reg.mean.item() == pytest.approx(a.item())
    assert value.item() == pytest.approx(2.0 * (lengths - a).square().mean().item(), rel=1e-5)
    value.backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    other = PathLengthPenalty(2.0)
    other.load_state_dict(reg.state_dict())
    assert other.mean.item() == reg.mean.item()


@pytest.mark.parametrize("reduce", [None, lambda means: means], ids=["one process", "reduced over processes"])
def test_penalty_logs_and_running_mean_are_constants_of_the_batch_mean(reduce):
    """The running mean a moves toward the batch's *mean* path length, with or without a
    reduction over processes (here the identity, as with one process), and neither it nor the
    logs keep a graph: a graph kept in `a` would grow across steps."""
    reg = PathLengthPenalty(2.0, decay=0.1)
    ws = torch.randn(3, 2, 4, requires_grad=True)
    images = (ws.sum(1).square() * torch.tensor([1.0, 2.0, 3.0, 4.0])).reshape(3, 1, 2, 2)
    lengths = path_lengths(images, ws, torch.Generator().manual_seed(0)).detach()
    _, logs = reg(images, ws, torch.Generator().manual_seed(0), reduce=reduce)
    assert reg.mean.item() == pytest.approx(0.1 * lengths.mean().item())
    assert not reg.mean.requires_grad
    assert logs["pl_length"].item() == pytest.approx(lengths.mean().item())
    assert logs["pl_mean"].item() == pytest.approx(reg.mean.item())
    assert not logs["pl_length"].requires_grad and not logs["pl_mean"].requires_grad
