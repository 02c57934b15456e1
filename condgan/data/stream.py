"""Real batches for the training loop, from memory or streamed from disk.

`RealBatches.of(images, sampler, device, cfg)` picks the path:

* a tensor (every data set that fits in memory): index it with the sampler's indices on the
  device — no per-item Python in the hot path;
* `FileImages` (a folder too large to decode into memory, data.stream): a
  `torch.utils.data.DataLoader` whose workers decode and resize the files of each batch
  (pinned memory on CUDA), fed with the *same* sampler's index batches.

Both draw indices from one `BatchSampler` (seeded per-epoch shuffles, a disjoint shard per rank
under multi-process training), so the streamed path sees exactly the batches — and, since the
decoding is the same, the pixels — of the in-memory path. The DataLoader draws index batches
ahead of training (prefetching); the sampler state of every drawn batch is queued, and the state
saved in a checkpoint is the one after the last batch training actually *consumed*, so a resumed
run restarts at the right epoch and position and draws what an uninterrupted run would.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from condgan.data.folder import FileImages
from condgan.data.sampler import BatchSampler


class RealBatches:
    """`next()` → (images on the device, their indices in the data set on the device)."""

    sampler: BatchSampler

    @staticmethod
    def of(images, sampler: BatchSampler, device: torch.device, workers: int = 0) -> "RealBatches":
        if isinstance(images, FileImages):
            return StreamedBatches(images, sampler, device, workers)
        return InMemoryBatches(images, sampler, device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)

    def close(self) -> None:
        pass


class InMemoryBatches(RealBatches):
    def __init__(self, images: torch.Tensor, sampler: BatchSampler, device: torch.device):
        self.images, self.sampler, self.device = images.to(device), sampler, device

    def next(self):
        idx = self.sampler.next_indices().to(self.device)
        return self.images[idx], idx


class _Decode(Dataset):
    def __init__(self, images: FileImages):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images.decode(i), i


class _IndexBatches:
    """The sampler's index batches, endlessly, queueing the sampler state after each draw."""

    def __init__(self, sampler: BatchSampler, states: deque):
        self.sampler, self.states = sampler, states

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            idx = self.sampler.next_indices()
            self.states.append(self.sampler.state_dict())
            yield idx.tolist()


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding is PIL's; torch threads in workers only compete


class StreamedBatches(RealBatches):
    """Batches decoded by `workers` DataLoader worker processes (0: in this process)."""

    def __init__(self, images: FileImages, sampler: BatchSampler, device: torch.device, workers: int):
        self.images, self.sampler, self.device, self.workers = images, sampler, device, workers
        self._states: deque = deque()
        self._consumed: dict | None = None
        self._iterator = None

    def _start(self) -> None:
        self._states.clear()
        self._consumed = self.sampler.state_dict()
        loader = DataLoader(_Decode(self.images), batch_sampler=_IndexBatches(self.sampler, self._states),
                            num_workers=self.workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=_one_thread if self.workers else None,
                            prefetch_factor=2 if self.workers else None)
        self._iterator = iter(loader)

    def next(self):
        if self._iterator is None:
            self._start()
        x, idx = next(self._iterator)
        self._consumed = self._states.popleft()  # batches arrive in the order they were drawn
        return x.to(self.device, non_blocking=True), idx.to(self.device)

    def state_dict(self) -> dict:
        return self._consumed if self._consumed is not None else self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.close()
        self.sampler.load_state_dict(state)

    def close(self) -> None:
        """Stop the workers; the next batch starts a new loader at the consumed position."""
        if self._iterator is not None:
            self.sampler.load_state_dict(self.state_dict())  # rewind what was prefetched
            shutdown = getattr(self._iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            self._iterator = None
