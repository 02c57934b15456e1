"""Gradient penalties on the discriminator (docs/methods.md §5), registry `REGULARIZERS`.

A regularizer is `fn(ctx: PenaltyContext) -> penalty` (already multiplied by its weight from
`cfg.reg.<name>`); it is added to the discriminator loss when that weight is non-zero. The
scalar differentiated is `method.adv_logit`, the real/fake logit each sample's loss reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from condgan.losses.conditioning.base import ConditioningMethod, Labels
from condgan.registry import Registry


@dataclass
class PenaltyContext:
    discriminator: torch.nn.Module
    method: ConditioningMethod
    real: torch.Tensor
    fake: torch.Tensor
    real_labels: Labels
    fake_labels: Labels
    weight: float
    generator: torch.Generator | None = None
    """RNG for the penalties that sample (interpolation coefficients)."""
    grad_scale: float = 1.0
    """fp16 loss scale S (condgan.training.precision): input gradients are taken of S·D and
    divided by S, so they do not underflow in fp16; 1 otherwise."""


REGULARIZERS: Registry[Callable[[PenaltyContext], torch.Tensor]] = Registry("regularizer")


def scalar_input_gradient_sq_norm(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                                  scale: float = 1.0) -> torch.Tensor:
    """||∇_{x_i} s_i||² per sample for any per-sample scalar `s = fn(x)` of shape (B,), with a
    graph so the penalty itself can be back-propagated. `x` is detached first: the penalty trains
    the network inside `fn`, not whatever produced `x`. Samples must not interact in `fn`
    (per-sample gradients are read from ∇_x Σ_i s_i). `scale` S > 1 (fp16 training) takes the
    gradient of S·Σ_i s_i and divides it by S: the same value, without fp16 underflow."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).float().sum() * scale, x, create_graph=True)
    if scale != 1.0:
        grad = grad.float() / scale
    return grad.square().flatten(1).sum(1)


def input_gradient_sq_norm(ctx: PenaltyContext, x: torch.Tensor, labels: Labels) -> torch.Tensor:
    """||∇_x D(x)||² per sample (D's adversarial logit), with a graph."""
    return scalar_input_gradient_sq_norm(
        lambda v: ctx.method.adv_logit(ctx.discriminator(v, labels.cnd), labels), x, ctx.grad_scale)


@REGULARIZERS.register("r1")
def r1_penalty(ctx: PenaltyContext) -> torch.Tensor:
    """R1 (Mescheder 2018): γ/2 · E_real ||∇_x D(x)||²."""
    return 0.5 * ctx.weight * input_gradient_sq_norm(ctx, ctx.real, ctx.real_labels).mean()


@REGULARIZERS.register("r2")
def r2_penalty(ctx: PenaltyContext) -> torch.Tensor:
    """R2 (Mescheder 2018; seed 000): γ/2 · E_fake ||∇_x D(x')||²."""
    return 0.5 * ctx.weight * input_gradient_sq_norm(ctx, ctx.fake, ctx.fake_labels).mean()


@REGULARIZERS.register("gp")
def wgan_gradient_penalty(ctx: PenaltyContext) -> torch.Tensor:
    """WGAN-GP (Gulrajani 2017): λ · E (||∇_x̂ D(x̂)|| - 1)², x̂ = εx + (1-ε)x', ε ~ U[0,1] per sample.

    Interpolates carry the real sample's condition (the common conditional WGAN-GP choice)."""
    shape = (ctx.real.shape[0],) + (1,) * (ctx.real.dim() - 1)
    eps = torch.rand(shape, device=ctx.real.device, generator=ctx.generator)
    mixed = eps * ctx.real + (1 - eps) * ctx.fake  # detached by the input-gradient helper
    return ctx.weight * unit_gradient_norm_gap(ctx, mixed, ctx.real_labels)


def unit_gradient_norm_gap(ctx: PenaltyContext, x: torch.Tensor, labels: Labels) -> torch.Tensor:
    """E (‖∇_x D(x)‖ − 1)² over the batch `x` (GP, DRAGAN), with a graph."""
    # + tiny constant: the gradient of sqrt at 0 is infinite.
    norm = (input_gradient_sq_norm(ctx, x, labels) + 1e-12).sqrt()
    return (norm - 1).square().mean()


DRAGAN_SCALE = 0.5
"""c of DRAGAN's perturbation δ = c · std(x) · u (the authors' released code)."""


@REGULARIZERS.register("dragan")
def dragan_penalty(ctx: PenaltyContext) -> torch.Tensor:
    """DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs", the DRAGAN penalty):
    λ · E (‖∇_x̂ D(x̂)‖ − 1)² at points x̂ around the reals rather than between reals and fakes:
    x̂ = x + α·δ, δ = c · std(x) · u with u ~ U[0, 1)^d per element, α ~ U[0, 1] per sample,
    std(x) the standard deviation of the whole real batch and c = DRAGAN_SCALE (the paper writes
    the perturbation as δ ~ N(0, cI); this is its authors' code, the common form). It penalizes
    sharp gradients of D near the data, the local equilibria that mode collapse sits in.
    Perturbed points keep the real sample's condition. Draw order: u, then α."""
    x = ctx.real.detach()
    u = torch.rand(x.shape, device=x.device, dtype=x.dtype, generator=ctx.generator)
    alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype, generator=ctx.generator)
    perturbed = x + alpha * DRAGAN_SCALE * x.std() * u
    return ctx.weight * unit_gradient_norm_gap(ctx, perturbed, ctx.real_labels)


def consistency_sq_distance(ctx: PenaltyContext, x: torch.Tensor, labels: Labels) -> torch.Tensor:
    """Σ_heads mean_columns (D(x) − D(T(x)))² per sample, T = `condgan.augment.consistency_transform`
    (random flip + reflect-padded translation, one draw per sample from ctx.generator). Every head
    enters (the adversarial logit, class logits, projections), each as the mean squared difference
    over its outputs — the MSE per head of the reference implementation, so a K-column class head
    weighs as much as the one-column adversarial head. Both D(x) and D(T(x)) carry gradient."""
    from condgan.augment import consistency_transform

    x = x.detach()
    out, out_aug = ctx.discriminator(x, labels.cnd), ctx.discriminator(consistency_transform(x, ctx.generator), labels.cnd)
    return sum((out[k] - out_aug[k]).square().reshape(x.shape[0], -1).mean(1) for k in out)


@REGULARIZERS.register("cr")
def consistency_real(ctx: PenaltyContext) -> torch.Tensor:
    """CR (Zhang et al. 2020, "Consistency Regularization for GANs", §3): λ · E_real ||D(x) − D(T(x))||²
    (per head, the mean over its outputs; see `consistency_sq_distance`).
    With `cr_fake` it is the real half of bCR (Zhao et al. 2021, "Improved Consistency
    Regularization for GANs", §3.1)."""
    return ctx.weight * consistency_sq_distance(ctx, ctx.real, ctx.real_labels).mean()


@REGULARIZERS.register("cr_fake")
def consistency_fake(ctx: PenaltyContext) -> torch.Tensor:
    """The fake half of bCR (Zhao et al. 2021, §3.1): λ_fake · E_fake ||D(x') − D(T(x'))||²."""
    return ctx.weight * consistency_sq_distance(ctx, ctx.fake, ctx.fake_labels).mean()
