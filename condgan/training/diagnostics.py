"""Discriminator diagnostics for the training-stability analysis of Kang et al., "Rebooting
ACGAN" (§3, Fig. 2): the mean L2 norm of D's trunk features on reals and the L2 norm of the
gradient of D's conditioning loss with respect to D's parameters. AC-GAN's grow early in
training; feature-normalized D2D-CE keeps them bounded. Off by default (`train.diagnostics`)."""

from __future__ import annotations

import torch


class DiscriminatorDiagnostics:
    """`arm()` before a D step's forward; then `__call__(logs, num_real)` returns `diag_*` tensors.

    The trunk's output is caught by a forward hook that fires once per arming: the first trunk
    call of a D step is the real batch (or the mixed real+fake batch, whose real half is taken)."""

    def __init__(self, discriminator: torch.nn.Module, cond_loss_key: str | None):
        self.params = list(discriminator.parameters())
        self.cond_loss_key = cond_loss_key
        self.features: torch.Tensor | None = None
        self.armed = False
        discriminator.trunk.register_forward_hook(self._catch)

    def _catch(self, module, args, out) -> None:
        if self.armed:
            self.features, self.armed = out, False

    def arm(self) -> None:
        self.armed, self.features = True, None

    def __call__(self, d_logs: dict[str, torch.Tensor], num_real: int) -> dict[str, torch.Tensor]:
        out = {}
        if self.features is not None:
            out["diag_feature_norm"] = self.features[:num_real].detach().flatten(1).norm(dim=1).mean()
        cond = d_logs.get(self.cond_loss_key) if self.cond_loss_key else None
        if cond is not None:
            grads = torch.autograd.grad(cond, self.params, retain_graph=True, allow_unused=True)
            out["diag_cond_grad_norm"] = torch.sqrt(sum(g.square().sum() for g in grads if g is not None))
        return out
