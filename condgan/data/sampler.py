"""Resumable batch indices for in-memory data (docs/methods.md §8 data sets fit in memory).

Training indexes one big tensor with a LongTensor of batch indices, so the sampler only draws
indices: per-epoch `torch.randperm` slices, the tail of an epoch smaller than a batch dropped
(every batch has exactly `batch_size` rows, which batch-statistics layers and the mixed-batch
trick of seed 001 §3 rely on).

Multi-process training (world size W, this process's rank r): every rank draws the same
permutation (same seed) and takes the global batch of W·B indices perm[pos : pos + W·B], of
which it keeps rows r·B … (r+1)·B − 1. The ranks' shards are disjoint, and the data a W-process
run sees is exactly that of a one-process run with batch W·B. Its state (generator, permutation, position) goes into the
checkpoint so a resumed run draws exactly the indices an uninterrupted run would.
"""

from __future__ import annotations

from typing import Optional

import torch

from condgan.errors import CondganError


class BatchSampler:
    def __init__(self, n: int, batch_size: int, generator: torch.Generator, rank: int = 0,
                 world_size: int = 1):
        if batch_size < 1:
            raise CondganError(f"train.batch_size must be ≥ 1, got {batch_size}")
        if batch_size * world_size > n:
            over = f" × {world_size} processes" if world_size > 1 else ""
            raise CondganError(f"train.batch_size={batch_size}{over} exceeds the {n} training samples; "
                               "lower train.batch_size or use more data")
        self.n = n
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.global_batch = batch_size * world_size
        self.generator = generator
        self.perm: Optional[torch.Tensor] = None
        self.pos = 0
        self.epoch = 0
        """Number of permutations drawn so far."""

    def next_indices(self) -> torch.Tensor:
        """This rank's next `batch_size` distinct indices (int64, on the CPU)."""
        if self.perm is None or self.pos + self.global_batch > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
            self.epoch += 1
        start = self.pos + self.rank * self.batch_size
        self.pos += self.global_batch
        return self.perm[start:start + self.batch_size]

    def state_dict(self) -> dict:
        """Tensors and ints only, so checkpoints load with torch.load(weights_only=True)."""
        return {
            "n": self.n,
            "batch_size": self.batch_size,
            "generator": self.generator.get_state(),
            "perm": self.perm.clone() if self.perm is not None else torch.empty(0, dtype=torch.int64),
            "pos": self.pos,
            "epoch": self.epoch,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        if (state["n"] != self.n or state["batch_size"] != self.batch_size
                or state.get("world_size", 1) != self.world_size):
            raise CondganError(
                f"checkpoint sampler state is for {state['n']} samples in batches of "
                f"{state['batch_size']}, but this run has {self.n} samples in batches of "
                f"{self.batch_size}; the data options or train.batch_size changed since the run started")
        self.generator.set_state(state["generator"])
        perm = state["perm"]
        self.perm = perm.clone() if perm.numel() else None
        self.pos = int(state["pos"])
        self.epoch = int(state.get("epoch", 0))
