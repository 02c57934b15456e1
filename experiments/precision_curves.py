"""bf16 vs fp32 training on CPU: the same run (mnist5k-cagan, 200 steps, one thread) with
train.precision=fp32 and =bf16; plots the per-step D and G losses and checks them against a
stated tolerance (exit status 1 when bf16 leaves it).

    python experiments/precision_curves.py [--steps 200]

Tolerance: the 20-step running means of d_loss and g_loss of the bf16 run stay within
max(15 % of fp32's running mean, 0.05) of fp32's at every step. bf16 keeps fp32's exponent but
only 8 bits of mantissa (relative rounding 2^-9 ≈ 0.2 %), so single-step losses drift apart as
the two runs' weights diverge (GAN training is chaotic); running means are what must agree.
Result: docs/results/precision/README.md and its figure (record of each run in runs/).
"""

from __future__ import annotations

from runner import Setting, Study, run_main

WINDOW = 20
REL_TOL, ABS_TOL = 0.15, 0.05


def running_mean(xs: list[float], w: int = WINDOW) -> list[float]:
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x - (xs[i - w] if i >= w else 0.0)
        out.append(acc / min(i + 1, w))
    return out


def report(ctx) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = {p: ctx.results.select(p)[0] for p in ("fp32", "bf16")}
    curves = {p: {k: [v for _, v in r["series"][k]] for k in ("d_loss", "g_loss")} for p, r in recs.items()}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    rows, ok = [], True
    for ax, key in zip(axes, ("d_loss", "g_loss")):
        a, b = curves["fp32"][key], curves["bf16"][key]
        ra, rb = running_mean(a), running_mean(b)
        worst = max(abs(x - y) - max(REL_TOL * abs(x), ABS_TOL) for x, y in zip(ra, rb))
        ok &= worst <= 0
        rows.append(f"| `{key}` | {max(abs(x - y) for x, y in zip(ra, rb)):.4f} | {'yes' if worst <= 0 else 'NO'} | "
                    f"{sum(a[-WINDOW:]) / WINDOW:.4f} | {sum(b[-WINDOW:]) / WINDOW:.4f} |")
        steps = range(1, len(a) + 1)
        ax.plot(steps, a, color="C0", alpha=0.25, lw=0.8)
        ax.plot(steps, b, color="C3", alpha=0.25, lw=0.8)
        ax.plot(steps, ra, color="C0", label=f"fp32 ({WINDOW}-step mean)")
        ax.plot(steps, rb, color="C3", label=f"bf16 ({WINDOW}-step mean)")
        ax.set_title(f"{key}, mnist5k-cagan")
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    png = ctx.figure("bf16_vs_fp32.png")
    fig.savefig(png, dpi=110, metadata={"Software": None})
    plt.close(fig)
    ctx.exit_code = 0 if ok else 1
    return [f"Tolerance (stated before the run): the {WINDOW}-step running means of `d_loss` and `g_loss` of the "
            f"bf16 run stay within max({REL_TOL:.0%} of fp32's, {ABS_TOL}) of fp32's at every step. Single steps are "
            "not compared: bf16 rounds to 8 mantissa bits, the two runs' weights drift apart, and GAN training "
            "amplifies any difference. One run of each (seed 0): a check of this pair of runs, not a comparison "
            "over seeds.\n",
            "| loss | max running-mean gap | within tolerance | fp32 mean, last 20 steps | bf16 mean, last 20 steps |",
            "|---|---|---|---|---|", *rows, "",
            f"Result: {'bf16 stays within the tolerance of fp32' if ok else 'bf16 leaves the tolerance'}. Wall time: "
            f"fp32 {recs['fp32']['wall_s']:.0f} s, bf16 {recs['bf16']['wall_s']:.0f} s, one thread on a shared machine "
            "(indicative only; a CPU without native bf16 instructions emulates bf16, which is slower; "
            "benchmarks/precision_bench.txt has interleaved images/s).\n", f"![loss curves]({png.name})", ""]


def add_arguments(ap) -> None:
    ap.add_argument("--out", dest="runs", help="alias of --runs")


STUDY = Study(
    name="precision", title="bf16 vs fp32 training on CPU",
    settings=[Setting(p, "mnist5k-cagan", (f"train.precision={p}",)) for p in ("fp32", "bf16")],
    steps=200, seeds=(0,), overrides=("train.log_every=1", "train.sample_every=0", "eval.every=0"),
    options=lambda args: [f"train.checkpoint_every={args.steps}"], series=("d_loss", "g_loss"), report=report,
    add_arguments=add_arguments, doc="README", description=__doc__)

if __name__ == "__main__":
    run_main(STUDY)
