"""Network interfaces and the network registry.

A network family registers one builder `fn(cfg: Config, data_shape, num_conditions) ->
(generator, discriminator_trunk)`. The generator maps `(z, cnd)` to a sample; the trunk maps
`x` to a feature vector `h`. The conditioning method decides which heads sit on `h`
(`Discriminator` below), so the trunk never knows about labels.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from condgan.errors import CondganError

from condgan.registry import Registry

NETWORKS: Registry[Callable] = Registry("network")


class Discriminator(nn.Module):
    """`φ(x)` trunk plus named heads; `forward(x, cnd)` returns `{head name: head(h, cnd)}`."""

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module]):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)

    def forward(self, x: torch.Tensor, cnd: torch.Tensor | None) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h, cnd) for name, head in self.heads.items()}


class LabelInput(nn.Module):
    """How a generator sees the condition: a learned embedding (a bias-free linear map of the
    one-hot / multi-hot vector, which equals an embedding lookup for one-hot input), the raw
    one-hot vector, or nothing (unconditional generator)."""

    def __init__(self, kind: str, num_conditions: int, embed_dim: int):
        super().__init__()
        self.kind = kind if num_conditions > 0 else "none"
        self.out_dim = {"embedding": embed_dim, "onehot": num_conditions, "none": 0}[self.kind]
        self.embed = nn.Linear(num_conditions, embed_dim, bias=False) if self.kind == "embedding" else None

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "none":
            return z
        return torch.cat([z, self.embed(cnd) if self.embed is not None else cnd], dim=1)


def image_shape(cfg, sample_shape) -> tuple[int, int]:
    """(channels, size) of the image data a convolutional `model.net` is built for; a clear
    error for vector data."""
    if len(sample_shape) != 3:
        raise CondganError(f"model.net={cfg.model.net} needs image data, but data.name={cfg.data.name} gives "
                           f"samples of shape {tuple(sample_shape)}; use model.net=mlp")
    return sample_shape[0], sample_shape[1]
