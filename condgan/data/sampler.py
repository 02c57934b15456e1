"""Resumable batch indices for in-memory data (SPEC §7 data sets fit in memory).

Training indexes one big tensor with a LongTensor of batch indices, so the sampler only draws
indices: per-epoch `torch.randperm` slices, the tail of an epoch smaller than a batch dropped
(every batch has exactly `batch_size` rows, which batch-statistics layers and the mixed-batch
trick of seed 001 §3 rely on). Its state (generator, permutation, position) goes into the
checkpoint so a resumed run draws exactly the indices an uninterrupted run would.
"""

from __future__ import annotations

from typing import Optional

import torch

from condgan.errors import CondganError


class BatchSampler:
    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        if batch_size < 1:
            raise CondganError(f"train.batch_size must be ≥ 1, got {batch_size}")
        if batch_size > n:
            raise CondganError(f"train.batch_size={batch_size} exceeds the {n} training samples; "
                               "lower train.batch_size or use more data")
        self.n = n
        self.batch_size = batch_size
        self.generator = generator
        self.perm: Optional[torch.Tensor] = None
        self.pos = 0
        self.epoch = 0
        """Number of permutations drawn so far."""

    def next_indices(self) -> torch.Tensor:
        """The next `batch_size` distinct indices (int64, on the CPU)."""
        if self.perm is None or self.pos + self.batch_size > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
            self.epoch += 1
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        """Tensors and ints only, so checkpoints load with torch.load(weights_only=True)."""
        return {
            "n": self.n,
            "batch_size": self.batch_size,
            "generator": self.generator.get_state(),
            "perm": self.perm.clone() if self.perm is not None else torch.empty(0, dtype=torch.int64),
            "pos": self.pos,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["n"] != self.n or state["batch_size"] != self.batch_size:
            raise CondganError(
                f"checkpoint sampler state is for {state['n']} samples in batches of "
                f"{state['batch_size']}, but this run has {self.n} samples in batches of "
                f"{self.batch_size}; the data options or train.batch_size changed since the run started")
        self.generator.set_state(state["generator"])
        perm = state["perm"]
        self.perm = perm.clone() if perm.numel() else None
        self.pos = int(state["pos"])
        self.epoch = int(state.get("epoch", 0))
