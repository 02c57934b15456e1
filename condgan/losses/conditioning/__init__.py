"""Conditioning methods (SPEC §2), registry `CONDITIONING`."""

from condgan.losses.conditioning import (  # noqa: F401  (registration)
    adc,
    auxiliary,
    concat,
    conditional_activation,
    contrastive,
    label,
    multi_hinge,
    projection,
    unconditional,
)
from condgan.losses.conditioning.base import CONDITIONING, ConditioningMethod, Labels, LinearHead

__all__ = ["CONDITIONING", "ConditioningMethod", "Labels", "LinearHead"]
