"""Multi-process data-parallel training on the CPU: images/s of 1 and N processes, and the
scaling efficiency  E = ips(N) / (N · ips(1)).

Each configuration is a real `condgan train PRESET --nproc N` run (gloo, torchrun --standalone)
with train.threads=1 per process and train.batch_size B per process (so N processes train on a
global batch of N·B); images/s is read from the run's metrics.jsonl (global images per second of
each log interval), skipping the first interval (start-up, first allocations). Rounds alternate
between the configurations to spread machine noise.

    python benchmarks/ddp_bench.py [--preset mnist5k-cagan] [--nproc 1 2] [--steps 60]
        [--log-every 10] [--rounds 2] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def images_per_s(preset: str, nproc: int, steps: int, log_every: int, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        sets = [f"train.steps={steps}", f"train.log_every={log_every}", "train.threads=1",
                f"train.checkpoint_every={steps}", "train.sample_every=0", "train.standing_stats=1",
                "eval.every=0", *extra]
        cmd = [sys.executable, "-m", "condgan", "train", preset, "--out", out, "--no-progress",
               "--nproc", str(nproc), *[f"--set={s}" for s in sets]]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
        records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["images_per_s"] for r in records if "images_per_s" in r][1:]
    return statistics.median(speeds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist5k-cagan")
    p.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    print(f"$ python benchmarks/ddp_bench.py {' '.join(sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, 1 thread per process, load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results: dict[int, list[float]] = {n: [] for n in args.nproc}
    for r in range(args.rounds):
        for n in args.nproc:
            ips = images_per_s(args.preset, n, args.steps, args.log_every, args.overrides)
            results[n].append(ips)
            print(f"round {r + 1}: {n} process(es): {ips:8.1f} images/s", flush=True)
    base = statistics.median(results[args.nproc[0]]) / args.nproc[0]
    print(f"# load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"preset {args.preset} {' '.join(args.overrides)}, batch per process from the preset, "
          f"{args.steps} steps, median over {args.rounds} rounds:")
    for n in args.nproc:
        ips = statistics.median(results[n])
        print(f"  {n} process(es): {ips:8.1f} images/s   scaling efficiency {ips / (n * base):.2f}")


if __name__ == "__main__":
    main()
