"""The training step against the machine's limit (issue 19): what the CPU can do, what one step
of a preset costs, where the time goes, and what each speed change buys.

    python benchmarks/speed_bench.py compare [--preset mnist5k-quickstart] [--threads 1]
        [--steps 15] [--rounds 3] [--set KEY=VALUE ...]
    python benchmarks/speed_bench.py peak [--threads 1]
    python benchmarks/speed_bench.py profile [--of default|f3a8931] [--preset mnist5k-quickstart] [--threads 1]

compare   runs each variant in a child process of its own (process-wide settings such as the
          allocator's stay with their variant), all from the same seed, and has them run their
          steps (`Trainer.train_step`, the full step: D phase, G phase, EMA) in interleaved
          rounds (variant A's steps, B's, C's, ..., then again), so that the load of a shared
          machine falls on every variant alike. Variants: `f3a8931` (the step as on commit
          f3a8931: fp32 eager, contiguous tensors, torch's default (foreach) Adam, glibc's default
          allocator, a fresh G forward in the G step), each change alone, and `default` (the
          preset's settings and the config's defaults on this machine).
          Reported per variant: images/s (real images D sees per second, batch · d_steps / step
          time) by wall clock and by the child's CPU time (user + system: what the step itself
          costs when other jobs share the cores; exact at --threads 1), minor page faults per
          step, and the ratio to `f3a8931`.
peak      the attainable GFLOP/s through torch on these threads: a 2048² GEMM (1024² in bf16
          where bf16 is emulated) and a 3×3 convolution (64→128 channels, 14², batch 64), fp32
          and bf16, forward only.
profile   the FLOPs of one training step (`torch.utils.flop_counter`, forward and backward of
          every phase) and a per-op `torch.profiler` table of a few steps of one variant (`--of`),
          grouped into convolution / batch-norm / optimizer / elementwise / copies / other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import condgan.training.optimizers as optimizers
from condgan.training.precision import native_bf16_cpu
from condgan.training.trainer import Trainer
from condgan.validation import load_config

# name -> (config overrides, fused Adam)
F3A8931 = ["train.precision=fp32", "train.channels_last=false", "train.tune_malloc=false", "train.reuse_fakes=false"]
VARIANTS = {
    "f3a8931": (F3A8931, False),
    "+fused Adam": (F3A8931, True),
    "+channels_last": (F3A8931 + ["train.channels_last=true"], False),
    "+tune_malloc": (F3A8931 + ["train.tune_malloc=true"], False),
    "+reuse_fakes": (F3A8931 + ["train.reuse_fakes=true"], False),
    "default": ([], True),
}


def cpu_line() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    _, bf16 = native_bf16_cpu()
    return f"{model}, {os.cpu_count()} CPUs, {bf16}, torch {torch.__version__}"


@contextlib.contextmanager
def fused_adam(enabled: bool):
    """Build optimizers fused or with torch's default implementation (the latter as on f3a8931)."""
    original = optimizers.fused_supported
    if not enabled:
        optimizers.fused_supported = lambda params: False
    try:
        yield
    finally:
        optimizers.fused_supported = original


def make_trainer(preset, overrides, fused, out) -> Trainer:
    cfg = load_config(preset, overrides + ["train.checkpoint_every=100000", "train.sample_every=0",
                                           "eval.every=0", "train.steps=100000"])
    with fused_adam(fused):
        trainer = Trainer(cfg, out, progress=False)
        trainer.setup()
    return trainer


