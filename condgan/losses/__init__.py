"""Losses: adversarial (SPEC §1), conditioning (SPEC §2) and regularizers (SPEC §5)."""
