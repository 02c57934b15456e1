"""train.precision / channels_last / compile on CPU: bf16 trains (resnet with a gradient
penalty included), fp32 is unchanged by the precision layer, channels_last computes the same
step, the loss-scaled input gradient of the penalties equals the plain one, and the switches
that cannot work here are refused at config time with one line."""

from __future__ import annotations

import math

import pytest
import torch

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.losses.regularizers import scalar_input_gradient_sq_norm
from condgan.training.precision import Precision, compile_unavailable_reason
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


def run(tmp_path, *extra, steps=3):
    cfg = load_config({}, tiny_overrides(f"train.steps={steps}", "train.log_every=1", "train.standing_stats=1",
                                         *extra))
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.train()
    return trainer


def final_losses(trainer):
    import json

    recs = [json.loads(line) for line in trainer.run.metrics.read_text().splitlines()]
    return [(r["d_loss"], r["g_loss"]) for r in recs if "d_loss" in r]


@pytest.mark.parametrize("extra", [
    [],
    ["model.net=resnet", "model.g_width=4", "model.d_width=4", "model.attention=[4]", "model.conditioning=pd",
     "model.g_conditioning=cbn", "model.d_spectral_norm=true", "reg.r1=1", "loss.adversarial=hinge"],
])
def test_bf16_trains_on_cpu(tmp_path, extra):
    trainer = run(tmp_path, "train.precision=bf16", *extra)
    losses = final_losses(trainer)
    assert len(losses) == 3 and all(math.isfinite(v) for pair in losses for v in pair)
    # master weights stay fp32; the forward ran in bf16
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())
    with torch.no_grad(), trainer.precision.autocast():
        cnd = trainer.labeling.fake(2, trainer.rng).cnd
        assert trainer.G(torch.randn(2, trainer.cfg.model.z_dim), cnd).dtype == torch.bfloat16


def test_bf16_first_step_close_to_fp32(tmp_path):
    """One step in bf16 lands near the fp32 step (8 mantissa bits: ~1 % on a loss)."""
    a = final_losses(run(tmp_path / "a", steps=1))
    b = final_losses(run(tmp_path / "b", "train.precision=bf16", steps=1))
    assert a != b  # bf16 really ran
    for x, y in zip(a[0], b[0]):
        assert y == pytest.approx(x, rel=0.05, abs=0.02)


def test_fp32_layer_is_transparent():
    p = Precision("fp32", torch.device("cpu"))
    assert p.grad_scale("d") == 1.0 and p.state_dict() == {}
    with p.autocast():
        assert torch.ones(2, 2) @ torch.ones(2, 2) is not None
        assert not torch.is_autocast_enabled("cpu")


def test_channels_last_computes_the_same_step(tmp_path):
    """Same losses (other kernels: float rounding only) and the same weights up to Adam's
    sign-sensitive update of near-zero gradients (a few lr = 2e-4)."""
    a = run(tmp_path / "a", "model.d_depth=1", "train.channels_last=false", steps=1)
    b = run(tmp_path / "b", "model.d_depth=1", "train.channels_last=true", steps=1)
    conv = next(m for m in b.G.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    conv = next(m for m in a.G.modules() if isinstance(m, torch.nn.Conv2d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert b.images.is_contiguous(memory_format=torch.channels_last)
    for x, y in zip(final_losses(a)[0], final_losses(b)[0]):
        assert y == pytest.approx(x, rel=1e-4)
    for (n, pa), pb in zip(a.G.state_dict().items(), b.G.state_dict().values()):
        if pa.is_floating_point():
            assert torch.allclose(pa, pb, atol=5e-4), n


def test_loss_scaled_input_gradient_equals_plain():
    """∇_x(S·D)/S = ∇_x D: the fp16 penalty path gives the fp32 value (here in fp32)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    x = torch.randn(5, 1, 6, 6)
    fn = lambda v: net(v).squeeze(1)  # noqa: E731
    plain = scalar_input_gradient_sq_norm(fn, x)
    scaled = scalar_input_gradient_sq_norm(fn, x, scale=2.0 ** 16)
    assert torch.allclose(plain, scaled, rtol=1e-5)
    scaled.sum().backward()  # the penalty still has a graph to D's weights
    assert net[0].weight.grad is not None


@pytest.mark.parametrize("extra, match", [
    (["train.precision=fp16"], r"train\.precision=fp16 needs a CUDA device .*use bf16 or fp32$"),
    (["train.precision=fp16", "device=cpu"], "resolves to cpu"),
    (["train.precision=fp8"], r"train\.precision.*fp32, bf16, fp16"),
    (["train.channels_last=true", "model.net=mlp", "data.name=ring2d"], "needs image networks"),
])
def test_config_time_errors(extra, match, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CondganError, match=match) as info:
        load_config({}, extra)
    assert "\n" not in str(info.value)


def test_compile_unavailable_is_one_line(monkeypatch):
    import torch._dynamo

    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    with pytest.raises(CondganError, match=r"^train\.compile=true: torch\.compile is not supported.*compile=false$"):
        load_config({}, ["train.compile=true", "device=cpu"])
    monkeypatch.undo()
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "C++ compiler" in compile_unavailable_reason("cpu")
    assert compile_unavailable_reason("cuda") is None


def test_compile_keeps_checkpoint_keys():
    """nn.Module.compile wraps __call__ only: parameter names (checkpoints) do not change, and
    nothing is compiled until the first call."""
    from condgan.training.build import DataInfo, build_gan

    cfg = load_config({}, tiny_overrides("train.compile=true", "device=cpu"))
    plain = load_config({}, tiny_overrides("device=cpu"))
    info = DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)])
    torch.manual_seed(0)
    a = build_gan(cfg, info, torch.device("cpu"))
    torch.manual_seed(0)
    b = build_gan(plain, info, torch.device("cpu"))
    assert list(a.generator.state_dict()) == list(b.generator.state_dict())
    assert a.generator._compiled_call_impl is not None and b.generator._compiled_call_impl is None
