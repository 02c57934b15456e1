"""Step time of the StyleGAN2 preset against a ResNet configuration, in one run.

Both are timed through condgan's own training loop (`Trainer.train()`, a time stamp after every
generator step), with checkpoints and sample grids beyond the run and evaluation off, in rounds
that alternate between the two so machine noise falls on both. A "step" is one generator step
with its `train.d_steps` discriminator steps, the unit `train.steps` counts. StyleGAN2's lazy
regularization makes steps uneven (R1 every `reg.d_interval` D steps, path length every
`reg.pl_interval` G steps), so the per-round figure is the *mean* step time over a number of steps
that is a multiple of both intervals (the median is printed too).

    python benchmarks/stylegan2_step_bench.py [--steps 48] [--rounds 3] [--threads 1] [--clock process]

Defaults: A = `fashion-mnist-stylegan2`; B = `cifar10-pd`, the ResNet preset (SNGAN / BigGAN
residual nets with self-attention, hinge, 5 D steps), trained on the same Fashion-MNIST 32-px
data (`--set-b` replaces nothing of its nets or schedule, only its data source). Any other pair:
`--a PRESET --set-a KEY=VALUE ... --b PRESET --set-b KEY=VALUE ...`. Every run gets
`train.threads=--threads`. `--clock process` times this process's CPU time (use it with
`--threads 1` on a machine shared with other jobs: wall time there mostly measures the
neighbours).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from condgan.validation import load_config
from condgan.training.trainer import Trainer

CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
RESNET_ON_FASHION = ["data.name=fashion-mnist", "data.root=null", "data.image_size=32", "data.test_fraction=0.1",
                     "eval.every=0"]


class TimedTrainer(Trainer):
    clock = staticmethod(time.perf_counter)

    def after_step(self, log):
        self.stamps.append(self.clock())


def step_times(cfg, clock) -> list[float]:
    """Durations of steps 2..N of one run (step 1 warms up)."""
    with tempfile.TemporaryDirectory() as out:
        trainer = TimedTrainer(cfg, out, progress=False)
        trainer.clock = clock
        trainer.stamps = []
        trainer.train()
    return [b - a for a, b in zip(trainer.stamps, trainer.stamps[1:])]


def config(preset: str, overrides: list[str], steps: int, threads: int):
    return load_config(preset, overrides + [
        f"train.threads={threads}", f"train.steps={steps + 1}", f"train.checkpoint_every={steps + 1}",
        "train.sample_every=0", f"train.log_every={steps + 1}", "eval.every=0"])


def describe(cfg) -> str:
    m, t = cfg.model, cfg.train
    return (f"net {m.net} (g_width {m.g_width}, d_width {m.d_width}), {m.conditioning} / {cfg.loss.adversarial}, "
            f"batch {t.batch_size}, {t.d_steps} D step(s) per G step, data {cfg.data.name} {cfg.data.image_size} px")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", default="fashion-mnist-stylegan2")
    ap.add_argument("--set-a", dest="set_a", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--b", default="cifar10-pd")
    ap.add_argument("--set-b", dest="set_b", action="append", default=None, metavar="KEY=VALUE",
                    help=f"overrides of B (default for cifar10-pd: {' '.join(RESNET_ON_FASHION)})")
    ap.add_argument("--steps", type=int, default=48, help="timed steps per run (a multiple of the lazy intervals)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = ap.parse_args()
    set_b = args.set_b if args.set_b is not None else (RESNET_ON_FASHION if args.b == "cifar10-pd" else [])
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    runs = {"A": config(args.a, args.set_a, args.steps, args.threads),
            "B": config(args.b, set_b, args.steps, args.threads)}
    load_start = os.getloadavg()[0]
    means: dict[str, list[float]] = {"A": [], "B": []}
    medians: dict[str, list[float]] = {"A": [], "B": []}
    for r in range(args.rounds):
        line = []
        for name, cfg in runs.items():
            times = step_times(cfg, clock)
            means[name].append(statistics.mean(times))
            medians[name].append(statistics.median(times))
            line.append(f"{name} mean {means[name][-1] * 1e3:.1f} / median {medians[name][-1] * 1e3:.1f} ms/step")
        print(f"round {r + 1}: " + ";  ".join(line) + f";  ratio A/B (means) {means['A'][-1] / means['B'][-1]:.3f}",
              flush=True)
    print(f"A = {args.a} {' '.join('--set ' + o for o in args.set_a)}: {describe(runs['A'])}")
    print(f"B = {args.b} {' '.join('--set ' + o for o in set_b)}: {describe(runs['B'])}")
    a, b = statistics.median(means["A"]), statistics.median(means["B"])
    per_image = {k: statistics.median(means[k]) / runs[k].train.batch_size * 1e3 for k in runs}
    print(f"median over rounds of the mean step time: A {a * 1e3:.1f} ms, B {b * 1e3:.1f} ms, ratio A/B {a / b:.3f}; "
          f"per generated batch image: A {per_image['A']:.2f} ms, B {per_image['B']:.2f} ms")
    print(f"{args.steps} steps × {args.rounds} rounds, torch {torch.__version__}, {args.threads} thread(s), "
          f"{args.clock} clock; machine: {os.cpu_count()} CPUs, 1-min load average {load_start:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
