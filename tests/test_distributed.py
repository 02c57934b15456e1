"""Multi-process training (condgan.training.distributed): the gathered batch-level losses equal
the one-process losses on the concatenated batch (values and gradients); a 2-process step with
per-rank batch B equals a 1-process step with batch 2B; the sampler's shards; a world-size change
on resume is refused; the CLI under torchrun (slow: `pytest -m slow`).

The multi-process tests spawn 2 gloo processes on the CPU (torch.multiprocessing)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import distributed_workers as workers
from condgan.validation import load_config
from condgan.data.sampler import BatchSampler
from condgan.errors import CondganError
from condgan.training.checkpoint import load_checkpoint, save_checkpoint
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
    """Also with d2dce (gathered keys) and CGPGAN (its classifier Q's gradients are averaged and
    its class prior is updated from every rank's reals)."""
    variants = {"ac": ["model.conditioning=ac"], "d2dce": ["model.conditioning=d2dce"],
                "cgpgan": ["model.conditioning=ca", "model.labeling=classifier", "model.q_width=8"]}
    make = lambda name, batch: load_config({}, tiny_overrides(*NO_BATCH_LAYERS, *variants[name],  # noqa: E731
                                                              f"train.batch_size={batch}"))
    configs = {name: make(name, 8) for name in variants}
    spawn(workers.train_steps, str(tmp_path / "ddp"), configs, 2)
    for name in configs:
        ddp = torch.load(tmp_path / "ddp" / f"{name}.pt")
        single_cfg = make(name, 16)
        trainer = Trainer(single_cfg, tmp_path / "single" / name, progress=False)
        trainer.setup()
        before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
        try:
            for _ in range(2):
                trainer.train_step()
            nets = [("G", trainer.G), ("D", trainer.D),
                    *((f"extra{i}", net) for i, net in enumerate(trainer.labeling.networks()))]
            assert len(nets) == len(ddp)
            for net, module in nets:
                for key, value in module.state_dict().items():
                    torch.testing.assert_close(ddp[net][key], value, rtol=0, atol=1e-5, msg=f"{name} {net} {key}")
            assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())
        finally:
            trainer.close()


# ------------------------------------------------------------------ sharding and resume checks
def test_sampler_shards_are_the_double_batch():
    """Rank r of W takes rows r·B…(r+1)·B−1 of the global batch a one-process sampler with batch
    W·B draws: disjoint shards, and the same data as the one-process run, across epochs."""
    single = BatchSampler(50, 8, torch.Generator().manual_seed(3))
    ranks = [BatchSampler(50, 4, torch.Generator().manual_seed(3), rank=r, world_size=2) for r in range(2)]
    for _ in range(20):  # several epochs (6 batches of 8 per epoch)
        shards = [s.next_indices() for s in ranks]
        assert torch.equal(torch.cat(shards), single.next_indices())
        assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert ranks[0].epoch == single.epoch == 4
    with pytest.raises(CondganError, match=r"× 2 processes exceeds the 50"):
        BatchSampler(50, 26, torch.Generator(), rank=0, world_size=2)


def test_world_size_change_on_resume_is_refused(tmp_path, tiny_config):
    cfg = tiny_config("train.steps=1")
    Trainer(cfg, tmp_path, progress=False).train()
    preflight(cfg, tmp_path, 1)  # same world size: fine
    with pytest.raises(CondganError, match=r"trained by 1 process\(es\), this resume runs 2"):
        preflight(cfg, tmp_path, 2)
    # A checkpoint of a 2-process run refuses a one-process resume (the trainer's own check).
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    state["world_size"] = 2
    save_checkpoint(tmp_path / "checkpoints" / "last.pt", state)  # with a matching checksum
    with pytest.raises(CondganError, match=r"trained by 2 process\(es\), this resume runs 1"):
        Trainer(cfg, tmp_path, progress=False).train()


def condgan(*args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "condgan", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, **kw)


