"""Historical averaging (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.3):
`reg.historical_averaging=λ`."""

from __future__ import annotations

import torch

from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension


class ParameterHistory:
    """The running mean θ̄_t = (1/t) Σ_{i=1}^t θ[i] of a network's parameters over the t values
    they have taken: the initial one and the one after each optimizer step so far."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params
        self.mean = [p.detach().clone() for p in params]
        self.count = 1

    @torch.no_grad()
    def update(self) -> None:
        """θ̄_{t+1} = θ̄_t + (θ − θ̄_t)/(t + 1), after an optimizer step."""
        self.count += 1
        torch._foreach_lerp_(self.mean, [p.detach() for p in self.params], 1.0 / self.count)

    def penalty(self) -> torch.Tensor:
        """‖θ − θ̄‖² = Σ over every parameter element, with gradient through θ only."""
        return sum((p - m).square().sum() for p, m in zip(self.params, self.mean))

    def state_dict(self) -> dict:
        return {"mean": [m.clone() for m in self.mean], "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for m, saved in zip(self.mean, state["mean"]):
                m.copy_(saved)
        self.count = state["count"]


@STEP_EXTENSIONS.register("historical_averaging")
class HistoricalAveraging(StepExtension):
    """Each player's loss gets λ‖θ − θ̄‖², θ̄ the mean of that player's parameters over its past
    values (`ParameterHistory`; θ̄ is a constant in the gradient), so a player that moves far
    from where it has been is pulled back, which damps the oscillations of simultaneous gradient
    descent. The paper's λ is not given; the penalty grows with the number of parameters, so λ
    is small (e.g. 1e-4 … 1e-2)."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.reg.historical_averaging > 0

    def attach(self, step) -> None:
        super().attach(step)
        self.d_history = ParameterHistory(list(step.D.parameters()))
        self.g_history = ParameterHistory(list(step.G.parameters()))

    def d_loss(self, loss, logs, **_) -> torch.Tensor:
        value = self.cfg.reg.historical_averaging * self.d_history.penalty()
        logs["d_historical_averaging"] = value
        return loss + value

    def g_loss(self, loss, logs, it, **_) -> torch.Tensor:
        value = self.cfg.reg.historical_averaging * self.g_history.penalty()
        logs["g_historical_averaging"] = value
        return loss + value

    def after_d_step(self) -> None:
        self.d_history.update()

    def after_g_step(self) -> None:
        self.g_history.update()

    def state_dict(self) -> dict:
        return {"d": self.d_history.state_dict(), "g": self.g_history.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.d_history.load_state_dict(state["d"])
            self.g_history.load_state_dict(state["g"])
