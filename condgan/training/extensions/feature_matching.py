"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.1):
`loss.feature_matching=λ` (and `loss.feature_matching_only`)."""

from __future__ import annotations

from typing import Optional

import torch

from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """‖E_x f(x) − E_z f(G(z))‖²: the squared L2 distance between the batch means of the
    features (B, F) of reals and fakes."""
    return (real_features.mean(0) - fake_features.mean(0)).square().sum()


@STEP_EXTENSIONS.register("feature_matching")
class FeatureMatching(StepExtension):
    """G's loss gets λ‖E f(x) − E f(G(z))‖², f = D's trunk features h (the last layer before
    the heads; before the bottleneck with `model.vdb_dim`), reals = the D phase's last real
    batch (a constant), fakes = the G phase's fakes. Both go through the trunk without
    DiffAugment. With `loss.feature_matching_only` the method's G loss is replaced by the term
    (the paper's objective: G matches the statistics D finds discriminative instead of
    maximizing D's output); the labeling mode's G term, if any, stays."""

    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.loss.feature_matching > 0

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        if cfg.loss.feature_matching_only and cfg.model.conditioning != "none":
            return (f"loss.feature_matching_only replaces G's loss, which for model.conditioning="
                    f"{cfg.model.conditioning} also carries the conditioning term (G would ignore its "
                    "labels); use model.conditioning=none, or loss.feature_matching_only=false to add "
                    "feature matching to the method's loss")
        return None

    def g_loss(self, loss, logs, it, *, fake, **_) -> torch.Tensor:
        trunk = self.step.D.trunk
        with torch.no_grad():
            real_features = trunk(it.real)
        value = self.cfg.loss.feature_matching * feature_matching_loss(real_features, trunk(fake))
        logs["g_feature_matching"] = value
        return value if self.cfg.loss.feature_matching_only else loss + value
