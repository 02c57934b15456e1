"""The speed switches of issue 19: fused Adam computes torch's Adam update, `auto` resolves as
documented and a resume keeps what the run started with, `train.reuse_fakes` trains G on exactly
the fakes a fresh draw would give, `train.tune_malloc` stops the page faults of re-allocated
activations."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from condgan.errors import CondganError
from condgan.training import precision as precision_module
from condgan.training.checkpoint import saved_speed
from condgan.training.optimizers import is_fused, make_optimizer
from condgan.training.precision import resolve_speed
from condgan.training.step import GANStep
from condgan.training.trainer import Trainer
from condgan.validation import load_config
from conftest import tiny_overrides

CPU = torch.device("cpu")


def test_fused_adam_computes_torchs_adam_update(tiny_config):
    """Five steps of the fused optimizer land where torch's default (foreach) Adam lands, and its
    state dict loads into the default one (checkpoints of either kind resume with the other)."""
    cfg = tiny_config("train.weight_decay=0.01", "train.optimizer=adamw")
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(7, 5))
    b = torch.nn.Parameter(a.detach().clone())
    fused = make_optimizer([a], cfg, 1e-2, (0.5, 0.99))
    plain = type(fused)([b], lr=1e-2, betas=(0.5, 0.99), weight_decay=0.01)
    assert is_fused(fused) and not is_fused(plain)
    for step in range(5):
        for p, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            (p.sin() * (step + 1)).sum().backward()
            opt.step()
    assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert not torch.equal(a, b.detach() * 0)  # it moved
    plain.load_state_dict(fused.state_dict())


def cfg_of(*extra):
    return load_config({}, tiny_overrides("device=cpu", *extra))


def test_auto_resolves_per_net_and_cpu(monkeypatch):
    assert resolve_speed(cfg_of(), CPU).channels_last  # convolutional nets on CPU
    assert not resolve_speed(cfg_of("train.channels_last=false"), CPU).channels_last
    assert not resolve_speed(cfg_of("model.net=mlp", "data.name=ring2d"), CPU).channels_last
    assert resolve_speed(cfg_of(), CPU).precision == "fp32"  # the default is fp32 on every CPU
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(precision_module, "native_bf16_cpu", lambda n=native: (n, "probe"))
        assert resolve_speed(cfg_of("train.precision=auto"), CPU).precision == expected


def test_resume_keeps_what_the_run_started_with():
    """`auto` resumes in the checkpoint's precision and format; an explicit value that differs is
    refused; a checkpoint from before `auto` (bool channels_last in its config) reads as such."""
    started = {"precision": "fp32", "channels_last": False}
    assert not resolve_speed(cfg_of(), CPU, started).channels_last
    with pytest.raises(CondganError, match=r"train\.channels_last=true resolves to True.*set train\.channels_last=auto"):
        resolve_speed(cfg_of("train.channels_last=true"), CPU, started)
    old = {"config": {"train": {"precision": "fp32", "channels_last": False}}}
    assert saved_speed(old) == started


def g_forwards(trainer) -> int:
    calls = []
    handle = trainer.G.register_forward_hook(lambda *_: calls.append(1))
    trainer.step += 1
    trainer.train_step()
    handle.remove()
    return len(calls)


@pytest.mark.parametrize("d_steps", [1, 2])
def test_reuse_fakes_trains_g_on_the_d_steps_fakes(tmp_path, monkeypatch, d_steps):
    """With every draw of latents and labels made equal (a fixed seed per draw), the G step of
    `train.reuse_fakes` must update G exactly as a fresh draw does, with one G forward less: G's
    graph is kept from the last D step, D trains on the detached fakes (no gradient reaches G
    from D's loss) and G's loss scores them with the updated D."""
    original = GANStep.fake_batch

    def same_draw(self, n):
        self.rng.manual_seed(7)
        return original(self, n)

    monkeypatch.setattr(GANStep, "fake_batch", same_draw)
    trainers = []
    for reuse in (False, True):
        cfg = load_config({}, tiny_overrides(f"train.reuse_fakes={str(reuse).lower()}", f"train.d_steps={d_steps}",
                                             "train.ema=0", "model.d_depth=1"))
        trainer = Trainer(cfg, tmp_path / str(reuse), progress=False)
        trainer.setup()
        assert g_forwards(trainer) == d_steps + (0 if reuse else 1)
        trainers.append(trainer)
    fresh, reused = trainers
    for (name, a), b in zip(fresh.G.named_parameters(), reused.G.parameters()):
        assert torch.equal(a, b), name
    for (name, a), b in zip(fresh.D.named_parameters(), reused.D.parameters()):
        assert torch.equal(a, b), name
    for t in trainers:
        t.close()


_HEAP_SCRIPT = """
import ctypes, ctypes.util
from condgan.training.allocator import tune_malloc

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.sbrk.restype = libc.malloc.restype = ctypes.c_void_p
libc.sbrk.argtypes, libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_ssize_t], [ctypes.c_size_t], [ctypes.c_void_p]

def heap_use(size):
    top = libc.sbrk(0)
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    grown = libc.sbrk(0) - top
    libc.free(block)
    return grown, libc.sbrk(0) - top

print(*heap_use(24 << 20))
print(tune_malloc())
print(*heap_use(30 << 20))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_tune_malloc_keeps_activation_sized_blocks_on_the_heap():
    """Untuned, glibc serves a fresh process's 24 MiB block with its own mmap (faulted in on use,
    unmapped on free: what a training step's activations paid every step); after tune_malloc a
    30 MiB block comes from the heap and stays mapped after it is freed, for the next step to
    reuse (a fresh process: the setting is process-wide)."""
    out = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT], capture_output=True, text=True, check=True).stdout
    before, what, after = out.strip().splitlines()[-3:]
    grown, kept = map(int, before.split())
    assert grown < 1 << 20 and kept < 1 << 20  # mmapped: the heap did not move
    assert "malloc keeps freed blocks" in what
    grown, kept = map(int, after.split())
    assert grown >= 30 << 20 and kept >= 30 << 20  # on the heap, and not trimmed after the free


def test_tune_malloc_is_reported_and_can_be_turned_off(tiny_config, tmp_path):
    for flag in (False, True):
        cfg = tiny_config(f"train.tune_malloc={str(flag).lower()}")
        trainer = Trainer(cfg, tmp_path / str(flag), progress=False)
        trainer.setup()
        summary = trainer.speed_summary()
        trainer.close()
        assert ("train.tune_malloc=false" in summary) is (not flag)
