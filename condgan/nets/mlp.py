"""MLP generator and discriminator trunk for vector (synthetic 1-D / 2-D) data."""

from __future__ import annotations

import torch
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import NETWORKS, LabelInput
from condgan.nets.layers import ConditionalNorm, make_activation, make_norm, maybe_sn


class MLPGenerator(nn.Module):
    def __init__(self, z_dim, out_dim, hidden=128, layers=3, norm="none", activation="relu",
                 spectral_norm=False, num_conditions=0, conditioning="concat",
                 label_embedding="embedding", embed_dim=32):
        super().__init__()
        self.label_input = LabelInput(label_embedding if conditioning == "concat" else "none",
                                      num_conditions, embed_dim)
        cbn_conditions = num_conditions if conditioning == "cbn" else 0
        dims = [z_dim + self.label_input.out_dim] + [hidden] * layers
        self.linears = nn.ModuleList(maybe_sn(nn.Linear(a, b), spectral_norm) for a, b in zip(dims, dims[1:]))
        self.norms = nn.ModuleList(ConditionalNorm(norm, hidden, cbn_conditions, spatial=False) for _ in range(layers))
        self.act = make_activation(activation)
        self.out = maybe_sn(nn.Linear(hidden, out_dim), spectral_norm)

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        x = self.label_input(z, cnd)
        for linear, norm in zip(self.linears, self.norms):
            x = self.act(norm(linear(x), cnd))
        return self.out(x)


class MLPTrunk(nn.Module):
    def __init__(self, in_dim, hidden=128, layers=3, norm="none", activation="lrelu", spectral_norm=False):
        super().__init__()
        mods: list[nn.Module] = []
        dims = [in_dim] + [hidden] * layers
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            mods.append(maybe_sn(nn.Linear(a, b), spectral_norm))
            if i > 0:
                mods.append(make_norm(norm, b, spatial=False))
            mods.append(make_activation(activation))
        self.net = nn.Sequential(*mods)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@NETWORKS.register("mlp")
def build_mlp(cfg, sample_shape, num_conditions):
    if len(sample_shape) != 1:
        raise CondganError(f"model.net=mlp needs vector data, but data.name={cfg.data.name} gives "
                           f"samples of shape {tuple(sample_shape)}; use model.net=dcgan")
    m = cfg.model
    if m.g_conditioning == "codebook":
        raise CondganError("model.g_conditioning=codebook needs a feature map (model.net=dcgan); "
                           "use concat or cbn with model.net=mlp")
    g = MLPGenerator(m.z_dim, sample_shape[0], m.mlp_hidden, m.mlp_layers, m.g_norm, m.g_activation,
                     m.g_spectral_norm, num_conditions, m.g_conditioning, m.g_label_embedding, m.embed_dim)
    d = MLPTrunk(sample_shape[0], m.mlp_hidden, m.mlp_layers, m.d_norm, m.d_activation, m.d_spectral_norm)
    return g, d
