"""Training throughput (images/s) of train.precision=bf16 vs fp32 on CPU, through
`Trainer.train()` itself (the timed loop of train_step_bench.py), in interleaved rounds so that
the load of a shared machine falls on both.

    python benchmarks/precision_bench.py [--preset mnist5k-cagan] [--steps 60] [--rounds 3]
        [--threads 1] [--set model.net=resnet ...]

images/s = batch_size · d_steps / (seconds per generator step): the real images D sees.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step_bench import condgan_step_times  # noqa: E402

from condgan.validation import load_config  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mnist5k-cagan")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = args.overrides + [f"train.steps={args.steps}", f"train.checkpoint_every={args.steps}",
                             "train.sample_every=0", f"train.log_every={args.steps}", f"train.threads={args.threads}",
                             "train.standing_stats=1"]
    cfgs = {p: load_config(args.preset, base + [f"train.precision={p}"]) for p in ("fp32", "bf16")}
    images = cfgs["fp32"].train.batch_size * cfgs["fp32"].train.d_steps
    load_start = os.getloadavg()[0]
    rates: dict[str, list[float]] = {p: [] for p in cfgs}
    for r in range(args.rounds):
        for p, cfg in cfgs.items():
            times, _ = condgan_step_times(cfg, args.steps)
            rates[p].append(images / statistics.mean(times))
        print(f"round {r + 1}: " + "   ".join(f"{p} {rates[p][-1]:.1f} images/s" for p in cfgs), flush=True)
    med = {p: statistics.median(v) for p, v in rates.items()}
    cpu_flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    native = any(f in cpu_flags for f in ("avx512_bf16", "amx_bf16"))
    print(f"preset {args.preset} {' '.join('--set ' + o for o in args.overrides)}, batch "
          f"{cfgs['fp32'].train.batch_size}, {args.steps} steps × {args.rounds} rounds, torch {torch.__version__}, "
          f"{args.threads} thread(s); CPU bf16 instructions (AVX512-BF16/AMX): {'yes' if native else 'no'}")
    print(f"median: fp32 {med['fp32']:.1f} images/s, bf16 {med['bf16']:.1f} images/s, "
          f"bf16/fp32 = {med['bf16'] / med['fp32']:.2f}")
    print(f"machine: {os.cpu_count()} CPUs, 1-min load average {load_start:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end (shared with other jobs; the rounds interleave fp32 and bf16)")


if __name__ == "__main__":
    main()
