"""The optimizers of G, D and of labeling modes' own networks, from `train.optimizer`."""

from __future__ import annotations

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def make_optimizer(params, cfg, lr: float, betas) -> torch.optim.Optimizer:
    """`train.optimizer` (adam / adamw) over `params` with learning rate `lr`, Adam's `betas` and
    `train.weight_decay`."""
    return OPTIMIZERS[cfg.train.optimizer](params, lr=lr, betas=tuple(betas), weight_decay=cfg.train.weight_decay)
