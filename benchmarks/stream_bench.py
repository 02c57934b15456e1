"""The streaming loader (data.stream) against the in-memory path on a folder of JPEGs.

Generates (once, if missing) a folder of N 64×64 RGB JPEGs in 10 class folders under --root
(default /tmp/condgan_stream_bench; not part of the repository), then measures

* in-memory: the up-front decode of the whole training split (`load_dataset`), then batches of
  B by indexing the tensor (`InMemoryBatches`);
* streamed: batches of B decoded by W DataLoader workers (`StreamedBatches`), for each W given,

as images/s over --batches batches after a warm-up of 5 batches. Both read the same training
split (the folder minus the 10 % hold-out) at data.image_size 64.

    python benchmarks/stream_bench.py [--images 20000] [--batch 64] [--batches 150] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgan.validation import load_config
from condgan.data import load_dataset
from condgan.data.sampler import BatchSampler
from condgan.data.stream import RealBatches


def make_folder(root: Path, n: int, size: int = 64) -> None:
    if root.is_dir() and sum(1 for _ in root.rglob("*.jpg")) == n:
        return
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        # Smooth random images (compress like photos, unlike white noise).
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR).save(d / f"{i:06d}.jpg", quality=90)


def rate(batches: RealBatches, count: int, batch: int) -> float:
    for _ in range(5):
        batches.next()
    t0 = time.perf_counter()
    for _ in range(count):
        batches.next()
    return count * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/condgan_stream_bench")
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=150)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"$ python benchmarks/stream_bench.py {' '.join(sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, 1 torch thread, load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    root = Path(args.root)
    t0 = time.perf_counter()
    make_folder(root, args.images)
    print(f"# folder: {args.images} 64x64 JPEGs in {root} (ready in {time.perf_counter() - t0:.0f} s)")
    base = ["data.name=folder", f"data.root={root}", "data.image_size=64", f"train.batch_size={args.batch}"]
    device = torch.device("cpu")
    sampler = lambda: BatchSampler(n, args.batch, torch.Generator().manual_seed(0))  # noqa: E731

    cfg = load_config({}, base + ["data.stream=false"])
    t0 = time.perf_counter()
    data = load_dataset(cfg.data, "train", allow_stream=True)
    decode_s = time.perf_counter() - t0
    n = len(data)
    mb = data.images.numel() * 4 / 2**20
    memory = rate(RealBatches.of(data.images, sampler(), device), args.batches, args.batch)
    print(f"in-memory: decode {n} images up front in {decode_s:.1f} s ({n / decode_s:.0f} images/s, "
          f"{mb:.0f} MiB resident), then {memory:,.0f} images/s from the tensor")
    del data

    cfg = load_config({}, base + ["data.stream=true"])
    streamed = load_dataset(cfg.data, "train", allow_stream=True)
    for w in args.workers:
        batches = RealBatches.of(streamed.images, sampler(), device, w)
        ips = rate(batches, args.batches, args.batch)
        batches.close()
        print(f"streamed, {w} worker(s): {ips:,.0f} images/s (decode + resize per batch, nothing resident)")
    print(f"# load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