def test_nproc_refuses_a_world_size_change_before_launching(tmp_path, tiny_config):
    Trainer(tiny_config("train.steps=1"), tmp_path, progress=False).train()
    (tmp_path / "tiny.yaml").write_text("description: tiny\n")
    r = condgan("train", str(tmp_path / "tiny.yaml"), *[f"--set={o}" for o in tiny_overrides("train.steps=2")],
                "--out", str(tmp_path), "--nproc", "2", timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [f"condgan: error: run '{tmp_path}' was trained by 1 process(es), this resume runs 2; "
                     "data shards and per-rank random streams depend on the number of processes: resume "
                     "with 1 (torchrun --nproc-per-node / condgan train --nproc), or start a new --out"]


# ------------------------------------------------------------------ (c) the CLI under torchrun
@pytest.mark.slow
def test_torchrun_trains_writes_once_and_resumes(tmp_path):
    out = tmp_path / "run"
    sets = [f"--set={o}" for o in tiny_overrides("train.threads=1", "train.log_every=10",
                                                 "train.checkpoint_every=10", "train.standing_stats=2")]

    def torchrun(steps):
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc-per-node=2", "-m", "condgan", "train", "mnist5k-cagan", *sets,
                               f"--set=train.steps={steps}", "--out", str(out)],
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=600)

    r = torchrun(20)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("trained 20 steps") == 1  # rank 0 reports, rank 1 is quiet
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt"]
    assert len(list((out / "tb").iterdir())) == 1  # one TensorBoard writer: rank 0's
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 20 and state["world_size"] == 2 and len(state["rng"]["ranks"]) == 2
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20]
    # Resumed through the --nproc shortcut (which runs torchrun the same way).
    r = condgan("train", "mnist5k-cagan", *sets, "--set=train.steps=40", "--out", str(out), "--nproc", "2",
                timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming at step 20 of 40" in r.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"] == 40
    # One process on a 2-process run: refused with one line.
    r = condgan("train", "mnist5k-cagan", *sets, "--set=train.steps=60", "--out", str(out), timeout=300)
    assert r.returncode == 2 and "trained by 2 process(es), this resume runs 1" in r.stderr


def test_plain_batchnorm_reverts_sync_batchnorm():
    """Rank 0 samples with SyncBatchNorm replaced by plain batch norm of the same state."""
    from condgan.training.distributed import plain_batchnorm

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                              torch.nn.Linear(12, 4), torch.nn.BatchNorm1d(4))
    with torch.no_grad():
        net(torch.randn(5, 1, 2, 2))  # running statistics ≠ their initial values
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    plain = plain_batchnorm(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in plain.modules())
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())  # a copy
    x = torch.randn(6, 1, 2, 2)
    torch.testing.assert_close(plain.train()(x), net.train()(x))  # batch statistics, no process group
    torch.testing.assert_close(plain.eval()(x), net.eval()(x))


def check_two_rank_resume(tmp_path, cfg, steps: int) -> None:
    """Two ranks: `steps` straight into tmp_path/straight, and steps/2 then resumed to `steps` into
    tmp_path/resumed (`cfg(steps)` → Config); the final G and D are equal bit for bit."""
    spawn(workers.train_runs, [(cfg(steps), str(tmp_path / "straight")), (cfg(steps // 2), str(tmp_path / "resumed")),
                               (cfg(steps), str(tmp_path / "resumed"))])
    straight, resumed = (torch.load(tmp_path / name / "final.pt") for name in ("straight", "resumed"))
    for net in ("G", "D"):
        for key, value in straight[net].items():
            assert torch.equal(value, resumed[net][key]), (net, key)


@pytest.mark.slow
def test_two_rank_resume_is_bit_identical(tmp_path):
    """Per-rank noise (R1's inputs, DiffAugment) and batch-norm buffers are restored: 2 + 2 steps
    resumed equal 4 steps uninterrupted, bit for bit."""
    extra = ["train.threads=1", "reg.r1=1", "train.diffaugment=[translation,cutout]", "model.d_norm=batch",
             "train.batch_size=8", "train.checkpoint_every=2"]
    check_two_rank_resume(tmp_path, lambda steps: load_config({}, tiny_overrides(*extra, f"train.steps={steps}")), 4)
    state = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 4 and state["world_size"] == 2
    assert not torch.equal(state["rng"]["ranks"][0]["noise"], state["rng"]["ranks"][1]["noise"])


def test_sync_batchnorm_is_refused_where_it_cannot_work(tiny_config):
    with pytest.raises(CondganError, match="train.sync_batchnorm needs CUDA devices"):
        tiny_config("device=cpu", "train.sync_batchnorm=true")
    with pytest.raises(CondganError, match="SyncBatchNorm does not support"):
        tiny_config("train.sync_batchnorm=true", "model.d_norm=batch", "reg.r1=1")
    tiny_config("train.sync_batchnorm=true")  # fine in one process (it only acts with several)
