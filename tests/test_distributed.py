"""Multi-process training (condgan.training.distributed): the gathered batch-level losses equal
the one-process losses on the concatenated batch (values and gradients); a 2-process step with
per-rank batch B equals a 1-process step with batch 2B; the sampler's shards; a world-size change
on resume is refused; the CLI under torchrun (slow: `pytest -m slow`).

The multi-process tests spawn 2 gloo processes on the CPU (torch.multiprocessing)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import distributed_workers as workers
from condgan.config import load_config
from condgan.data.sampler import BatchSampler
from condgan.errors import CondganError
from condgan.training.trainer import Trainer, preflight
from conftest import tiny_overrides

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, *args, world: int = 2) -> None:
    mp.spawn(fn, args=(world, free_port(), *args), nprocs=world, join=True)


# ------------------------------------------------------------------ (a) the gather seam
def test_gathered_losses_equal_the_concatenated_batch(tmp_path):
    """Each rank's loss is the mean over its anchors against all ranks' keys, so the mean of the
    rank losses is the one-process loss of the concatenated batch; the local gradient (summed
    over the ranks by the gather's backward) divided by W is that loss's gradient."""
    spawn(workers.gathered_losses, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    f_all, v, y_all = workers.batch(2)
    single = lambda f, y: (f, y, 0)  # noqa: E731  (the one-process gather)
    for name in ("d2dce", "d2dce_no_margin", "2c"):
        f = f_all.clone().requires_grad_(True)
        loss = workers.loss_of(name, f, v, y_all, single)
        loss.backward()
        gathered = sum(r[name][0] for r in ranks) / 2
        torch.testing.assert_close(gathered, loss.detach(), rtol=0, atol=1e-6, msg=name)
        grads = torch.cat([r[name][1] for r in ranks]) / 2
        torch.testing.assert_close(grads, f.grad, rtol=0, atol=1e-6, msg=name)
        # Without the gather (local keys only) the loss differs: the test can fail.
        local = sum(workers.loss_of(name, f_all[r * 6:(r + 1) * 6], v, y_all[r * 6:(r + 1) * 6], single)
                    for r in range(2)) / 2
        assert abs(float(local.detach()) - float(loss.detach())) > 1e-3, name


# ------------------------------------------------------------------ (b) one step, B × 2 ranks = 2B
NO_BATCH_LAYERS = ["model.g_norm=none", "model.d_norm=none", "model.d_minibatch_std=0", "train.threads=1",
                   "train.ema=0.9"]


@pytest.mark.slow
def test_two_rank_step_equals_double_batch_step(tmp_path):
    configs = {name: load_config({}, tiny_overrides(*NO_BATCH_LAYERS, f"model.conditioning={name}",
                                                    "train.batch_size=8"))
               for name in ("ac", "d2dce")}
    spawn(workers.train_steps, str(tmp_path / "ddp"), configs, 2)
    for name, cfg in configs.items():
        ddp = torch.load(tmp_path / "ddp" / f"{name}.pt")
        single_cfg = load_config({}, tiny_overrides(*NO_BATCH_LAYERS, f"model.conditioning={name}",
                                                    "train.batch_size=16"))
        trainer = Trainer(single_cfg, tmp_path / "single" / name, progress=False)
        trainer.setup()
        before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
        try:
            for _ in range(2):
                trainer.train_step()
            for net, module in (("G", trainer.G), ("D", trainer.D)):
                for key, value in module.state_dict().items():
                    torch.testing.assert_close(ddp[net][key], value, rtol=0, atol=1e-5, msg=f"{name} {net} {key}")
            assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())
        finally:
            trainer.close()
