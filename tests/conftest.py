"""Shared fixtures: one CPU thread (the test machine is small and shared), tiny configs."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

# Tiny networks on 8×8 digits: a training step takes milliseconds.
TINY = [
    "data.name=digits", "data.image_size=8",
    "model.net=dcgan", "model.g_width=8", "model.d_width=8", "model.z_dim=8", "model.embed_dim=4",
    "train.batch_size=16", "train.log_every=5", "train.checkpoint_every=5", "train.sample_every=0",
    "eval.every=0",
]


def tiny_overrides(*extra: str) -> list[str]:
    """The tiny-network overrides plus `extra` (later keys win)."""
    return TINY + list(extra)


@pytest.fixture
def tiny_config():
    """`tiny_config(*overrides)` → a validated Config on 8×8 digits with 8-wide nets."""
    from condgan.validation import load_config

    def make(*extra: str, base: str | dict | None = None):
        return load_config({} if base is None else base, tiny_overrides(*extra))

    return make


def train_in_process(cfg, out, until_step: int):
    """Train `cfg` in this process (resuming from `out` when it holds a checkpoint) until
    generator step `until_step`, then save: (the trainer, closed; each step's logs as floats).
    For bit-identical-resume tests: cut a run at step k, call again with the full count."""
    from condgan.training.trainer import Trainer

    trainer = Trainer(cfg, out, progress=False)
    trainer.setup()
    try:
        logs = []
        while trainer.step < until_step:
            logs.append({k: float(v) for k, v in trainer.train_step().items()})
            trainer.step += 1
        trainer.gather_random_states()
        trainer.save()
        return trainer, logs
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny trained run through the CLI (preset mnist5k-cagan with the tiny overrides: 20 steps
    on 8×8 digits, checkpoints every 5), shared by a test module. Tests must not modify it."""
    from condgan.cli.main import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    argv = ["train", "mnist5k-cagan", "--out", str(out), "--no-progress"]
    for assignment in tiny_overrides("train.steps=20"):
        argv += ["--set", assignment]
    assert main(argv) == 0
    return out


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Every test starts with one thread: a test that builds a Trainer with `setup()` but never
    trains or closes it leaves the thread count the trainer chose (train.threads=0 = all CPUs)."""
    torch.set_num_threads(1)
    yield


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped with a reason on CPU-only machines")


@pytest.fixture
def set_up_trainer(tmp_path):
    """`with set_up_trainer(cfg) as trainer:` a Trainer on `cfg`, set up (networks, optimizers and
    data built, nothing trained) in a fresh directory under tmp_path, closed afterwards."""
    import contextlib
    import itertools

    from condgan.training.trainer import Trainer

    count = itertools.count()

    @contextlib.contextmanager
    def make(cfg):
        trainer = Trainer(cfg, tmp_path / f"trainer{next(count)}", progress=False)
        trainer.setup()
        try:
            yield trainer
        finally:
            trainer.close()

    return make
