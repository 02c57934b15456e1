"""Time and peak memory of every registered metric at evaluation scale, and of reference packages.

Setup (deterministic, seed 0): 10k real and 10k fake 28×28 one-channel "images", uniform noise in
[-1, 1] (fakes slightly contrast-reduced and shifted so the two sets differ); 64-d features and
K = 10 class logits are fixed random projections of the flattened images (a stand-in for an
extractor: dense, correlated, roughly Gaussian features); probabilities are softmax(logits).
Real labels and predicted clusters are random, fake targets are y'_i = i mod K (as the
evaluator draws them), all 10k fake images are handed to intra_ssim.

Rows: each registered metric alone; ALL = every metric in one process via compute_metrics;
ALL[mmap≥1MiB] = the same with MALLOC_MMAP_THRESHOLD_=1048576 (glibc returns freed blocks to the
OS); prdc[float32] = ours with float32 distances; ref:* = reference packages.

Every measurement runs in a fresh subprocess with `torch.set_num_threads(threads)`: inputs are
built in 1k-row chunks (so building them never sets a high memory mark), then the peak-RSS mark
is reset (/proc/self/clear_refs = 5, after malloc_trim) and the metric runs. Reported: wall
seconds (including a metric's lazy imports, e.g. scipy.linalg for FID), peak RSS of the process
during the call (includes the ~220 MB of the imported torch and the inputs), and the peak's
increase over the RSS just before the call. References on the same features:
`prdc.compute_prdc` (one call, nearest_k = 5, i.e. one k for all four numbers while ours does
k = 3 and k = 5) and torchmetrics' FID / KID (custom feature module that passes features
through, default KID subsets 100 × 1000).

Timings are single runs. On a machine whose load exceeds its cores, multi-threaded runs suffer
most (every parallel region waits for a descheduled thread), so `--threads 1` is also recorded.

Usage: python benchmarks/eval_bench.py [--n 10000] [--threads 2] [--jobs NAME ...]
                                       [--save benchmarks/eval_bench.txt [--append]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time

# ALL again with glibc's mmap threshold fixed at 1 MiB: blocks of ≥ 1 MiB then go back to the OS
# when freed instead of staying in the heap, which shows how much of ALL's peak is retained
# (fragmented) heap rather than live tensors.
ALL_MMAP = "ALL[mmap≥1MiB]"
IMAGE_SIDE = 28
DIM = 64
CLASSES = 10


def build_inputs(n: int, with_images: bool):
    import torch

    from condgan.metrics import MetricInputs

    g = torch.Generator().manual_seed(0)
    pixels = IMAGE_SIDE * IMAGE_SIDE
    proj = torch.randn(pixels, DIM, generator=g) / pixels**0.5
    proj_logits = torch.randn(pixels, CLASSES, generator=g) * (8 / pixels**0.5)

    def side(contrast, shift, keep_images):
        feats, logits, images = [], [], []
        for start in range(0, n, 1000):
            m = min(1000, n - start)
            x = (torch.rand(m, 1, IMAGE_SIDE, IMAGE_SIDE, generator=g) * 2 - 1) * contrast + shift
            flat = x.flatten(1)
            feats.append(flat @ proj)
            logits.append(flat @ proj_logits)
            if keep_images:
                images.append(x)
        return torch.cat(feats), torch.cat(logits).softmax(1), (torch.cat(images) if keep_images else None)

    real_f, real_p, _ = side(1.0, 0.0, False)
    fake_f, fake_p, fake_images = side(0.9, 0.05, with_images)
    return MetricInputs(
        real_features=real_f,
        fake_features=fake_f,
        real_labels=torch.randint(CLASSES, (n,), generator=g),
        fake_labels=torch.arange(n) % CLASSES,
        real_probs=real_p,
        fake_probs=fake_p,
        train_class_marginal=torch.full((CLASSES,), 1 / CLASSES),
        requested_class_marginal=torch.full((CLASSES,), 1 / CLASSES),
        fake_images=fake_images,
        predicted_clusters=torch.randint(CLASSES, (n,), generator=g),
        seed=0,
    )


class PassThrough:
    """torchmetrics feature extractor for precomputed features (built lazily: needs torch)."""

    @staticmethod
    def make(dim):
        import torch

        class _PassThrough(torch.nn.Module):
            num_features = dim

            def forward(self, x):
                return x

        return _PassThrough()


def job_fn(job: str, inputs):
    """The zero-argument callable measured for `job`."""
    from condgan.metrics import METRICS, compute_metrics

    if job.startswith("ALL"):
        # skip_missing: metrics whose inputs a run of this kind lacks (attribute accuracy of
        # multi-label data) are left out, as the evaluator does
        return lambda: compute_metrics(inputs, METRICS.names(), skip_missing=True)
    if job == "prdc[float32]":
        return lambda: METRICS.get("prdc")(inputs, dtype="float32")
    if job == "ref:prdc.compute_prdc":
        from prdc import compute_prdc

        real, fake = inputs.real_features.numpy(), inputs.fake_features.numpy()
        return lambda: {k: float(v) for k, v in compute_prdc(real, fake, nearest_k=5).items()}
    if job in ("ref:torchmetrics FID", "ref:torchmetrics KID"):
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        def run():
            cls = FrechetInceptionDistance if "FID" in job else KernelInceptionDistance
            m = cls(feature=PassThrough.make(DIM))
            for part in inputs.real_features.split(1000):
                m.update(part, real=True)
            for part in inputs.fake_features.split(1000):
                m.update(part, real=False)
            out = m.compute()
            return {"fid": float(out)} if "FID" in job else {"kid": float(out[0]), "kid_std": float(out[1])}

        return run
    return lambda: METRICS.get(job)(inputs)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def child(job: str, n: int, threads: int) -> None:
    import gc

    import torch

    torch.set_num_threads(threads)
    inputs = build_inputs(n, with_images=job == "intra_ssim" or job.startswith("ALL"))
    fn = job_fn(job, inputs)
    gc.collect()
    try:  # hand memory freed while building the inputs back to the OS (glibc keeps it otherwise)
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS mark: measure the call, not the setup
        reset = True
    except OSError:
        reset = False
    rss_before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    values = fn()
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "delta_mb": (peak - rss_before) / 1024,
                      "reset": reset, "values": values}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="real and fake samples each")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", default=None, help="also write the report (with this command line) here")
    parser.add_argument("--append", action="store_true", help="append to --save instead of overwriting")
    parser.add_argument("--jobs", nargs="*", default=None, help="only these rows (metric names, ALL, ref:...)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.threads)
        return

    from condgan.metrics import METRICS

    jobs = METRICS.names() + ["ALL", ALL_MMAP, "prdc[float32]", "ref:prdc.compute_prdc", "ref:torchmetrics FID",
                              "ref:torchmetrics KID"]
    jobs = [j for j in jobs if args.jobs is None or j in args.jobs]
    load_before = os.getloadavg()[0]
    rows = []
    for job in jobs:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(2**20)) if job == ALL_MMAP else None
        proc = subprocess.run([sys.executable, __file__, "--child", job, "--n", str(args.n),
                               "--threads", str(args.threads)], capture_output=True, text=True, env=env)
        if proc.returncode:
            raise SystemExit(f"{job} failed:\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])  # prdc prints a line of its own
        rows.append((job, res))
        print(f"  {job}: {res['seconds']:.2f} s", file=sys.stderr)

    import torch

    lines = [
        f"$ python {' '.join(shlex.quote(a) for a in sys.argv)}",
        f"{time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()}, {os.cpu_count()} cpus visible, "
        f"torch {torch.__version__}, torch threads {args.threads}",
        f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after: the machine is shared, "
        f"timings are noisy (a load above the core count slows multi-threaded runs the most)",
        f"{args.n} real vs {args.n} fake, 28x28 images, {DIM}-d features, K={CLASSES}",
        "",
        f"{'metric':<24}{'seconds':>9}{'peak RSS MB':>13}{'Δ over inputs MB':>18}  values",
    ]
    metric_rows = [(job, res) for job, res in rows if job in METRICS]
    for group in (metric_rows, [row for row in rows if row[0] not in METRICS]):
        for job, res in group:
            vals = ", ".join(f"{k}={v:.4g}" for k, v in list(res["values"].items())[:4])
            if len(res["values"]) > 4:
                vals += f", … ({len(res['values'])} keys)"
            lines.append(f"{job:<24}{res['seconds']:>9.2f}{res['peak_mb']:>13.0f}{res['delta_mb']:>18.0f}  {vals}")
        if group is metric_rows and metric_rows:
            total = sum(res["seconds"] for _, res in metric_rows)
            peak = max(res["peak_mb"] for _, res in metric_rows)
            lines.append(f"{f'sum / max of {len(metric_rows)} metrics':<24}{total:>9.2f}{peak:>13.0f}")
    if not all(res["reset"] for _, res in rows):
        lines.append("note: /proc/self/clear_refs unavailable, peaks include building the inputs")
    report = "\n".join(lines)
    print(report)
    if args.save:
        with open(args.save, "a" if args.append else "w") as f:
            f.write(("\n" if args.append else "") + report + "\n")


if __name__ == "__main__":
    main()
