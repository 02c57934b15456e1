"""Unrolled GAN (Metz et al. 2017, "Unrolled Generative Adversarial Networks", §2, Eqs. 5–7):
`train.unrolled_steps=K` (0 = off), the lecture's remedy for mode collapse.

G's loss is taken against the discriminator as it will be after K more of its own training
steps, and G's gradient flows through those steps:

    θ_D^0 = θ_D,   θ_D^{k+1} = θ_D^k + u(∇_{θ_D} L_D(θ_G, θ_D^k)),   L_G^K(θ_G) = L_G(θ_G, θ_D^K(θ_G))

(Eq. 5's look-ahead with u the update of D's optimizer). G's gradient dL_G^K/dθ_G has Eq. 7's
second term, ∂L_G/∂θ_D^K · dθ_D^K/dθ_G, which is what lets G anticipate D's reaction: a G
that piles its samples onto one mode is punished by the look-ahead D. The actual D keeps its own
update (the D phase; the look-ahead is thrown away after G's step).

condgan's choices, where the paper leaves them open:
* u is D's own optimizer step (Adam or AdamW, with D's learning rate, betas, ε, weight decay and
  its current moment estimates and step count), written as a differentiable function of the
  gradient, so the look-ahead is exactly what the D phase would do next;
* every look-ahead step uses the reals of the iteration's last D step and the G phase's own fakes
  (with their graph: L_D depends on θ_G through them), and D's loss without the reg.* penalties
  and diagnostics (they would need third derivatives) and without the step's `d_terms` (LeCam's
  term; ADA's and APA's r_t observers must see each real batch once); the reals are the ones D
  saw, after APA's transforms, and D is called through ADA / DiffAugment as in the D phase;
* batch-norm statistics and spectral-norm vectors are advanced on copies, D's own buffers are
  left as they are; parameters D's optimizer does not train (FreezeD) stay fixed.
Costs K extra forward and double-backward passes of D per G step.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch.func import functional_call

from condgan.training.extensions.installers import EXTENSIONS, Extension, non_negative

SQRT_FLOOR = 1e-30  # v below this: the square root's derivative would be infinite at v = 0


class LookAheadAdam:
    """One differentiable step of a torch Adam / AdamW optimizer's update for named parameters,
    starting from that optimizer's state (moments and step count) of the same parameters."""

    def __init__(self, optimizer: torch.optim.Optimizer, named: dict[str, torch.nn.Parameter]):
        self.decoupled = isinstance(optimizer, torch.optim.AdamW)
        self.slots = {}
        names = {id(q): n for n, q in named.items()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                name = names.get(id(p))
                if name is None:
                    continue
                state = optimizer.state.get(p, {})
                self.slots[name] = {
                    "group": group, "t": float(state["step"]) if "step" in state else 0.0,
                    "m": state["exp_avg"].detach() if "exp_avg" in state else torch.zeros_like(p),
                    "v": state["exp_avg_sq"].detach() if "exp_avg_sq" in state else torch.zeros_like(p)}

    def trained(self, name: str) -> bool:
        return name in self.slots

    def step(self, name: str, p: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The parameter after one step (its slot's moments and count advance)."""
        slot = self.slots[name]
        group = slot["group"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        slot["t"] += 1
        t = slot["t"]
        if wd and self.decoupled:
            p = p * (1 - lr * wd)
        elif wd:
            grad = grad + wd * p
        slot["m"] = beta1 * slot["m"] + (1 - beta1) * grad
        slot["v"] = beta2 * slot["v"] + (1 - beta2) * grad * grad
        denom = slot["v"].clamp_min(SQRT_FLOOR).sqrt() / (1 - beta2 ** t) ** 0.5 + eps
        return p - (lr / (1 - beta1 ** t)) * slot["m"] / denom


def unrolled_parameters(module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        loss_of: Callable[[Callable], torch.Tensor], steps: int) -> tuple[dict, dict]:
    """(parameters, buffers) of `module` after `steps` differentiable look-ahead steps of
    `optimizer` on `loss_of(D)`, where D(x, cnd) calls the module with the current look-ahead
    parameters. The returned parameters carry the graph back to whatever `loss_of` depends on
    (the fakes); the module's own parameters, buffers and the optimizer are not changed."""
    named = dict(module.named_parameters())
    update = LookAheadAdam(optimizer, named)
    params = {n: p.detach().requires_grad_(p.requires_grad or update.trained(n)) for n, p in named.items()}
    buffers = {n: b.clone() for n, b in module.named_buffers()}
    for _ in range(steps):
        loss = loss_of(lambda x, cnd, p=params: functional_call(module, {**p, **buffers}, (x, cnd)))
        names = [n for n in params if update.trained(n)]
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True, allow_unused=True)
        new = dict(params)
        for n, g in zip(names, grads):
            if g is not None:
                new[n] = update.step(n, params[n], g)
        params = new
    return params, buffers


class UnrolledCritic:
    """The step's `generator_critic` hook: D after K look-ahead steps, as a callable D(x, cnd)."""

    def __init__(self, step, steps: int):
        self.step, self.steps = step, steps

    def look_ahead_loss(self, d_fn, real, real_labels, fake, fake_labels) -> torch.Tensor:
        s = self.step
        out_r, out_f = s.discriminate(real, real_labels, fake, fake_labels, d_fn)
        fake_labels = s.labeling.relabel_fakes(out_f, fake_labels, s.method)
        loss, _ = s.method.d_loss(out_r, out_f, real_labels, fake_labels)
        extra, _ = s.labeling.extra_loss(out_f, fake_labels, "d")
        return loss if extra is None else loss + extra

    def __call__(self, it, fake, fake_labels):
        s = self.step
        augment = getattr(s.d_fn, "augment", None)  # DiffAugment wraps D without being a module

        def as_called(d):
            return (lambda x, cnd: d(augment(x), cnd)) if augment is not None else d

        params, buffers = unrolled_parameters(
            s.D, s.opt_d, lambda d: self.look_ahead_loss(as_called(d), it.real, it.real_labels, fake, fake_labels),
            self.steps)
        return as_called(lambda x, cnd: functional_call(s.D, {**params, **buffers}, (x, cnd)))


@EXTENSIONS.register("unrolled")
class Unrolled(Extension):
    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.train.unrolled_steps > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        reason = non_negative("train.unrolled_steps", cfg.train.unrolled_steps)
        if reason:
            return reason
        if cfg.train.unrolled_steps and cfg.train.compile:
            return "train.unrolled_steps with train.compile: the look-ahead calls D functionally; set train.compile=false"
        return None

    @classmethod
    def install(cls, trainer) -> None:
        trainer.gan_step.generator_critic = UnrolledCritic(trainer.gan_step, trainer.cfg.train.unrolled_steps)
