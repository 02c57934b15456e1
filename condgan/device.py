"""Device selection shared by training, evaluation and the extractors."""

from __future__ import annotations

import torch

from condgan.errors import CondganError


def resolve_device(name: str | torch.device) -> torch.device:
    """`auto` → cuda if available, else mps, else cpu; otherwise the named device, checked."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise CondganError(f"device must be a name such as 'cpu' or 'cuda:0', got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise CondganError(f"unknown device '{name}' (use auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CondganError(f"device '{name}' requested but CUDA is not available here")
    return device
