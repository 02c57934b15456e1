"""Adaptive discriminator augmentation (ADA) and adaptive pseudo augmentation (APA): the
augmentation pipeline, the overfitting heuristic that sets their probability p, and APA's
replacement of reals by fakes."""

from condgan.adaptive.heuristic import AdaptiveProbability, adaptive_enabled
from condgan.adaptive.pipeline import GROUPS, OPERATIONS, AdaptiveAugment, expand_operations
from condgan.adaptive.pseudo import pseudo_augment

__all__ = ["AdaptiveAugment", "AdaptiveProbability", "adaptive_enabled", "GROUPS", "OPERATIONS", "expand_operations", "pseudo_augment"]
