"""Worker functions for tests/test_distributed.py, run in processes spawned by
torch.multiprocessing (a module of its own so the spawned interpreters can import them).

Each worker joins a gloo group through the environment variables torchrun would set, so the code
under test (`Distributed.from_environment`) runs exactly as under torchrun."""

from __future__ import annotations

import os

import torch


def join(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)


def gathered_losses(rank: int, world: int, port: int, out: str) -> None:
    """2c and D2D-CE of this rank's anchors against every rank's keys; saves the losses and
    the gradients of the local embeddings."""
    from condgan.training.distributed import Distributed

    join(rank, world, port)
    dist = Distributed.from_environment(torch.device("cpu"))
    try:
        f_all, v, y_all = batch(world)
        n = f_all.shape[0] // world
        rows = slice(rank * n, (rank + 1) * n)
        result = {}
        for name in ("d2dce", "d2dce_no_margin", "2c"):
            f = f_all[rows].clone().requires_grad_(True)
            loss = loss_of(name, f, v, y_all[rows], dist.gather_keys)
            loss.backward()
            result[name] = (loss.detach(), f.grad.clone())
        torch.save(result, f"{out}/rank{rank}.pt")
    finally:
        dist.close()


def batch(world: int, n: int = 6, d: int = 5, k: int = 3):
    g = torch.Generator().manual_seed(0)
    f = torch.nn.functional.normalize(torch.randn(world * n, d, generator=g), dim=1)
    v = torch.nn.functional.normalize(torch.randn(k, d, generator=g), dim=1)
    y = torch.randint(0, k, (world * n,), generator=g)
    return f, v, y


def loss_of(name, f, v, y, gather):
    """The loss `name` of anchors f (labels y) with positives f·v_y against the keys `gather`
    returns."""
    from condgan.losses.conditioning.contrastive import contrastive_2c_loss, d2dce_loss

    f = torch.nn.functional.normalize(f, dim=1)
    positive = (f * v[y]).sum(1)
    keys, key_labels, offset = gather(f, y)
    if name == "2c":
        return contrastive_2c_loss(f, positive, y, 0.5, keys, key_labels, offset)
    margins = (None, None) if name == "d2dce_no_margin" else (0.5, 0.1)
    return d2dce_loss(f, positive, y, 0.5, *margins, keys, key_labels)


def train_steps(rank: int, world: int, port: int, out: str, configs: dict, steps: int) -> None:
    """For each named config: set up a Trainer in out/NAME, run `steps` steps; rank 0 saves the
    networks' state."""
    import torch.distributed

    from condgan.training.trainer import Trainer

    join(rank, world, port)
    # One group for all the trainers (a trainer that finds a group uses it and leaves it open).
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    for name, cfg in configs.items():
        trainer = Trainer(cfg, f"{out}/{name}", progress=False)
        trainer.setup()
        try:
            for _ in range(steps):
                trainer.train_step()
            if rank == 0:
                torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(),
                            **{f"extra{i}": net.state_dict() for i, net in enumerate(trainer.labeling.networks())}},
                           f"{out}/{name}.pt")
        finally:
            trainer.close()
    torch.distributed.destroy_process_group()


def train_runs(rank: int, world: int, port: int, runs: list) -> None:
    """Train each (config, run directory) in turn with `Trainer.train()` (resuming when the
    directory holds a checkpoint); rank 0 saves the networks after each as RUN/final.pt."""
    import torch.distributed

    from condgan.training.trainer import Trainer

    join(rank, world, port)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    for cfg, out in runs:
        trainer = Trainer(cfg, out, progress=False)
        trainer.train()
        if rank == 0:
            torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict()}, f"{out}/final.pt")
    torch.distributed.destroy_process_group()
