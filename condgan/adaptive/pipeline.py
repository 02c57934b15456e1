"""The ADA augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data", §2.3 and App. B).

Every operation is applied to each image independently with probability p (the adaptive
strength, `condgan.adaptive.heuristic`), in the fixed order below, with its random parameter
drawn per image:

  blit   xflip       horizontal flip                             (i ~ U{0, 1})
         rotate90    rotation by i·90°                           (i ~ U{0, 1, 2, 3})
         xint        integer translation t·size                  (t ~ U[−⅛, ⅛]², rounded)
  geom   scale       isotropic scaling 2^s                       (s ~ N(0, 0.2²))
         rotate      rotation θ before and after `aniso`, each with probability 1 − sqrt(1 − p)
                     (so that P(any rotation) = p)               (θ ~ U[−π, π])
         aniso       anisotropic scaling (2^s, 2^−s)             (s ~ N(0, 0.2²))
         xfrac       fractional translation t·size               (t ~ N(0, ⅛²)²)
  color  brightness  v ↦ v + b                                   (b ~ N(0, 0.2²))
         contrast    v ↦ c v                                     (log2 c ~ N(0, 0.5²))
         lumaflip    Householder reflection of RGB about the luma axis (gray: v ↦ −v)
         hue         rotation of RGB about the luma axis         (θ ~ U[−π, π]; RGB only)
         saturation  scaling orthogonal to the luma axis 2^s     (s ~ N(0, 1); RGB only)
  other  cutout      a zeroed square of half the image side at a uniform center
         noise       additive N(0, σ²), σ = |N(0, 0.1²)|

Group names expand to their operations: `blit`, `geom`, `color` and `bgc` (= blit + geom + color,
stylegan2-ada's default). The geometric operations compose into one 3×3 matrix per image
(output pixel → input position, about the image center) and are executed as one bilinear
resampling with mirrored borders; the color operations compose into one 4×4 matrix on
(r, g, b, 1) (one channel: the mean of its first three rows, as stylegan2-ada). Values are in
[−1, 1], so the luma axis passes through mid-gray 0.

Simplification against stylegan2-ada: the resampling is plain bilinear at the image's own
resolution (stylegan2-ada upsamples 2× with a wavelet filter first to limit aliasing), written
with gathers so it is differentiable to any order (R1 through the augmentation), and the
image-space filtering operation is not implemented. Everything stays differentiable with respect
to the images, so G learns through the augmentation of fakes.

Non-leaking (§2.2): every operation is applied with probability p < 1 and its distribution of
parameters includes the identity, so the augmented real distribution determines the real one and
G is only rewarded for matching the un-augmented data, provided every D input — reals and fakes,
in D's and G's steps and the penalties' inputs — goes through the same pipeline with the same p
(`AugmentedDiscriminator`).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from condgan.errors import CondganError
from condgan.registry import suggest

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
OTHER = ("cutout", "noise")
OPERATIONS = GEOMETRIC + COLOR + OTHER
"""The operations in the order the pipeline applies them. They are fused (one geometric matrix,
one color matrix), so they are constants rather than a registry of functions."""
GROUPS = {"blit": GEOMETRIC[:3], "geom": GEOMETRIC[3:], "color": COLOR, "bgc": GEOMETRIC + COLOR}

XINT_MAX = 0.125
SCALE_STD = 0.2
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
SATURATION_STD = 1.0
CUTOUT_SIZE = 0.5
NOISE_STD = 0.1


def expand_operations(names: Sequence[str]) -> list[str]:
    """Group names expanded; unknown names raise CondganError (with a suggestion); order kept,
    duplicates dropped. The operations always run in the pipeline's canonical order."""
    chosen: set[str] = set()
    for name in names:
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in OPERATIONS:
            chosen.add(name)
        else:
            choices = list(GROUPS) + list(OPERATIONS)
            raise CondganError(f"config key 'ada.pipeline': unknown ADA operation '{name}'{suggest(name, choices)}; "
                               f"choose from the groups {', '.join(GROUPS)} or the operations {', '.join(OPERATIONS)}")
    return [op for op in OPERATIONS if op in chosen]


