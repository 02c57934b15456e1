"""CUDA paths (marked `gpu`; skipped with a reason where no CUDA device exists, and then not
counted as passing): fp16 with gradient scaling, including the input-gradient penalties, bf16,
channels_last + torch.compile, and the scaler state in checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

from condgan.validation import load_config
from condgan.training.checkpoint import load_checkpoint
from condgan.training.trainer import Trainer
from conftest import tiny_overrides

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")]

RESNET = ["device=cuda", "model.net=resnet", "model.g_width=8", "model.d_width=8", "model.attention=[4]",
          "model.conditioning=pd", "model.g_conditioning=cbn", "model.d_spectral_norm=true",
          "loss.adversarial=hinge", "train.standing_stats=1", "train.log_every=1"]


def train(out, *extra):
    trainer = Trainer(load_config({}, tiny_overrides(*RESNET, *extra)), out, progress=False)
    trainer.train()
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in recs if "d_loss" in r]
    assert losses and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in losses)
    return trainer, losses


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_with_penalties_trains_and_resumes(tmp_path, precision):
    extra = [f"train.precision={precision}", "reg.r1=1", "reg.gp=1", "model.d_norm=none"]
    trainer, losses = train(tmp_path, "train.steps=4", *extra)
    assert any(k.endswith("_penalty") for k in losses[0])
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ("d" in state["precision"]) == (precision == "fp16")
    if precision == "fp16":
        assert state["precision"]["d"]["scale"] > 0
    train(tmp_path, "train.steps=6", *extra)  # resume with the scaler state


def test_fp16_penalty_matches_fp32():
    """The loss-scaled input gradient under fp16 autocast is close to the fp32 one, while the
    unscaled fp16 gradient of a small-output D underflows."""
    from condgan.losses.regularizers import scalar_input_gradient_sq_norm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(16 * 64, 1)).cuda()
    with torch.no_grad():
        net[-1].weight.mul_(1e-4)
    x = torch.randn(8, 3, 8, 8, device="cuda")
    fn = lambda v: net(v).squeeze(1)  # noqa: E731
    ref = scalar_input_gradient_sq_norm(fn, x)
    with torch.autocast("cuda", dtype=torch.float16):
        scaled = scalar_input_gradient_sq_norm(fn, x, scale=2.0 ** 16)
    assert torch.allclose(scaled.float(), ref, rtol=2e-2)


def test_channels_last_and_compile_on_cuda(tmp_path):
    trainer, _ = train(tmp_path, "train.steps=3", "train.channels_last=true", "train.compile=true",
                       "train.precision=bf16")
    assert trainer.step == 3
