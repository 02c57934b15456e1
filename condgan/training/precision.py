"""Numeric precision and speed switches of training, in one place: `train.precision`
(fp32 | bf16 | fp16), `train.channels_last`, `train.compile`, and `model.init`.

Mixed precision (Micikevicius et al. 2018, "Mixed Precision Training", §3): weights, optimizer
state and the loss reduction stay fp32; the forward passes of G and D run under `torch.autocast`
in bf16 (CPU and CUDA) or fp16 (CUDA). fp16 has a narrow exponent range, so each loss L is
multiplied by a scale S before backward and the gradients are divided by S before the optimizer
step (`torch.amp.GradScaler`, dynamic S: halved on inf/NaN gradients, which skips that step,
doubled after 2000 finite steps); D and G have one scaler each.

Gradient penalties (R1, R2, WGAN-GP) differentiate D's output with respect to its input inside
the D loss. Under fp16 that inner gradient would underflow like any other, so it is taken of
S·D(x) and divided by S (`PenaltyContext.grad_scale`, see
`condgan.losses.regularizers.scalar_input_gradient_sq_norm`): ∇_x(S·D)/S = ∇_x D exactly, and
the penalty built from it is then scaled again with the rest of the loss (the recipe of
PyTorch's AMP notes, "Gradient penalty"). CGPGAN's classifier Q (its loss holds the classifier
gradient penalty) trains outside autocast, in fp32, so its penalty needs no scaling.

bf16 has fp32's exponent range: no scaler. Sampling, evaluation and EMA stay fp32.
"""

from __future__ import annotations

import contextlib
import shutil

import torch
from torch import nn

from condgan.errors import CondganError

PRECISIONS = ("fp32", "bf16", "fp16")
INITS = ("default", "orthogonal")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def compile_unavailable_reason(device_type: str) -> str | None:
    """Why torch.compile cannot run here, or None."""
    if not hasattr(torch, "compile") or not hasattr(nn.Module, "compile"):
        return f"this torch ({torch.__version__}) has no torch.compile"
    try:
        import torch._dynamo as dynamo
    except ImportError as e:  # pragma: no cover - depends on the torch build
        return f"torch._dynamo cannot be imported ({e})"
    if not dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python version / platform"
    if device_type == "cpu" and shutil.which("c++") is None and shutil.which("g++") is None:
        return "torch.compile on CPU needs a C++ compiler (c++ / g++) on PATH"
    return None


def check_precision_config(cfg, device: torch.device) -> None:
    """Config-time checks of the switches that depend on the device (one-line errors)."""
    t = cfg.train
    if t.precision == "fp16" and device.type != "cuda":
        raise CondganError(f"train.precision=fp16 needs a CUDA device (device={cfg.device} resolves to "
                           f"{device.type}): fp16 autocast with gradient scaling is CUDA only; use bf16 or fp32")
    if t.precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise CondganError(f"train.precision=bf16 runs on cpu or cuda, not {device.type}; use fp32")
    if t.compile:
        reason = compile_unavailable_reason(device.type)
        if reason:
            raise CondganError(f"train.compile=true: {reason}; set train.compile=false")
    if t.channels_last and cfg.model.net == "mlp":
        raise CondganError("train.channels_last=true needs image networks (model.net=dcgan or resnet), "
                           "not model.net=mlp")


class Precision:
    """autocast context and (for fp16) the gradient scalers of D and G."""

    def __init__(self, mode: str, device: torch.device):
        self.mode, self.device = mode, device
        self.dtype = AUTOCAST_DTYPES.get(mode)
        self.scalers = {name: torch.amp.GradScaler(device.type, enabled=mode == "fp16") for name in ("d", "g")}

    def autocast(self):
        """The context G's and D's forward passes and losses run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def grad_scale(self, net: str) -> float:
        """S of `net`'s scaler (1 without fp16): what penalties multiply D's output by."""
        scaler = self.scalers[net]
        return float(scaler.get_scale()) if scaler.is_enabled() else 1.0

    def step(self, net: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer, before_step=None) -> None:
        """backward(S·loss), `before_step()` (e.g. averaging gradients over processes: every rank
        then sees the same inf/NaN), unscale, step (skipped on inf/NaN under fp16), update S."""
        scaler = self.scalers[net]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if before_step is not None:
            before_step()
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict:
        return {name: s.state_dict() for name, s in self.scalers.items() if s.is_enabled()}

    def load_state_dict(self, state: dict | None) -> None:
        for name, s in (state or {}).items():
            self.scalers[name].load_state_dict(s)


def prepare_networks(cfg, *nets: nn.Module) -> None:
    """Apply `train.channels_last` and `train.compile` to G and D in place (`nn.Module.compile`
    keeps parameter names, so checkpoints are the same with and without it)."""
    for net in nets:
        if cfg.train.channels_last:
            net.to(memory_format=torch.channels_last)
        if cfg.train.compile:
            net.compile()


def to_memory_format(cfg, x: torch.Tensor) -> torch.Tensor:
    """An image batch in the memory format of the networks."""
    return x.contiguous(memory_format=torch.channels_last) if cfg.train.channels_last and x.dim() == 4 else x


def apply_init(module: nn.Module, kind: str) -> nn.Module:
    """`model.init=orthogonal` (Saxe et al. 2014; BigGAN §4 and App. B): every linear and
    convolution weight W (the pre-spectral-norm weight when spectral norm is on) is set to a
    random orthogonal matrix of W's shape flattened to (out, in·k·k), biases to 0. The gain and
    bias maps of conditional norms keep their zero start (identity transform). `default` keeps
    PyTorch's initialization."""
    if kind == "default":
        return module
    from torch.nn.utils import parametrize

    from condgan.nets.layers import ConditionalNorm

    skip = {id(m) for norm in module.modules() if isinstance(norm, ConditionalNorm) for m in norm.modules()}
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and id(layer) not in skip:
            weight = (layer.parametrizations.weight.original if parametrize.is_parametrized(layer, "weight")
                      else layer.weight)
            with torch.no_grad():
                nn.init.orthogonal_(weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return module