def run_steps(trainer: Trainer, steps: int) -> tuple[float, float, int]:
    """Wall seconds, process CPU seconds and minor page faults of `steps` training steps."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.step += 1
        trainer.train_step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


class Worker:
    """One variant of `compare` in a child process of its own, so that process-wide settings (the
    allocator tuning of `train.tune_malloc`, thread pools) belong to that variant alone. The
    parent sends a step count per line; the child answers with a JSON line (wall, CPU, faults)."""

    def __init__(self, preset: str, overrides: list[str], fused: bool):
        spec = json.dumps({"preset": preset, "overrides": overrides, "fused": fused})
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", "--spec", spec],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a compare worker died (exit code {self.proc.wait()}); its error is above")
        return json.loads(line)

    def hello(self) -> dict:
        return self._answer()

    def run(self, steps: int) -> tuple[float, float, int]:
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        answer = self._answer()
        return answer["wall"], answer["cpu"], answer["faults"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def worker(args) -> None:
    """The child side of `Worker`: set up the variant, warm it up, then run steps on request."""
    spec = json.loads(args.spec)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        t = make_trainer(spec["preset"], spec["overrides"], spec["fused"], tmp)
        run_steps(t, 2)  # warm-up: first-touch allocations, oneDNN primitive caches, torch.compile
        print(json.dumps({"summary": t.speed_summary(), "warmup": time.perf_counter() - start,
                          "images": t.cfg.train.batch_size * t.cfg.train.d_steps}), flush=True)
        for line in sys.stdin:
            wall, cpu, faults = run_steps(t, int(line))
            print(json.dumps({"wall": wall, "cpu": cpu, "faults": faults}), flush=True)
        t.close()


def compare(args) -> None:
    common = args.overrides + [f"train.threads={args.threads}"]
    variants = dict(VARIANTS)
    for extra in args.variant:
        variants[extra] = ([extra], True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_line()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    workers = {name: Worker(args.preset, common + ov, fused) for name, (ov, fused) in variants.items()}
    try:
        images = None
        for name, w in workers.items():
            hello = w.hello()
            images = hello["images"]
            print(f"{name:>16}: {hello['summary']} (set-up and 2 warm-up steps: {hello['warmup']:.1f} s)")
        results = {name: [] for name in workers}
        for r in range(args.rounds):
            for name, w in workers.items():
                results[name].append(w.run(args.steps))
            line = "  ".join(f"{n} {args.steps * images / v[-1][0]:.0f}" for n, v in results.items())
            print(f"round {r + 1}: images/s (wall) {line}", flush=True)
    finally:
        for w in workers.values():
            w.close()
    base_w = statistics.median(args.steps * images / w for w, _, _ in results["f3a8931"])
    base_c = statistics.median(args.steps * images / c for _, c, _ in results["f3a8931"])
    print(f"\npreset {args.preset} {' '.join('--set ' + o for o in args.overrides)}, batch {images}, "
          f"{args.steps} steps x {args.rounds} rounds, {args.threads} thread(s); load average at end "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'variant':>16} | images/s wall | x f3a8931 | images/s CPU | x f3a8931 | faults/step")
    for name, rows in results.items():
        w = statistics.median(args.steps * images / w for w, _, _ in rows)
        c = statistics.median(args.steps * images / c for _, c, _ in rows)
        faults = statistics.median(f / args.steps for _, _, f in rows)
        print(f"{name:>16} | {w:13.0f} | {w / base_w:9.2f} | {c:12.0f} | {c / base_c:9.2f} | {faults:11.0f}")


def gflops(fn, flops: float, repeat: int) -> str:
    """GFLOP/s of `fn` by wall clock and per second of this process's CPU time (the latter is what
    the kernel itself attains when other jobs share the cores; at one thread, per core)."""
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"{flops * repeat / wall / 1e9:.0f} GFLOP/s wall, {flops * repeat / cpu / 1e9:.0f} per CPU-second"


def peak(args) -> None:
    torch.set_num_threads(args.threads)
    print(f"# {cpu_line()}; {args.threads} thread(s); load average {os.getloadavg()[0]:.1f}")
    for dtype in (torch.float32, torch.bfloat16):
        n = 2048 if dtype == torch.float32 or native_bf16_cpu()[0] else 1024  # emulated bf16: minutes at 2048²
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        print(f"GEMM {n}² {dtype}: {gflops(lambda: a @ b, 2 * n ** 3, args.repeat)}")
    x, w = torch.randn(64, 64, 14, 14), torch.randn(128, 64, 3, 3)
    flops = 2 * 64 * 128 * 14 * 14 * 64 * 9
    for dtype in (torch.float32, torch.bfloat16):
        for fmt in (torch.contiguous_format, torch.channels_last):
            xx, ww = x.to(dtype).contiguous(memory_format=fmt), w.to(dtype).contiguous(memory_format=fmt)
            rate = gflops(lambda: F.conv2d(xx, ww, padding=1), flops, args.repeat)
            print(f"conv 3x3 64->128 14² batch 64 {dtype} {'channels_last' if fmt is torch.channels_last else 'contiguous'}: "
                  f"{rate}")


def profile(args) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile
    from torch.utils.flop_counter import FlopCounterMode

    overrides, fused = VARIANTS[args.of]
    common = args.overrides + overrides + [f"train.threads={args.threads}"]
    with tempfile.TemporaryDirectory() as tmp:
        t = make_trainer(args.preset, common, fused, tmp)
        images = t.cfg.train.batch_size * t.cfg.train.d_steps
        run_steps(t, 3)
        counter = FlopCounterMode(display=False)
        with counter:
            run_steps(t, 1)
        flops = counter.get_total_flops()
        times = [run_steps(t, 1) for _ in range(args.steps)]
        print(f"# {cpu_line()}; {args.threads} thread(s); load average {os.getloadavg()[0]:.1f}")
        print(f"variant {args.of}: {t.speed_summary()}")
        print(f"one step: {flops / 1e9:.2f} GFLOP (torch.utils.flop_counter)")
        for k, clock in ((0, "wall"), (1, "process CPU")):
            sec = statistics.median(x[k] for x in times)
            print(f"  {clock:>11}: median {sec * 1e3:.1f} ms over {args.steps} steps, {images / sec:.0f} images/s, "
                  f"achieved {flops / sec / 1e9:.1f} GFLOP/s")
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            run_steps(t, args.steps)
        t.close()
    groups = {"convolution": ("conv", "mkldnn_convolution"), "batch-norm": ("batch_norm",),
              "linear / matmul": ("addmm", "mm", "linear", "matmul", "bmm"),
              # torch's default Adam on CPU is a loop of elementwise ops: only its Python frame
              # (Optimizer.step#Adam.step) and fused / foreach kernels land here
              "optimizer": ("_fused_adam", "_foreach", "adam"), "copies / layout": ("copy_", "contiguous", "clone", "cat", "to"),
              }
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    grouped: dict[str, float] = {}
    for e in events:
        name = e.key.split("::")[-1].lower()
        group = next((g for g, keys in groups.items() if any(k in name for k in keys)), "elementwise / other")
        grouped[group] = grouped.get(group, 0.0) + e.self_cpu_time_total
    print(f"\nself CPU time over {args.steps} steps, by group (torch.profiler):")
    for g, v in sorted(grouped.items(), key=lambda kv: -kv[1]):
        print(f"  {g:<22} {100 * v / total:5.1f} %")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("compare", "peak", "profile", "worker"))
    ap.add_argument("--preset", default="mnist5k-quickstart")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10, help="peak: timed repetitions of each kernel")
    ap.add_argument("--of", choices=sorted(VARIANTS), default="default", help="profile: the variant profiled")
    ap.add_argument("--rows", type=int, default=25, help="profile: rows of the per-op table")
    ap.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                    help="compare: one more variant, the defaults plus this override (e.g. train.reuse_fakes=true)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every variant")
    ap.add_argument("--spec", help=argparse.SUPPRESS)  # worker: the variant, from compare
    args = ap.parse_args()
    {"compare": compare, "peak": peak, "profile": profile, "worker": worker}[args.mode](args)


if __name__ == "__main__":
    main()
