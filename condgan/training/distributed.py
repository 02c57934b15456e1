"""Multi-process (data-parallel) training on torch.distributed.

Launched by `torchrun` (or `condgan train --nproc N`, which runs torchrun), every process trains
the same networks on its own shard of each batch; gloo on CPU, nccl on CUDA. `Distributed`
reads the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
MASTER_PORT); without it (a plain `condgan train`) it is a one-process no-op, so the
single-process trainer runs exactly as before.

**Why no DistributedDataParallel wrapper.** A GAN step calls D several times before one
backward (reals, fakes, penalty inputs), and R1 / GP differentiate D's outputs with
`create_graph=True`; DDP's reducer expects one forward per backward, does not support double
backward, and (with broadcast_buffers) rewrites buffers at every forward. condgan therefore does
what stylegan2-ada does: the modules stay plain, their parameters *and buffers* are broadcast from
rank 0 once at start-up (`broadcast_module`), and after every backward `average_gradients`
all-reduces the gradients of the parameters that received one (one flat buffer, one collective):

    g ← (1/W) Σ_r g_r .

Each rank's loss is the mean over its B local samples, so g is exactly the gradient of the mean
loss over the global batch of W·B samples: one W-process step with per-rank batch B equals a
one-process step with batch W·B (to float rounding) for networks without batch statistics.
Gradient penalties need nothing special: they are part of the local loss whose gradient is
averaged. Identical gradients and optimizer states keep the parameters identical on every rank.

Buffers: spectral norm's power-iteration vectors depend on the weights only, so they stay in sync
once broadcast; batch-norm running statistics depend on the local data, so `broadcast_buffers`
copies rank 0's buffers to every rank after each step (what DDP's broadcast_buffers does, once
per step instead of once per forward). The generator EMA is then consistent on all ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterable, Optional

import torch
import torch.distributed as dist
from torch import nn

from condgan.errors import CondganError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# A rank that waits longer than this for the others (one died outside torchrun) gives up.
TIMEOUT = timedelta(minutes=30)


class DistributedError(CondganError):
    """An error every rank raises together (agreed through `Distributed.agree`): the CLI prints
    it on rank 0 only."""


def environment_world_size() -> int:
    """WORLD_SIZE set by torchrun, else 1."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise CondganError(f"environment variable WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


def is_secondary_rank() -> bool:
    """True in a torchrun worker other than rank 0 (it stays quiet)."""
    return environment_world_size() > 1 and os.environ.get("RANK", "0") != "0"


@dataclass
class Distributed:
    """This process's place in the process group; world_size 1 = single process (no-ops)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ set-up
    @classmethod
    def from_environment(cls, device: torch.device) -> "Distributed":
        """Join the process group torchrun describes (creating it if nobody has), with the
        backend for `device`: nccl on CUDA, gloo otherwise."""
        world = environment_world_size()
        if world <= 1:
            return cls()
        missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ]
        if missing:
            raise CondganError(f"WORLD_SIZE={world} is set but {', '.join(missing)} not: start "
                               "multi-process training with torchrun or `condgan train --nproc N`")
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        owns = False
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
            owns = True
        return cls(rank, world, local_rank, local_world, owns)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    def device(self, device: torch.device) -> torch.device:
        """One CUDA device per local rank; other devices are shared."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    # ------------------------------------------------------------------ agreement
    def agree(self, error: Optional[BaseException]) -> None:
        """Collective: raise on every rank if any rank had a (user) error, with the first rank's
        message, so that no rank is left waiting in a collective the failed one never reaches."""
        if not self.enabled:
            if error is not None:
                raise error
            return
        messages: list = [None] * self.world_size
        dist.all_gather_object(messages, None if error is None else str(error))
        first = next((m for m in messages if m is not None), None)
        if first is not None:
            raise DistributedError(first) from error

    def on_main(self, fn: Callable[[], object]) -> object:
        """Run `fn` on rank 0 only and give its result (a picklable object) to every rank; a
        CondganError it raises is raised on every rank."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except CondganError as e:
                error = e
        self.agree(error)
        return self.broadcast_object(result)

    def broadcast_object(self, obj):
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    # ------------------------------------------------------------------ tensors
    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers to every rank (start-up: identical initial state)."""
        if self.enabled:
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Rank 0's floating-point buffers (batch-norm running statistics, spectral-norm vectors)
        to every rank, flattened into one collective."""
        if self.enabled:
            _broadcast_flat([b for b in module.buffers() if b.is_floating_point()])

    def average_gradients(self, modules: Iterable[nn.Module]) -> None:
        """g ← (1/W) Σ_r g_r for every parameter with a gradient, as one all-reduce. Which
        parameters have gradients is the same on every rank (same graph), so the flat buffers
        line up."""
        if not self.enabled:
            return
        grads = [p.grad for m in modules for p in m.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Scalars averaged over the ranks (for logging), as one all-reduce."""
        if not self.enabled or not values:
            return values
        keys = list(values)
        stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
        dist.all_reduce(stacked)
        stacked /= self.world_size
        return dict(zip(keys, stacked.unbind()))

    def gather_rows(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's rows of `x` concatenated in rank order, without gradient (equal row
        counts on every rank)."""
        if not self.enabled:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world_size)]
        dist.all_gather(parts, x.detach().contiguous())
        return torch.cat(parts)

    def gather_keys(self, f: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The `gather` seam of the batch-level conditioning losses (2c, d2dce): every rank's
        embeddings and labels as keys, and the row offset of the local anchors among them.

        The local rows are the local tensor itself; the gradient that arrives at the other
        ranks' rows is sent back to them (`_AllGather.backward` sums the gathered gradient over
        the ranks and keeps the local slice). With gradient averaging this makes the W-process
        gradient equal to the one-process gradient of the loss on the concatenated batch."""
        if not self.enabled:
            return f, y, 0
        return _AllGather.apply(f, self.rank, self.world_size), self.gather_rows(y), self.rank * f.shape[0]


class _AllGather(torch.autograd.Function):
    """y = cat_r x_r; ∂L/∂x_r = (Σ_s ∂L_s/∂y)[rows of r] (every rank's loss L_s sees x_r)."""

    @staticmethod
    def forward(ctx, x, rank, world_size):
        ctx.rank, ctx.rows = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x.contiguous())
        parts[rank] = x  # same values; keeps the local rows exactly the local tensor
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows], None, None


class _AnyBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over dimension 1 of an input of any rank (what SyncBatchNorm accepts)."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D input)")


def plain_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of `module` with every SyncBatchNorm replaced by the BatchNorm{1,2}d of the same
    state (the inverse of SyncBatchNorm.convert_sync_batchnorm): rank 0 samples and evaluates
    alone, and a SyncBatchNorm in training mode (standing statistics) would wait for the others."""
    import copy

    module = copy.deepcopy(module)

    def revert(m: nn.Module) -> nn.Module:
        if isinstance(m, nn.SyncBatchNorm):
            plain = _AnyBatchNorm(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            plain.load_state_dict(m.state_dict())
            plain.train(m.training)
            return plain
        for name, child in m.named_children():
            setattr(m, name, revert(child))
        return m

    return revert(module)


def _broadcast_flat(tensors: list[torch.Tensor]) -> None:
    if not tensors:
        return
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for same in groups.values():
        flat = torch.cat([t.reshape(-1) for t in same])
        dist.broadcast(flat, src=0)
        offset = 0
        for t in same:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


SINGLE = Distributed()
"""The one-process instance (everything a no-op)."""
