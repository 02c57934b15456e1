"""Training techniques selected by config keys that plug into the step (`GANStep`): registry
`STEP_EXTENSIONS`, one module per technique (see base.py for the interface)."""

from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension, build_extensions, enabled_extensions

# importing the modules registers the extensions
from condgan.training.extensions import (  # noqa: F401
    bottleneck,
    feature_matching,
    historical_averaging,
    progressive,
    weight_clipping,
)

__all__ = ["STEP_EXTENSIONS", "StepExtension", "build_extensions", "enabled_extensions"]
