"""Top-k training (Sinha et al. 2020, "Top-k Training of GANs: Improving GAN Performance by
Throwing Away Bad Samples", §3): `train.topk=true`.

In every G step only the k fakes the discriminator finds most realistic enter G's loss: the k
largest real/fake logits o_f = `method.adv_logit(D(x'), y')` (for `ca` the logit of the fake's
own condition; the scalar the gradient penalties differentiate). The other fakes give G no
gradient: they sit where D is confident, and their gradients point towards the nearest mode
rather than along the data (the paper's analysis, §4). k follows the paper's schedule,

    k = max(⌈γ^e · B⌉, ⌈ν · B⌉),    e = ⌊t · n_D · B_W / N⌋,

with B the per-process batch, γ = `train.topk_gamma` (0.99), ν = `train.topk_min` (0.5) and e
the epoch of the real data at G step t (n_D = `train.d_steps` real batches of the global batch
B_W per step, N training images); so k starts at the full batch and decays by γ per epoch down
to ν·B. Batch-level losses (2c, d2dce) then contrast the k chosen fakes among themselves; under
several processes each chooses among its own batch.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from condgan.losses.conditioning.base import Labels
from condgan.training.extensions.installers import EXTENSIONS, Extension


def topk_size(step: int, batch: int, gamma: float, minimum: float, images_per_step: int, num_train: int) -> int:
    """k at G step `step` (see the module docstring)."""
    epoch = step * images_per_step // num_train
    return max(math.ceil(gamma ** epoch * batch - 1e-9), math.ceil(minimum * batch - 1e-9), 1)


def select_top(out: dict[str, torch.Tensor], labels: Labels, scores: torch.Tensor, k: int):
    """The rows of D's outputs and of the labels with the k largest `scores`, in descending order."""
    idx = torch.topk(scores.detach().float(), k).indices
    pick = lambda t: None if t is None else t[idx]  # noqa: E731
    return {key: v[idx] for key, v in out.items()}, Labels(pick(labels.y), pick(labels.cnd))


class TopKSelection:
    def __init__(self, method, batch: int, gamma: float, minimum: float, images_per_step: int, num_train: int):
        self.method = method
        self.schedule = (batch, gamma, minimum, images_per_step, num_train)

    def __call__(self, out, labels: Labels, it):
        k = topk_size(it.step, *self.schedule)
        out, labels = select_top(out, labels, self.method.adv_logit(out, labels), k)
        return out, labels, {"topk_k": torch.tensor(float(k))}


@EXTENSIONS.register("topk")
class TopK(Extension):
    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.train.topk

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        t = cfg.train
        for key in ("topk_gamma", "topk_min"):
            if not 0 < getattr(t, key) <= 1:
                return f"config key 'train.{key}' must be in (0, 1], got {getattr(t, key)}"
        return None

    @classmethod
    def install(cls, trainer) -> None:
        t = trainer.cfg.train
        images_per_step = t.d_steps * t.batch_size * trainer.dist.world_size
        trainer.gan_step.fake_selection = TopKSelection(trainer.method, t.batch_size, t.topk_gamma, t.topk_min,
                                                        images_per_step, trainer.num_train)
