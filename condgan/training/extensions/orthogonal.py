"""BigGAN's orthogonal regularization of the generator (Brock et al. 2019, "Large Scale GAN
Training for High Fidelity Natural Image Synthesis", §3.1, Eq. 3): `reg.ortho=β`, added to G's
loss in every G step:

    R_β = β Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F

W runs over G's weights, each flattened to (out, in·k·k) — one row per filter — and 1 is the
matrix of ones: only the inner products of *different* filters are pushed to 0, not the filters'
norms (BigGAN's relaxed form of ‖WᵀW − I‖²_F, which it found too limiting; it makes G amenable to
the truncation trick). The weights are those of every linear and convolution layer of G, as
stored (before spectral normalization or the equalized-lr scale: BigGAN regularizes its
parameters), except the class embeddings (BigGAN leaves its shared embedding out: an embedding's
rows are not filters). BigGAN's reference code adds the gradient 2β(WWᵀ ⊙ (1 − I))W directly,
the gradient of β/2·‖…‖²_F; condgan differentiates the paper's R_β, so the code's strength 1e-4
corresponds to reg.ortho=5e-5.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn
from torch.nn.utils import parametrize

from condgan.nets.base import LabelInput
from condgan.training.extensions.installers import EXTENSIONS, Extension, non_negative

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def orthogonal_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F, each W flattened to (rows = dim 0, columns = the rest)."""
    total = None
    for w in weights:
        rows = w.reshape(w.shape[0], -1)
        gram = rows @ rows.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = off.square().sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


def stored_weight(layer: nn.Module) -> torch.Tensor:
    """The parameter behind `layer.weight` (the original of a parametrized weight)."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


def regularized_weights(generator: nn.Module) -> list[torch.Tensor]:
    """G's linear / convolution weights, without the class embeddings (LabelInput's, the
    resnet's shared one)."""
    embeddings = {id(m.embed) for m in generator.modules() if isinstance(m, LabelInput) and m.embed is not None}
    embeddings |= {id(m.shared) for m in generator.modules() if isinstance(getattr(m, "shared", None), nn.Module)}
    return [stored_weight(m) for m in generator.modules() if isinstance(m, WEIGHT_LAYERS) and id(m) not in embeddings]


@EXTENSIONS.register("orthogonal")
class OrthogonalRegularization(Extension):
    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.reg.ortho > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        return non_negative("reg.ortho", cfg.reg.ortho)

    @classmethod
    def install(cls, trainer) -> None:
        weights, beta = regularized_weights(trainer.G), trainer.cfg.reg.ortho

        def term(it):
            value = beta * orthogonal_penalty(weights)
            return value, {"g_ortho": value}

        trainer.gan_step.generator_terms.append(term)
