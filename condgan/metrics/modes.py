"""Modes recovered and the fraction of high-quality samples, for mixtures of well-separated
modes such as the synthetic ring and grid of Gaussians (Srivastava et al. 2017, "VEEGAN", §5.1;
Lin et al. 2018, "PacGAN", §5.1; the unrolled-GAN ring of Metz et al. 2017).

The modes are the data's classes, read from the labeled real samples: centre μ_k = the mean of
class k's real features, spread σ_k = sqrt(mean over dimensions of their variance) (the std of an
isotropic Gaussian). Each fake x is assigned to its nearest centre k(x) (Euclidean); it is
*high quality* when ‖x − μ_k(x)‖ ≤ t · σ_k(x) (t = `threshold`, 3 as in VEEGAN and PacGAN). A mode
is *recovered* when at least `min_fraction` · N_f / K high-quality fakes are assigned to it, i.e.
a fraction of what a perfect generator of K equally likely modes would put there (0.2: PacGAN's
"at least 20 of 100 expected" on the 25-mode grid). Keys:

    modes_recovered   the number of recovered modes (higher is better; K at best)
    high_quality      the fraction of fakes that are high quality (higher is better)
    modes_total       K, for reading the first

With the raw samples as features (the synthetic sources are 2-D vectors) the units are the
data's own; on extractor features it measures the same in feature space.
"""

from __future__ import annotations

import torch

from condgan.errors import CondganError
from condgan.metrics.base import MetricInputs, register_metric


def mode_assignment(fakes: torch.Tensor, centers: torch.Tensor, spreads: torch.Tensor,
                    threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest mode of each fake, whether it lies within threshold · σ of that mode's centre)."""
    dist = torch.cdist(fakes.double(), centers.double())
    nearest, index = dist.min(1)
    return index, nearest <= threshold * spreads.double()[index]


@register_metric("modes", needs=("real_features", "real_labels", "fake_features"),
                 higher_is_better={"modes_recovered": True, "high_quality": True})
def modes(inputs: MetricInputs, threshold: float = 3.0, min_fraction: float = 0.2) -> dict[str, float]:
    real, labels, fakes = inputs.real_features, inputs.real_labels, inputs.fake_features
    classes = torch.unique(labels)
    counts = torch.stack([(labels == k).sum() for k in classes])
    if counts.min() < 2:
        raise CondganError(f"metric 'modes' needs at least 2 real samples of every class to estimate its spread; "
                           f"class {int(classes[counts.argmin()])} has {int(counts.min())}")
    centers = torch.stack([real[labels == k].double().mean(0) for k in classes])
    spreads = torch.stack([real[labels == k].double().var(0).mean().sqrt() for k in classes])
    index, good = mode_assignment(fakes, centers, spreads, threshold)
    per_mode = torch.bincount(index[good], minlength=len(classes))
    needed = min_fraction * fakes.shape[0] / len(classes)
    return {"modes_recovered": float((per_mode >= needed).sum()), "high_quality": float(good.double().mean()),
            "modes_total": float(len(classes))}
