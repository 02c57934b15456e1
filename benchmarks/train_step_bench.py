"""Time condgan's training loop against a bare PyTorch loop with the same networks and batch.

The bare loop is what one would write by hand for the same preset: sample a real batch by
indexing the in-memory tensor, sample z and labels, one D step, one G step, an EMA update —
no registries, no logging, no checkpoints. condgan's loop is timed through `Trainer.train()`
itself (its `after_step` hook stamps the time), with checkpoint and sample intervals beyond the
run. Rounds alternate between the two to spread machine noise evenly.

    python benchmarks/train_step_bench.py [--preset mnist5k-cagan] [--steps 300] [--rounds 3]
        [--set model.conditioning=d2dce ...]
    python benchmarks/train_step_bench.py --set model.net=resnet --set data.image_size=32   # resnet, 32 px

The bare loop deep-copies the trainer's own networks, so it serves every `model.net`.
`--clock process` times with this process's CPU time instead of wall time: on a machine shared
with other jobs (load above the thread count) it is what each loop itself costs, while wall
time mostly measures the neighbours. It counts every thread of the process, so use it with
`--threads 1`.

The bare loop is written for the preset's `ca` and for `d2dce` (ReACGAN: adversarial loss on the
ψ head plus λ·D2D-CE on the feature-normalized head, written out by hand below).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from condgan.validation import load_config
from condgan.training.trainer import Trainer


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = CLOCKS["wall"]


class TimedTrainer(Trainer):
    def after_step(self, log):
        self.stamps.append(clock())


def step_times(stamps: list[float]) -> list[float]:
    """Durations of steps 2..N from the time stamps taken after each step (step 1 warms up)."""
    return [b - a for a, b in zip(stamps, stamps[1:])]


def condgan_step_times(cfg, steps: int) -> tuple[list[float], Trainer]:
    with tempfile.TemporaryDirectory() as out:
        trainer = TimedTrainer(cfg, out, progress=False)
        trainer.stamps = []
        trainer.train()
        return step_times(trainer.stamps), trainer


def bare_step_times(trainer: Trainer, steps: int) -> list[float]:
    """A hand-written loop over fresh copies of the same networks and data."""
    cfg = trainer.cfg
    G, D = copy.deepcopy(trainer.G).train(), copy.deepcopy(trainer.D).train().requires_grad_(True)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.g_lr, betas=tuple(cfg.train.g_betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.d_lr, betas=tuple(cfg.train.d_betas))
    images, labels = trainer.images, trainer.labels
    K, B, zd, decay = trainer.info.num_classes, cfg.train.batch_size, cfg.model.z_dim, cfg.train.ema
    adv = trainer.method.adv  # the same per-sample loss terms, read once
    method = cfg.model.conditioning
    assert method in ("ca", "d2dce") and not cfg.loss.mixed_batch, "bare loop is written for ca and d2dce"
    lam, m_p = trainer.method.cond_weight, cfg.model.cond_margin_pos
    tau = getattr(trainer.method, "temperature", None)  # the method's default when unset
    m_n = 1 - m_p if cfg.model.cond_margin_neg is None else cfg.model.cond_margin_neg
    assert cfg.model.d2dce_variant == "full"

    def d2dce(embed, y):
        f, proxy_sim = embed[:, :-K], embed[:, -K:]
        pos = (proxy_sim.gather(1, y[:, None]).squeeze(1) - m_p).clamp(max=0) / tau
        neg = ((f @ f.T - m_n).clamp(min=0) / tau).masked_fill(y[:, None] == y[None, :], float("-inf"))
        return (torch.logsumexp(torch.cat([pos[:, None], neg], 1), 1) - pos).mean()

    if method == "d2dce":  # the hand-written loss is the library's loss
        with torch.no_grad():
            embed = D(images[:B], F.one_hot(labels[:B], K).float())["embed"]
            assert torch.allclose(d2dce(embed, labels[:B]), trainer.method.class_loss(embed, labels[:B]))
    g = torch.Generator().manual_seed(0)
    stamps = []
    for _ in range(steps):
        idx = torch.randint(len(images), (B,), generator=g)
        y_r = labels[idx]
        x, c_r = images[idx], F.one_hot(y_r, K).float()
        y_f = torch.randint(K, (B,), generator=g)
        c_f = F.one_hot(y_f, K).float()
        with torch.no_grad():
            fake = G(torch.randn(B, zd, generator=g), c_f)
        out_r, out_f = D(x, c_r), D(fake, c_f)
        if method == "ca":
            d_loss = ((adv.real_term(out_r["cond"]) * c_r).sum(1).mean()
                      + (adv.fake_term(out_f["cond"]) * c_f).sum(1).mean())
        else:
            d_loss = (adv.real_term(out_r["adv"]).mean() + adv.fake_term(out_f["adv"]).mean()
                      + lam * d2dce(out_r["embed"], y_r))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        y_f = torch.randint(K, (B,), generator=g)
        c_f = F.one_hot(y_f, K).float()
        fake = G(torch.randn(B, zd, generator=g), c_f)
        out_f = D(fake, c_f)
        if method == "ca":
            g_loss = (adv.gen_term(out_f["cond"]) * c_f).sum(1).mean()
        else:
            g_loss = adv.gen_term(out_f["adv"]).mean() + lam * d2dce(out_f["embed"], y_f)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.state_dict().values(), G.state_dict().values()):
                if pe.is_floating_point():
                    pe.lerp_(p, 1 - decay)
        stamps.append(clock())
    return step_times(stamps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mnist5k-cagan")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time, or this process's CPU time (for a shared machine, with --threads 1)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. model.conditioning=d2dce")
    args = ap.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    cfg = load_config(args.preset, args.overrides + [
        f"train.threads={args.threads}",  # the Trainer sets its own thread count; the bare loop uses this one
        f"train.steps={args.steps}", f"train.checkpoint_every={args.steps}", "train.sample_every=0",
        f"train.log_every={min(50, args.steps)}"])
    # Per round: the mean step time (what a user waits for) and the median step time (robust to
    # the other processes of a shared machine, which stall single steps). The verdict uses the
    # median over rounds of the per-round ratios of medians.
    load_start = os.getloadavg()[0]
    ratios_mean, ratios_median, ours, bare = [], [], [], []
    for r in range(args.rounds):
        t_ours, trainer = condgan_step_times(cfg, args.steps)
        t_bare = bare_step_times(trainer, args.steps)
        m_o, m_b = statistics.mean(t_ours), statistics.mean(t_bare)
        q_o, q_b = statistics.median(t_ours), statistics.median(t_bare)
        ours.append(q_o)
        bare.append(q_b)
        ratios_mean.append(m_o / m_b)
        ratios_median.append(q_o / q_b)
        print(f"round {r + 1}: mean condgan {m_o * 1e3:.2f} / bare {m_b * 1e3:.2f} ms/step (ratio {m_o / m_b:.3f});  "
              f"median condgan {q_o * 1e3:.2f} / bare {q_b * 1e3:.2f} ms/step (ratio {q_o / q_b:.3f})")
    print(f"preset {args.preset} {' '.join('--set ' + o for o in args.overrides)}, "
          f"conditioning {cfg.model.conditioning}, batch {cfg.train.batch_size}, {args.steps} steps × {args.rounds} rounds, "
          f"torch {torch.__version__}, {args.threads} threads, {args.clock} clock")
    print(f"median step time over rounds: condgan {statistics.median(ours) * 1e3:.2f} ms, bare PyTorch "
          f"{statistics.median(bare) * 1e3:.2f} ms; ratio (median of per-round median ratios) "
          f"{statistics.median(ratios_median):.3f}, (median of per-round mean ratios) {statistics.median(ratios_mean):.3f}")
    print(f"machine: {os.cpu_count()} CPUs, 1-min load average {load_start:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end (above {args.threads}: shared with other jobs; rounds interleave "
          "the two loops so the noise falls on both)")

if __name__ == "__main__":
    main()
