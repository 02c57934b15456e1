"""The optimizers of G, D and of labeling modes' own networks, from `train.optimizer`.

Adam / AdamW run as torch's fused implementation where this torch has one for the parameters'
device (CPU since torch 2.4, CUDA): one kernel over all parameters instead of about ten tensor
operations per parameter (the quickstart's Adam.step: 13.3 ms → 6.6 ms on one CPU thread, see
docs/results/speed/). It computes the same update (float rounding aside) and keeps the same
state dict, so checkpoints load either way; where it is missing, torch's default implementation
runs."""

from __future__ import annotations

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def make_optimizer(params, cfg, lr: float, betas) -> torch.optim.Optimizer:
    """`train.optimizer` over `params` with learning rate `lr` and `train.weight_decay`: adam /
    adamw with Adam's `betas`, fused where supported (module docstring); rmsprop (WGAN, Arjovsky
    2017 §3: no momentum) with torch's defaults (α = 0.99, ε = 1e-8, momentum 0), `betas` unused."""
    params = list(params)
    if cfg.train.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.train.weight_decay)
    kind = OPTIMIZERS[cfg.train.optimizer]
    options = dict(lr=lr, betas=tuple(betas), weight_decay=cfg.train.weight_decay)
    if fused_supported(params):
        return kind(params, fused=True, **options)
    return kind(params, **options)


def fused_supported(params) -> bool:
    """Whether torch's fused Adam runs on these parameters (this torch, their device and dtype)."""
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:  # torch < 2.1
        return False
    devices = set(_get_fused_kernels_supported_devices())
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    return bool(tensors) and all(p.device.type in devices and p.is_floating_point() for p in tensors)


def is_fused(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer.defaults.get("fused"))
