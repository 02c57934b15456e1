"""The metric library: pure math on extracted features / class probabilities (docs/evaluation.md).

Every metric is `fn(inputs: MetricInputs, **opts) -> dict[str, float]`, registered by name in
`METRICS` as a `MetricSpec` (see base.py for the convention). Registered names and their keys:

    fid                   fid                                      fid.py
    intra_fid             intra_fid, intra_fid/<y>[, intra_fid/flagged]  fid.py
    kid                   kid, kid_std                             kid.py
    is                    is, is_std                               inception_score.py
    am_score              am_score, am_score/kl, am_score/entropy  inception_score.py
    prdc                  precision, recall, density, coverage     prdc.py
    conditional_accuracy  conditional_accuracy                     conditional.py
    class_tv              class_tv                                 conditional.py
    attribute_accuracy    attribute_accuracy, attribute_accuracy/<m>  conditional.py
    intra_ssim            intra_ssim, intra_ssim/max, intra_ssim/<y>  diversity.py
    clustering            cluster_acc, cluster_nmi, cluster_ari    clustering.py
    cas                   cas                                      transfer.py
    linear_probe          linear_probe_acc                         transfer.py
    parzen                parzen_ll, parzen_ll_se, parzen_sigma    parzen.py
    modes                 modes_recovered, high_quality, modes_total  modes.py
"""

from condgan.metrics.base import METRICS, MetricInputs, MetricSpec, compute_metrics, register_metric
from condgan.metrics.fid import fid_from_stats
from condgan.metrics.gaussian import GaussianStats

# importing the modules registers their metrics
from condgan.metrics import (  # noqa: F401
    clustering,
    conditional,
    diversity,
    fid,
    inception_score,
    kid,
    modes,
    parzen,
    prdc,
    transfer,
)

__all__ = [
    "METRICS",
    "MetricInputs",
    "MetricSpec",
    "compute_metrics",
    "register_metric",
    "GaussianStats",
    "fid_from_stats",
]
