"""The overfitting heuristic that adapts an augmentation probability p (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data", §3, Eq. 1 and App. C), shared by
ADA and APA (Jiang et al. 2021, "Deceive D: Adaptive Pseudo Augmentation for GAN Training with
Limited Data", §3.2, which reuses it).

    r_t = E[sign(D(x_real) − m)]        over the reals D saw since the last adjustment,
    p  ← clip(p + sign(r_t − target) · N / (kimg · 1000), 0, 1)      every `interval` steps,

where m is the adversarial loss's decision boundary (0 for logistic / hinge / Wasserstein
logits, ½ for least squares, whose targets are 0 and 1), N the number of real images D saw in
those steps (all processes) and `kimg` the adjustment speed: p can move by one unit every
`kimg` thousand real images (stylegan2-ada: target 0.6, interval 4, kimg 500 — at batch 64, ~7,800
steps for p to go from 0 to 1). r_t near 1 means D classifies every real correctly: it is
overfitting, so p rises. stylegan2-ada only clamps p at 0; the clip at 1 here changes nothing
(a probability above 1 acts as 1) but keeps the logged p readable.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

Reduce = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class AdaptiveProbability:
    """Holds p, accumulates sign(D(x_real) − m) between adjustments, adjusts p every `interval`
    steps. `target=None` keeps p fixed (r_t is still measured and logged). State (p and the
    accumulators) goes into checkpoints, so a resumed run continues bit-identically."""

    def __init__(self, p: float, target: Optional[float], interval: int, kimg: float,
                 images_per_step: int, boundary: float = 0.0):
        self.p = float(p)
        self.target = target
        self.interval = interval
        self.kimg = kimg
        self.images_per_step = images_per_step
        self.boundary = boundary
        self.sign_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0
        self.rt = float("nan")
        """r_t of the last adjustment (logged)."""

    def observe(self, real_logits: torch.Tensor) -> torch.Tensor:
        """Accumulate the signs of a batch of D's adversarial logits on reals; returns the
        batch's mean sign (for the step log)."""
        signs = torch.sign(real_logits.detach().float() - self.boundary)
        total = signs.sum().to(self.sign_sum.device, torch.float64)
        self.sign_sum = self.sign_sum + total
        self.count += signs.numel()
        return signs.mean()

    def step_size(self) -> float:
        """|Δp| of one adjustment: interval · images per step / (kimg · 1000)."""
        return self.interval * self.images_per_step / (self.kimg * 1000.0)

    def end_step(self, step: int, reduce: Optional[Reduce] = None) -> None:
        """Called after every step `step` (1-based); every `interval` steps computes r_t over
        the accumulated signs (averaged over processes by `reduce`), moves p and resets."""
        if step % self.interval:
            return
        stats = {"sum": self.sign_sum.float(), "count": torch.tensor(float(self.count))}
        if reduce is not None:  # the mean over ranks of sums and counts: their ratio is global
            stats = reduce(stats)
        count = float(stats["count"])
        if count > 0:
            self.rt = float(stats["sum"]) / count
            if self.target is not None:
                direction = (self.rt > self.target) - (self.rt < self.target)
                self.p = min(1.0, max(0.0, self.p + direction * self.step_size()))
        self.sign_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum.clone(), "count": self.count, "rt": self.rt}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state["p"])
        self.sign_sum = state["sign_sum"].clone().to(torch.float64)
        self.count = int(state["count"])
        self.rt = float(state["rt"])


def adaptive_enabled(section) -> bool:
    """ADA / APA run when their target is set or their initial p is above 0 (as stylegan2-ada);
    `section` is the `ada` or `apa` config section."""
    return section.target is not None or section.p > 0
