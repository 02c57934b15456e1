"""Conditioning methods (docs/methods.md §2), registry `CONDITIONING`."""

from condgan.losses.conditioning import (  # noqa: F401  (registration)
    adc,
    auxiliary,
    composed,
    concat,
    conditional_activation,
    contrastive,
    label,
    multi_hinge,
    projection,
    unconditional,
)
from condgan.losses.conditioning.base import (CONDITIONING, ConditioningMethod, Labels, LinearHead,
                                              TermConditioning)

__all__ = ["CONDITIONING", "ConditioningMethod", "Labels", "LinearHead", "TermConditioning"]
