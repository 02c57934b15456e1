"""Codebook generator input (Cho, codebook paper (seed 000) §3–4)."""

from __future__ import annotations

import pytest
import torch

from condgan.errors import CondganError
from condgan.nets.dcgan import DCGANGenerator
from condgan.nets.layers import Codebook


def test_page_selection_by_hand():
    book = Codebook(groups=2, categories=3, page_dim=2, side=2)  # d_l·d_p = 4 = 2×2 positions
    with torch.no_grad():
        book.pages.copy_(torch.arange(12.).reshape(2, 3, 2))
    # group 0 picks category 2 (page [4, 5]), group 1 picks category 0 (page [6, 7])
    cnd = torch.tensor([[0., 0, 1, 1, 0, 0], [1., 0, 0, 0, 0, 1]])
    out = book(cnd)
    assert out.shape == (2, 1, 2, 2)
    assert torch.equal(out[0].flatten(), torch.tensor([4., 5, 6, 7]))
    assert torch.equal(out[1].flatten(), torch.tensor([0., 1, 10, 11]))


def test_tiling_error():
    with pytest.raises(CondganError, match="model.codebook_dim=5"):
        Codebook(groups=1, categories=10, page_dim=5, side=4)
    Codebook(groups=2, categories=10, page_dim=8, side=4)  # 2·8 = 16 tiles 4×4


def test_generator_reads_the_codebook():
    torch.manual_seed(0)
    g = DCGANGenerator(8, 1, 8, width=8, num_conditions=10, conditioning="codebook", codebook_dim=16).eval()
    assert g.codebook.channels == 1 and g.label_input.out_dim == 0
    z = torch.randn(2, 8)
    a, b = g(z, torch.eye(10)[[0, 0]]), g(z, torch.eye(10)[[0, 3]])
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    loss = g(z, torch.eye(10)[[1, 2]]).sum()
    loss.backward()
    assert g.codebook.pages.grad[0, [1, 2]].abs().sum() > 0 and g.codebook.pages.grad[0, 5].abs().sum() == 0


def test_trains_with_predefined_labels(tmp_path):
    from test_training import train

    trainer = train(tmp_path, "model.g_conditioning=codebook", "model.codebook_dim=16", "train.steps=3")
    assert trainer.step == 3
    with pytest.raises(CondganError, match="codebook"):
        train(tmp_path / "x", "model.g_conditioning=codebook", "model.codebook_dim=10", "train.steps=1")
