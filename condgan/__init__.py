"""condgan: class-conditional and self-labeling GANs with a validated evaluation suite."""

__version__ = "0.1.0"
