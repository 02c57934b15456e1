"""The optimizers of G, D and of labeling modes' own networks, from `train.optimizer`."""

from __future__ import annotations

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}


def make_optimizer(params, cfg, lr: float, betas) -> torch.optim.Optimizer:
    """`train.optimizer` over `params` with learning rate `lr` and `train.weight_decay`: adam /
    adamw with Adam's `betas`; rmsprop (WGAN, Arjovsky 2017 §3: no momentum) with torch's
    defaults (smoothing α = 0.99, ε = 1e-8, momentum 0), `betas` unused."""
    if cfg.train.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.train.weight_decay)
    return OPTIMIZERS[cfg.train.optimizer](params, lr=lr, betas=tuple(betas), weight_decay=cfg.train.weight_decay)
