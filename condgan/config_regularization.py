"""The config sections of the regularizers (`reg.*`) and of the adaptive augmentations (`ada.*`,
`apa.*`), part of `condgan.config.Config` (declared here to keep config.py one screenful of
sections shorter; parsed and validated with the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class RegConfig:
    gp: float = 0.0
    """WGAN-GP weight λ on interpolates (Gulrajani 2017)."""
    r1: float = 0.0
    """R1 weight γ: γ/2 E||∇_x D(x)||² on reals."""
    r2: float = 0.0
    """R2 weight γ: γ/2 E||∇_x D(x')||² on fakes."""
    cr: float = 0.0
    """Consistency regularization weight λ on reals: λ E||D(x) − D(T(x))||² (per head, the mean over
    its outputs), T a random flip + reflect-padded translation (Zhang 2020); with cr_fake it is bCR
    (Zhao 2021)."""
    cr_fake: float = 0.0
    """bCR weight on fakes: λ E||D(x') − D(T(x'))||²."""
    dragan: float = 0.0
    """DRAGAN weight λ (Kodali 2017): λ E(||∇D(x̂)|| − 1)² at x̂ = x + α·0.5·std(x)·u, perturbed reals."""
    d_interval: int = 1
    """Lazy regularization (StyleGAN2 App. B): with d_interval = k > 1 the penalties above (gp, r1,
    r2, cr, cr_fake, dragan) leave D's loss and take a D step of their own every k-th iteration, weights
    × k, D's optimizer at lr·c and betas^c, c = k/(k+1) (StyleGAN2: 16 for R1). 1 = in every D
    step's loss."""
    historical_averaging: float = 0.0
    """Historical averaging weight λ (Salimans 2016 §3.3): λ‖θ − θ̄‖² in G's and D's losses, θ̄
    the mean of the player's parameters over all its past steps; 0 = off."""
    weight_clip: float = 0.0
    """WGAN weight clipping c (Arjovsky 2017, Algorithm 1): every D parameter clamped to [−c, c]
    after each D step (a Lipschitz constraint for loss.adversarial=wasserstein); 0 = off."""
    lecam: float = 0.0
    """LeCam regularization weight λ (Tseng et al. 2021): λ (E relu(D(x) − α_F)² +
    E relu(α_R − D(x'))²) with α_R, α_F moving averages of D's outputs on reals / fakes; 0 = off."""
    lecam_decay: float = 0.99
    """Decay of LeCam's anchors α_R, α_F (zero-debiased moving averages), in [0, 1)."""
    pl: float = 0.0
    """Path-length regularization weight (StyleGAN2 §3.2; stylegan2-ada: 2); style-based G only."""
    pl_interval: int = 4
    """Lazy path-length regularization: a G step of its own every pl_interval-th iteration, weight
    × pl_interval, G's optimizer at lr·c and betas^c, c = k/(k+1) when k = pl_interval > 1."""
    pl_decay: float = 0.01
    """Decay β of the path-length running mean a ← a + β (mean length − a)."""
    pl_batch_shrink: int = 2
    """The path-length penalty is computed on train.batch_size / pl_batch_shrink fakes."""
    style_mixing: float = 0.0
    """Style mixing probability (StyleGAN §3.1; stylegan2-ada: 0.9); style-based G only."""
    ortho: float = 0.0
    """Orthogonal regularization of G (BigGAN §3.1): β Σ_W ||W Wᵀ ⊙ (1 − I)||²_F in G's loss."""


@dataclass
class AdaptiveConfig:
    """An augmentation probability p adapted by the overfitting heuristic r_t = E sign(D(x_real))
    (Karras et al. 2020, "Training GANs with Limited Data", §3). On when target is set or p > 0."""

    p: float = 0.0
    """Initial p in [0, 1] (the fixed p when target is unset)."""
    target: Optional[float] = None
    """Target of r_t in [0, 1] (stylegan2-ada: 0.6); unset = p stays fixed."""
    interval: int = 4
    """Adjust p every this many generator steps."""
    kimg: float = 500.0
    """Adjustment speed: p moves by at most 1 per kimg·1000 real images shown to D (stylegan2-ada:
    500; smaller reacts faster, which short runs need)."""


@dataclass
class AdaConfig(AdaptiveConfig):
    pipeline: list[str] = field(default_factory=lambda: ["bgc"])
    """ADA operations applied (each with probability p) to every D input: groups blit, geom, color,
    bgc (= all three, stylegan2-ada's default) or single operations xflip, rotate90, xint, scale,
    rotate, aniso, xfrac, brightness, contrast, lumaflip, hue, saturation, cutout, noise."""


@dataclass
class ApaConfig(AdaptiveConfig):
    """Adaptive pseudo augmentation (Jiang et al. 2021): each real in D's step is replaced by a
    fake (presented as real) with probability p."""