# ------------------------------------------------------------------ homogeneous matrices
def _eye(n: int, batch: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(n, dtype=like.dtype, device=like.device).repeat(batch, 1, 1)


def _matrix(n: int, entries: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """A batch of n×n identities with `entries` {(row, col): per-sample values} set."""
    values = next(iter(entries.values()))
    m = _eye(n, len(values), values)
    for (i, j), v in entries.items():
        m[:, i, j] = v
    return m


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _matrix(3, {(0, 0): sx, (1, 1): sy})


def rotate2d(theta: torch.Tensor) -> torch.Tensor:
    c, s = theta.cos(), theta.sin()
    return _matrix(3, {(0, 0): c, (0, 1): -s, (1, 0): s, (1, 1): c})


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrix(3, {(0, 2): tx, (1, 2): ty})


def translate3d(t: torch.Tensor) -> torch.Tensor:
    return _matrix(4, {(0, 3): t, (1, 3): t, (2, 3): t})


def scale3d(s: torch.Tensor) -> torch.Tensor:
    return _matrix(4, {(0, 0): s, (1, 1): s, (2, 2): s})


def luma_axis(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=like.dtype, device=like.device) / math.sqrt(3)


def rotate3d(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by θ about the unit `axis` (Rodrigues: cos θ I + sin θ [v]× + (1 − cos θ) v vᵀ),
    as a 4×4 homogeneous matrix."""
    vx, vy, vz = axis[0], axis[1], axis[2]
    zero = torch.zeros((), dtype=axis.dtype, device=axis.device)
    cross = torch.stack([torch.stack([zero, -vz, vy]), torch.stack([vz, zero, -vx]), torch.stack([-vy, vx, zero])])
    c, s = theta.cos()[:, None, None], theta.sin()[:, None, None]
    v = axis[:3]
    m = _eye(4, len(theta), theta)
    m[:, :3, :3] = c * torch.eye(3, dtype=axis.dtype, device=axis.device) + s * cross + (1 - c) * torch.outer(v, v)
    return m


# ------------------------------------------------------------------ execution
def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Integer positions mirrored into [0, size − 1] without repeating the edge pixel (numpy's /
    torch's 'reflect' padding, extended periodically)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    m = torch.remainder(index, period)
    return torch.minimum(m, period - m)


def resample(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """out[b, :, i, j] = bilinear sample of x[b] at inverse[b] · (j − c_x, i − c_y, 1) + (c_x, c_y)
    (c = the image center), mirrored at the borders. Gathers only: differentiable in x to any order."""
    n, c, h, w = x.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device) - cy,
                            torch.arange(w, dtype=x.dtype, device=x.device) - cx, indexing="ij")
    grid = torch.stack([xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())])   # (3, HW)
    src = inverse.to(x.dtype) @ grid                                                    # (n, 3, HW)
    u, v = src[:, 0] + cx, src[:, 1] + cy
    u0, v0 = u.floor(), v.floor()
    fu, fv = (u - u0)[:, None], (v - v0)[:, None]
    u0, v0 = u0.long(), v0.long()
    flat = x.reshape(n, c, h * w)

    def at(vi, ui):
        index = (_reflect(vi, h) * w + _reflect(ui, w))[:, None].expand(n, c, h * w)
        return flat.gather(2, index)

    top = at(v0, u0) * (1 - fu) + at(v0, u0 + 1) * fu
    bottom = at(v0 + 1, u0) * (1 - fu) + at(v0 + 1, u0 + 1) * fu
    return (top * (1 - fv) + bottom * fv).reshape(n, c, h, w)


class AdaptiveAugment:
    """`x ↦ augmented x` with strength `p` (a float the heuristic moves), random draws from
    `generator` (a seeded run is reproducible, a resumed one bit-identical). p = 0 returns x
    itself without drawing."""

    def __init__(self, operations: Sequence[str], generator: torch.Generator, p: float = 0.0):
        self.operations = expand_operations(operations)
        self.generator = generator
        self.p = p

    # draws ------------------------------------------------------------
    def _rand(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(n, dtype=like.dtype, device=like.device, generator=self.generator)

    def _randn(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, dtype=like.dtype, device=like.device, generator=self.generator)

    def _gate(self, value: torch.Tensor, identity: float, probability: float | None = None) -> torch.Tensor:
        """`value` where a U[0, 1) draw is below p (or `probability`), else the identity."""
        keep = self._rand(len(value), value) < (self.p if probability is None else probability)
        return torch.where(keep, value, torch.full_like(value, identity))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0 or x.dim() != 4:  # vector data (mlp nets): nothing to augment
            return x
        n, c, h, w = x.shape
        ops = set(self.operations)
        # The matrices are built in float64 on the images' device: composition of several
        # transforms stays exact enough that the identity lands on pixel centers.
        like = torch.zeros((), dtype=torch.float64, device=x.device)
        inverse = _eye(3, n, like)
        transformed = False
        if "xflip" in ops:
            i = self._gate(torch.floor(self._rand(n, like) * 2), 0.0)
            inverse = inverse @ scale2d(1 - 2 * i, torch.ones_like(i))
            transformed = True
        if "rotate90" in ops:
            i = self._gate(torch.floor(self._rand(n, like) * 4), 0.0)
            inverse = inverse @ rotate2d(math.pi / 2 * i).round()  # exact multiples of 90°
            transformed = True
        if "xint" in ops:
            t = (self._rand(2 * n, like).reshape(n, 2) * 2 - 1) * XINT_MAX
            keep = self._rand(n, like) < self.p
            t = torch.where(keep[:, None], t, torch.zeros_like(t))
            inverse = inverse @ translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
            transformed = True
        if "scale" in ops:
            s = self._gate(torch.exp2(self._randn(n, like) * SCALE_STD), 1.0)
            inverse = inverse @ scale2d(1 / s, 1 / s)
            transformed = True
        p_rot = 1 - math.sqrt(max(0.0, 1 - self.p))
        if "rotate" in ops:
            theta = self._gate((self._rand(n, like) * 2 - 1) * math.pi, 0.0, p_rot)
            inverse = inverse @ rotate2d(theta)  # inverse of a rotation by −θ
            transformed = True
        if "aniso" in ops:
            s = self._gate(torch.exp2(self._randn(n, like) * ANISO_STD), 1.0)
            inverse = inverse @ scale2d(1 / s, s)
            transformed = True
        if "rotate" in ops:
            theta = self._gate((self._rand(n, like) * 2 - 1) * math.pi, 0.0, p_rot)
            inverse = inverse @ rotate2d(theta)
        if "xfrac" in ops:
            t = self._randn(2 * n, like).reshape(n, 2) * XFRAC_STD
            keep = self._rand(n, like) < self.p
            t = torch.where(keep[:, None], t, torch.zeros_like(t))
            inverse = inverse @ translate2d(-t[:, 0] * w, -t[:, 1] * h)
            transformed = True
        if transformed:
            x = resample(x, inverse)
        x = self._color(x, ops, like)
        return self._corrupt(x, ops)

    def _color(self, x: torch.Tensor, ops: set, like: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if not ops & set(COLOR):
            return x
        m = _eye(4, n, like)
        v = luma_axis(like)
        if "brightness" in ops:
            m = translate3d(self._gate(self._randn(n, like) * BRIGHTNESS_STD, 0.0)) @ m
        if "contrast" in ops:
            m = scale3d(self._gate(torch.exp2(self._randn(n, like) * CONTRAST_STD), 1.0)) @ m
        if "lumaflip" in ops:
            i = self._gate(torch.floor(self._rand(n, like) * 2), 0.0)
            m = (torch.eye(4, dtype=like.dtype, device=like.device) - 2 * torch.outer(v, v) * i[:, None, None]) @ m
        if "hue" in ops and c == 3:
            m = rotate3d(v, self._gate((self._rand(n, like) * 2 - 1) * math.pi, 0.0)) @ m
        if "saturation" in ops and c == 3:
            s = self._gate(torch.exp2(self._randn(n, like) * SATURATION_STD), 1.0)[:, None, None]
            vv = torch.outer(v, v)
            m = (vv + (torch.eye(4, dtype=like.dtype, device=like.device) - vv) * s) @ m
        m = m.to(x.dtype)
        flat = x.reshape(n, c, h * w)
        if c == 3:
            out = m[:, :3, :3] @ flat + m[:, :3, 3:]
        elif c == 1:
            row = m[:, :3, :].mean(dim=1, keepdim=True)                    # (n, 1, 4)
            out = flat * row[:, :, :3].sum(dim=2, keepdim=True) + row[:, :, 3:]
        else:
            raise CondganError(f"ADA color operations need 1 or 3 image channels, got {c}; "
                               "drop them from ada.pipeline")
        return out.reshape(n, c, h, w)

    def _corrupt(self, x: torch.Tensor, ops: set) -> torch.Tensor:
        n, c, h, w = x.shape
        if "noise" in ops:
            sigma = self._gate(self._randn(n, x).abs() * NOISE_STD, 0.0)
            noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=self.generator)
            x = x + noise * sigma.reshape(n, 1, 1, 1)
        if "cutout" in ops:
            size = self._gate(torch.full((n,), CUTOUT_SIZE, dtype=x.dtype, device=x.device), 0.0)
            center = self._rand(2 * n, x).reshape(n, 2)
            cols = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5) / w
            rows = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5) / h
            outside_x = (cols[None, :] - center[:, :1]).abs() >= size[:, None] / 2        # (n, w)
            outside_y = (rows[None, :] - center[:, 1:]).abs() >= size[:, None] / 2        # (n, h)
            keep = outside_x[:, None, :] | outside_y[:, :, None]                            # (n, h, w)
            x = x * keep[:, None].to(x.dtype)
        return x


Augment = Callable[[torch.Tensor], torch.Tensor]
