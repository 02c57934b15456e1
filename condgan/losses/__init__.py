"""Losses: adversarial (docs/methods.md §1), conditioning (docs/methods.md §2) and regularizers (docs/methods.md §5)."""
