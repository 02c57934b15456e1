"""The one place latents are drawn: z ~ N(0, I), optionally truncated (BigGAN truncation trick).

Sample grids, `TrainedGenerator.sample`, standing statistics and evaluation all draw their
latents here, from a `torch.Generator` the caller owns. Drawing only from that generator (never
the global RNG) is what makes every output reproducible from its seed and keeps sampling from
disturbing the training RNG.

Truncation trick (Brock, Donahue & Simonyan, "Large Scale GAN Training for High Fidelity Natural
Image Synthesis", 2019, §3.1; CS294-158 lecture 5, "BigGAN – Truncation Trick"): every element
z_i with |z_i| > T is resampled from N(0, 1), again and again, until |z_i| ≤ T. Each element is
therefore an independent draw from N(0, 1) truncated to [-T, T]; smaller T trades diversity for
per-sample fidelity. Elements already inside [-T, T] keep the value of the untruncated draw, and
the resampling consumes the same generator, so a truncated draw is deterministic per seed too.
T = None or 0 means no truncation, and then the draw is exactly `torch.randn(n, z_dim,
generator=g)` — outputs made before truncation existed stay byte-identical.

Style-based generators (`truncates_in_w`, e.g. StyleGAN2) truncate in their intermediate latent
space instead (StyleGAN §3.2 / App. B): z is drawn untruncated and w ← w̄ + ψ (w − w̄) with ψ = T,
so T = 0.7 means what StyleGAN users expect. `latent_truncation` decides which applies.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch

from condgan.errors import CondganError

# Resampling needs about log(N) / P(|z| ≤ T) rounds and P(|z| ≤ T) ≈ 0.8 T for small T, so a
# tiny T would loop for a very long time; below this, z ≈ 0 anyway (one image per class).
MIN_TRUNCATION = 1e-3


def check_truncation(truncation: float | None, name: str = "truncation") -> float | None:
    """`truncation` as a float threshold, or None for no truncation (None or 0).

    Raises CondganError for negative, non-finite or too small (< MIN_TRUNCATION) values;
    `name` is how the caller's user spells the option (e.g. "--truncation")."""
    if truncation is None or truncation == 0:
        return None
    try:
        t = float(truncation)
    except (TypeError, ValueError):
        raise CondganError(f"{name} must be a number > 0, got {truncation!r}") from None
    if not math.isfinite(t) or t < MIN_TRUNCATION:
        raise CondganError(f"{name} must be a finite number ≥ {MIN_TRUNCATION} (the |z| threshold, "
                           f"e.g. 0.5; omit it for no truncation), got {truncation!r}")
    return t


def sample_latents(n: int, z_dim: int, generator: torch.Generator, truncation: float | None = None,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """(n, z_dim) latents z ~ N(0, I) drawn from `generator` (on its device), then moved to `device`.

    With `truncation` T (> 0), elements with |z_i| > T are redrawn from `generator` until
    |z_i| ≤ T (per element, not per vector). None or 0: no truncation."""
    t = check_truncation(truncation)
    z = torch.randn(n, z_dim, generator=generator, device=generator.device)
    if t is not None:
        outside = z.abs() > t
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator, device=generator.device)
            outside = z.abs() > t
    return z if device is None else z.to(device)


@contextlib.contextmanager
def latent_truncation(generator: torch.nn.Module, truncation: float | None) -> Iterator[float | None]:
    """Truncation T for samples of `generator`, as a context: yields the |z| threshold to draw
    latents with. When `generator` is or wraps (a labeling mode's sampling wrapper) a generator
    that truncates in W (`truncates_in_w`), those modules use ψ = T inside the block
    (`truncation_psi`) and the latents are drawn untruncated (None is yielded)."""
    t = check_truncation(truncation)
    styled = [m for m in generator.modules() if getattr(m, "truncates_in_w", False)] if t is not None else []
    if not styled:
        yield t
        return
    saved = [m.truncation_psi for m in styled]
    for m in styled:
        m.truncation_psi = t
    try:
        yield None
    finally:
        for m, psi in zip(styled, saved):
            m.truncation_psi = psi
