"""Numeric precision and speed switches of training, in one place: `train.precision`
(auto | fp32 | bf16 | fp16), `train.channels_last` (auto | true | false), `train.compile`, and
`model.init`; `resolve_speed` turns the config's `auto`s into what this machine runs
(`SpeedSettings`, printed at the start of training and kept in the checkpoint).

`auto` (measured in docs/results/speed/): precision (opt-in; the default is fp32) = bf16 autocast
on a CPU with native bf16 instructions (AVX512-BF16 or AMX-BF16), fp32 everywhere else (a CPU
without them emulates bf16: GEMM and convolutions ran 30-70x slower than fp32 on an AVX2 machine),
and fp32 on CUDA / MPS (not measured there); channels_last (the default) = the channels-last
memory format for the convolutional nets on CPU (oneDNN's convolutions run on channels-last
tensors without layout copies: 1.17x on the quickstart step at one thread), the contiguous
format for the MLP and on other devices.

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
from dataclasses import dataclass

import torch
from torch import nn

from condgan.errors import CondganError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", "true", "false")
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
    if t.channels_last == "true" and cfg.model.net == "mlp":
        raise CondganError("train.channels_last=true needs image networks (model.net=dcgan or resnet), "
                           "not model.net=mlp")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16_cpu() -> tuple[bool, str]:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16), and what was found:
    torch's own probes where this torch has them, else /proc/cpuinfo. Without them oneDNN and
    ATen emulate bf16 with fp32 conversions, slower than plain fp32."""
    found = []
    probes = (("AMX-BF16", "_is_amx_tile_supported", "amx_bf16"), ("AVX512-BF16", "_is_avx512_bf16_supported", "avx512_bf16"))
    flags = cpu_flags()
    for name, probe, flag in probes:
        fn = getattr(torch.cpu, probe, None)
        try:
            has = bool(fn()) if fn is not None else flag in flags
        except Exception:  # pragma: no cover - a probe that fails on an exotic build
            has = flag in flags
        if has:
            found.append(name)
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    if found:
        return True, f"{' and '.join(found)} (torch CPU capability {capability})"
    return False, f"no AVX512-BF16 / AMX-BF16 (torch CPU capability {capability})"


@dataclass(frozen=True)
class SpeedSettings:
    """What `resolve_speed` chose for this run: `precision` (fp32 | bf16 | fp16), `channels_last`,
    `compile`, and why (`reasons`, printed at the start of training)."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"precision": self.precision, "channels_last": self.channels_last, "compile": self.compile}


def resolve_speed(cfg, device: torch.device | str, saved: dict | None = None) -> SpeedSettings:
    """The config's speed switches on `device`: `auto` resolved (module docstring), an explicit
    value kept. `saved`: the settings a resumed run's checkpoint recorded; an `auto` then keeps
    what the run started with (a resume is bit-identical only in the same precision and memory
    format), an explicit value that differs from it is refused."""
    t, device = cfg.train, torch.device(device)
    reasons = []
    saved = saved or {}
    precision, why = t.precision, f"train.precision={t.precision}"
    if precision == "auto":
        if "precision" in saved:
            precision, why = saved["precision"], "as the run started"
        elif device.type == "cpu":
            native, found = native_bf16_cpu()
            precision, why = ("bf16", f"native bf16: {found}") if native else ("fp32", f"bf16 would be emulated: {found}")
        else:
            precision, why = "fp32", f"auto on {device.type}"
    reasons.append(f"{precision} ({why})")
    if t.channels_last == "auto":
        if "channels_last" in saved:
            channels_last, why = bool(saved["channels_last"]), "as the run started"
        else:
            channels_last = device.type == "cpu" and cfg.model.net != "mlp"
            why = "auto on cpu" if device.type == "cpu" else f"auto on {device.type}"
    else:
        channels_last, why = t.channels_last == "true", f"train.channels_last={t.channels_last}"
    reasons.append(f"{'channels-last' if channels_last else 'contiguous'} memory format ({why})")
    for key, value in (("precision", precision), ("channels_last", channels_last)):
        if key in saved and saved[key] != value:
            shown = getattr(t, key)
            raise CondganError(f"train.{key}={shown} resolves to {value}, but the run was trained with {saved[key]}: "
                               f"a resume continues as the run started; set train.{key}=auto (or "
                               f"{str(saved[key]).lower()}) to resume, or start a new --out")
    if t.compile:
        reasons.append("torch.compile")
    return SpeedSettings(precision, channels_last, t.compile, tuple(reasons))


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


def prepare_networks(speed: SpeedSettings, *nets: nn.Module) -> None:
    """Apply the channels-last format and torch.compile of `speed` to G and D in place
    (`nn.Module.compile` keeps parameter names, so checkpoints are the same with and without it)."""
    for net in nets:
        if speed.channels_last:
            net.to(memory_format=torch.channels_last)
        if speed.compile:
            net.compile()


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An image batch in the memory format of the networks (a no-op when it already is)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


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
