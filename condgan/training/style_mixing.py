"""Style mixing regularization (Karras et al. 2019, StyleGAN, §3.1), config `reg.style_mixing`
(the probability; stylegan2-ada: 0.9), for style-based generators.

With probability p a training batch is generated from two latents: w₁ = f(z₁, c) drives the
layers before a crossover point k ~ U{1, …, L − 1}, w₂ = f(z₂, c) the layers from k on (one k
per batch, as stylegan2-ada). The network can then not assume that adjacent layers' styles are
correlated, which localizes what each layer controls. The second mapping does not update w̄.
Sampling and evaluation never mix.
"""

from __future__ import annotations

import torch


def mixed_styles(generator, z: torch.Tensor, cnd: torch.Tensor | None, probability: float,
                 rng: torch.Generator) -> torch.Tensor:
    """Per-layer styles ws (B, num_ws, w_dim) of `generator` (a style-based G: `mapping`,
    `broadcast`, `num_ws`) for latents z, mixed with probability `probability`."""
    ws = generator.broadcast(generator.mapping(z, cnd))
    if probability <= 0:
        return ws
    cutoff = int(torch.randint(1, generator.num_ws, (), generator=rng, device=rng.device))
    if float(torch.rand((), generator=rng, device=rng.device)) >= probability:
        return ws
    z2 = torch.randn(z.shape, generator=rng, device=rng.device, dtype=z.dtype).to(z.device)
    ws2 = generator.broadcast(generator.mapping(z2, cnd, update_w_avg=False))
    return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)


def generate(generator, z: torch.Tensor, cnd: torch.Tensor | None, probability: float,
             rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, ws): G's training forward with style mixing."""
    ws = mixed_styles(generator, z, cnd, probability, rng)
    return generator.synthesis(ws, cnd), ws
