"""Path-length regularization (Karras et al. 2020, StyleGAN2, §3.2, Eq. 4), config `reg.pl`
(weight), `reg.pl_interval`, `reg.pl_decay`, `reg.pl_batch_shrink`; for style-based generators.

    L_pl = E_{w, y} (‖J_wᵀ y‖₂ − a)²,   y ~ N(0, I) / sqrt(H·W),

J_w = ∂g(w)/∂w the Jacobian of the synthesis network at w (over all num_ws per-layer inputs:
‖J_wᵀ y‖ = sqrt(mean_layers Σ_dims (∂(g(w)·y)/∂w)²), stylegan2-ada's reduction), and a the
running mean of the lengths, a ← a + β (mean ‖J_wᵀ y‖ − a) with β = `reg.pl_decay` (0.01).
Computed on batch / `reg.pl_batch_shrink` fakes (2), lazily: every `reg.pl_interval` G steps (4)
with its weight multiplied by the interval (StyleGAN2 App. B, "lazy regularization"), so its
average contribution per step is unchanged. As in stylegan2-ada the penalty uses the updated a
(its gradient includes the small β-weighted path through the batch mean); only a's value is kept.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

Reduce = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def path_lengths(images: torch.Tensor, ws: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """‖J_wᵀ y‖ per sample for images = g(ws), with a graph (the penalty is back-propagated)."""
    h, w = images.shape[-2:]
    y = torch.randn(images.shape, device=images.device, dtype=images.dtype, generator=generator) / (h * w) ** 0.5
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


class PathLengthPenalty:
    def __init__(self, weight: float, decay: float = 0.01):
        self.weight = weight
        self.decay = decay
        self.mean = torch.zeros(())
        """a, the running mean of the path lengths (checkpointed)."""

    def __call__(self, images: torch.Tensor, ws: torch.Tensor, generator: Optional[torch.Generator] = None,
                 reduce: Optional[Reduce] = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """weight · E (‖J_wᵀ y‖ − a)² (not yet multiplied by the lazy interval), and logs."""
        lengths = path_lengths(images, ws, generator)
        a = self.mean.to(lengths.device).lerp(lengths.mean(), self.decay)
        kept = a.detach()
        if reduce is not None:  # every process keeps the same a: the update with the global mean
            kept = self.mean.to(lengths.device).lerp(reduce({"m": lengths.detach().mean()})["m"], self.decay)
        self.mean = kept.cpu()
        penalty = (lengths - a).square().mean()
        return self.weight * penalty, {"pl_length": lengths.detach().mean(), "pl_mean": a.detach()}

    def state_dict(self) -> dict:
        return {"mean": self.mean.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.mean = state["mean"].clone()
