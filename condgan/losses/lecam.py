"""LeCam regularization (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under
Limited Data", §3.1, Eq. 3), config `reg.lecam` (weight λ) and `reg.lecam_decay`.

    R_LC = E_x[relu(D(x) − α_F)²] + E_z[relu(α_R − D(G(z)))²],   L_D ← L_D + λ R_LC,

with α_R, α_F exponential moving averages of D's mean adversarial logit on reals and on fakes
(the anchors). The paper writes the squared distances without the relu; both of the authors'
implementations (BigGAN and StyleGAN2) keep only the one-sided part — reals are pulled down
only when above the fake anchor, fakes up only when below the real anchor — and so does this
one. The anchors are updated with the current batch before the penalty is computed, with decay
β (0.99, the authors' StyleGAN2 code) and zero-debiased: α = a_t / (1 − β^t) for the biased
accumulator a_t = β a_{t−1} + (1 − β) m_t, so early anchors are not pulled toward 0. The
regularizer is the discriminator's only: it bounds how far D's outputs on reals and fakes can
drift apart, which the paper links to a LeCam divergence between the two distributions.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

Reduce = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class LeCam:
    def __init__(self, weight: float, decay: float = 0.99):
        self.weight = weight
        self.decay = decay
        self.real_acc = torch.zeros((), dtype=torch.float64)
        self.fake_acc = torch.zeros((), dtype=torch.float64)
        self.updates = 0

    def anchors(self) -> tuple[float, float]:
        """(α_R, α_F), zero-debiased; (0, 0) before the first update."""
        if self.updates == 0:
            return 0.0, 0.0
        debias = 1.0 - self.decay ** self.updates
        return float(self.real_acc) / debias, float(self.fake_acc) / debias

    def update(self, o_real: torch.Tensor, o_fake: torch.Tensor, reduce: Optional[Reduce] = None) -> None:
        means = {"real": o_real.detach().float().mean(), "fake": o_fake.detach().float().mean()}
        if reduce is not None:  # every process keeps the same anchors
            means = reduce(means)
        b = self.decay
        self.real_acc = b * self.real_acc + (1 - b) * means["real"].cpu().to(torch.float64)
        self.fake_acc = b * self.fake_acc + (1 - b) * means["fake"].cpu().to(torch.float64)
        self.updates += 1

    def __call__(self, o_real: torch.Tensor, o_fake: torch.Tensor,
                 reduce: Optional[Reduce] = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """λ R_LC for this batch's adversarial logits (after updating the anchors), and logs."""
        self.update(o_real, o_fake, reduce)
        alpha_real, alpha_fake = self.anchors()
        penalty = F.relu(o_real - alpha_fake).square().mean() + F.relu(alpha_real - o_fake).square().mean()
        logs = {"lecam_anchor_real": torch.tensor(alpha_real), "lecam_anchor_fake": torch.tensor(alpha_fake)}
        return self.weight * penalty, logs

    def state_dict(self) -> dict:
        return {"real_acc": self.real_acc.clone(), "fake_acc": self.fake_acc.clone(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.real_acc = state["real_acc"].clone().to(torch.float64)
        self.fake_acc = state["fake_acc"].clone().to(torch.float64)
        self.updates = int(state["updates"])
