"""Generator exponential moving average (Karras 2018; BigGAN), BN buffers included.

θ_ema ← β_t θ_ema + (1-β_t) θ after every generator step, β_t = min(β, (1+t)/(10+t)). Float buffers (BN running mean / var) are
averaged the same way, so the EMA generator's statistics belong to weights close to its own;
integer buffers (num_batches_tracked) are copied. For exact statistics, `standing_statistics`
(BigGAN "standing stats", lecture 5) re-estimates them with the EMA weights before sampling.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        pairs = list(zip(self.module.state_dict().values(), generator.state_dict().values()))
        # state_dict() tensors share storage with the live parameters / buffers, so these lists
        # stay valid and one fused foreach call per step does the whole update.
        self._float = ([e for e, _ in pairs if e.is_floating_point()], [s for e, s in pairs if e.is_floating_point()])
        self._other = ([e for e, _ in pairs if not e.is_floating_point()], [s for e, s in pairs if not e.is_floating_point()])

    @torch.no_grad()
    def update(self, decay: float | None = None) -> None:
        weight = 1.0 - (self.decay if decay is None else decay)
        torch._foreach_lerp_(self._float[0], self._float[1], weight)
        for e, s in zip(*self._other):
            e.copy_(s)

    def decay_at(self, step: int) -> float:
        """β_t = min(β, (1 + t) / (10 + t)): a ramp-up (as TensorFlow's ExponentialMovingAverage
        with num_updates), so that early EMA weights are not dominated by the initialization —
        with β = 0.999 a plain EMA still holds 0.999^500 ≈ 61 % of the initial weights at step 500."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


@torch.no_grad()
def standing_statistics(generator: nn.Module, sample_inputs, num_batches: int) -> None:
    """Re-estimate every BN layer's running statistics as the plain average over `num_batches`
    forward passes of `sample_inputs()` → (z, cnd) in train mode; leaves G in eval mode."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or num_batches <= 0:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = plain mean over the batches
    generator.train()
    for _ in range(num_batches):
        generator(*sample_inputs())
    for m, mom in zip(norms, saved):
        m.momentum = mom
    generator.eval()
