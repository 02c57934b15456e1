"""BigGAN-deep nets (`model.net=biggan_deep`): the blocks' skip connections (channel drop in G,
learned extra channels in D), the bottleneck widths, two blocks per resolution, the whole z in
every G block's norms, output shapes, and a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condgan.nets.biggan_deep import DeepDBlock, DeepGBlock
from condgan.nets.resnet import ResNetGenerator


def test_g_block_skip_drops_channels_and_upsamples():
    block = DeepGBlock(8, 4, "batch", "relu", False, cond_dim=0, up=True)
    assert [c.out_channels for c in block.convs] == [2, 2, 2, 4] and [c.kernel_size for c in block.convs] == [
        (1, 1), (3, 3), (3, 3), (1, 1)]
    torch.nn.init.zeros_(block.convs[3].weight)
    torch.nn.init.zeros_(block.convs[3].bias)
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(block(x, None), F.interpolate(x[:, :4], scale_factor=2, mode="nearest"))
    with pytest.raises(ValueError):
        DeepGBlock(4, 8, "batch", "relu", False, 0)


def test_d_block_skip_keeps_the_input_and_adds_channels():
    block = DeepDBlock(4, 8, "none", "relu", False, down=True)
    assert [c.out_channels for c in block.convs] == [2, 2, 2, 8] and block.extra.out_channels == 4
    torch.nn.init.zeros_(block.convs[3].weight)
    torch.nn.init.zeros_(block.convs[3].bias)
    x = torch.randn(2, 4, 4, 4)
    pooled = F.avg_pool2d(x, 2)
    assert torch.allclose(block(x), torch.cat([pooled, block.extra(pooled)], 1))
    same = DeepDBlock(8, 8, "none", "relu", False, down=False)
    assert same.extra is None


def test_arrangement_and_shapes(tiny_config):
    from condgan.nets import NETWORKS

    cfg = tiny_config("model.net=biggan_deep", "model.g_conditioning=cbn", "data.image_size=16", "model.g_width=8",
                      "model.d_width=8", "model.z_dim=6", "model.embed_dim=3")
    g, d = NETWORKS.get("biggan_deep")(cfg, (1, 16, 16), 10)
    assert isinstance(g, ResNetGenerator)
    assert [[b.up for b in stage] for stage in g.stages] == [[False, True], [False, True]]
    assert all(norm.gain.in_features == 3 + 6 for stage in g.stages for b in stage for norm in b.norms)
    blocks = [m for m in d.modules() if isinstance(m, DeepDBlock)]
    assert [b.down for b in blocks] == [True, False, True, False]
    cnd = torch.eye(10)[[1, 2]]
    x = g(torch.randn(2, 6), cnd)
    assert x.shape == (2, 1, 16, 16) and d(x).shape == (2, d.out_dim)
    # every block sees the whole latent: changing only its last element changes the image
    z = torch.randn(2, 6)
    for stage in g.stages:
        for b in stage:
            torch.nn.init.normal_(b.norms[0].gain.weight)
    z2 = z.clone()
    z2[:, -1] += 1
    g.eval()
    assert not torch.allclose(g(z, cnd), g(z2, cnd))


def test_hierarchical_z_is_refused(tiny_config):
    from condgan.errors import CondganError

    with pytest.raises(CondganError, match="hierarchical_z"):
        tiny_config("model.net=biggan_deep", "model.hierarchical_z=true")


def test_trains(tiny_config, set_up_trainer):
    with set_up_trainer(tiny_config("model.net=biggan_deep", "model.conditioning=pd", "reg.ortho=1e-4")) as trainer:
        logs = trainer.train_step()
        assert {"g_ortho", "d_loss", "g_loss"} <= set(logs)
