"""Helpers the experiment drivers share: run `condgan train` as a subprocess (skipping runs
that already finished), run many in a thread pool, read evaluation series from metrics.jsonl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The in-process evaluation imports this checkout's condgan, as the training subprocesses (run
# from ROOT) do, not whichever copy is installed (an editable install of another checkout).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def train(run_dir: Path, preset: str, overrides: list[str], log) -> None:
    shown = os.path.relpath(run_dir, ROOT) if run_dir.is_absolute() else str(run_dir)
    cmd = ["condgan", "train", preset, "--out", shown, "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    log.append(" ".join(cmd))
    if (run_dir / "checkpoints" / "last.pt").exists() and (run_dir / "done").exists():
        return
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "condgan.cli.main"] + cmd[1:], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    (run_dir / "done").write_text(f"{time.time() - t0:.1f}\n")
    print(f"[{time.time() - t0:6.1f} s] {run_dir.name}", flush=True)


def eval_series(run_dir: Path, key: str) -> list[tuple[int, float]]:
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "eval" in rec and key in rec["eval"]:
            out.append((rec["step"], rec["eval"][key]))
    return out


def run_all(jobs, workers: int, after=None) -> list[str]:
    """Train every (run_dir, preset, overrides) job on `workers` parallel processes; `after(run_dir)`
    (e.g. its final evaluation) runs in the same worker right after the run's training."""
    log: list[str] = []

    def job(d, p, o):
        train(d, p, o, log)
        if after is not None:
            after(d)

    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(job, d, p, o) for d, p, o in jobs]:
            f.result()
    return log




def fmt_ms(values: list[float], digits: int = 3) -> str:
    """'mean ± std' of a list of per-seed values (std 0 for a single seed)."""
    import statistics

    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def log_series(run_dir: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) of a per-interval training-log key (e.g. diag_feature_norm) from metrics.jsonl."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if key in rec:
            out.append((rec["step"], rec[key]))
    return out


def final_eval(run_dir: Path, metrics: list[str], num_samples: int, standing_stats: int | None = None) -> dict:
    """`condgan evaluate RUN --metrics ... --num-samples N` (final EMA generator, latent seed 0, the
    run's own eval.real_split) in a subprocess, cached in RUN/final_eval-*.json: metric -> value."""
    from condgan.config import config_from_dict
    from condgan.training.checkpoint import RunDir

    tag = f"{'-'.join(metrics)}-n{num_samples}" + (f"-ss{standing_stats}" if standing_stats is not None else "")
    out = run_dir / f"final_eval-{tag}.json"
    if not out.exists():
        split = config_from_dict(RunDir(run_dir).read_config_dict()).eval.real_split
        cmd = [sys.executable, "-m", "condgan.cli.main", "evaluate", str(run_dir), "--metrics", ",".join(metrics),
               "--num-samples", str(num_samples), "--seed", "0", "--real-split", split, "--out", str(out) + ".tmp"]
        cmd += ["--standing-stats", str(standing_stats)] if standing_stats is not None else []
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        os.replace(str(out) + ".tmp", out)
    return json.loads(out.read_text())["metrics"]


def final_metrics(groups: dict[str, list[Path]], metrics: list[str], num_samples: int,
                  standing_stats: int | None = None) -> dict[str, dict[str, list[float]]]:
    """Every run's final_eval: group -> metric -> per-seed values. Metrics that return several
    numbers (prdc) are flattened to their own keys."""
    out: dict[str, dict[str, list[float]]] = {}
    for label, runs in groups.items():
        for r in runs:
            for k, v in final_eval(r, metrics, num_samples, standing_stats).items():
                out.setdefault(label, {}).setdefault(k, []).append(v)
    return out


def metrics_table(values: dict[str, dict[str, list[float]]], keys: list[str] | None = None) -> str:
    """Markdown table: one row per group, 'mean ± std' over seeds per metric key."""
    keys = keys or sorted({k for per in values.values() for k in per})
    rows = ["| setting | seeds | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for label, per in values.items():
        n = max((len(v) for v in per.values()), default=0)
        rows.append(f"| {label} | {n} | " + " | ".join(fmt_ms(per[k]) if k in per else "—" for k in keys) + " |")
    return "\n".join(rows)


def plot_curves(groups: dict[str, list[Path]], key: str, out_png: Path, title: str, series=None) -> None:
    """Mean over seeds of a per-step series (default: log_series(run, key)) per group, one line each."""
    import statistics

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = series or log_series
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, runs in groups.items():
        per = [dict(series(r, key)) for r in runs]
        steps = sorted(set.intersection(*(set(p) for p in per))) if per else []
        ax.plot(steps, [statistics.mean(p[s] for p in per) for s in steps], label=label)
    ax.set_xlabel("generator step")
    ax.set_ylabel(key)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100, metadata={"Software": None})
    plt.close(fig)


def mean_of(values: dict[str, dict[str, list[float]]], label: str, key: str) -> float:
    import statistics

    return statistics.mean(values[label][key])


def verdict(ok: bool) -> str:
    return "**holds**" if ok else "**does not hold at this scale**"


def commands_block(log: list[str]) -> str:
    return "<details><summary>commands</summary>\n\n```\n" + "\n".join(log) + "\n```\n</details>\n"


def generated_by(t0: float) -> str:
    """The first line of a generated results file: the driver command as run and its wall time."""
    return (f"<!-- generated by: python experiments/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])} "
            f"({time.time() - t0:.0f} s) -->\n")


def publish_tables(path: Path, sections: list[str], log: list[str], t0: float) -> None:
    """Write (and print) a driver's tables file: the generated-by line, the sections, the commands."""
    text = generated_by(t0) + "\n" + "\n".join(sections) + "\n" + commands_block(log)
    path.write_text(text)
    print(text)


def add_run_arguments(ap, experiment: str, num_samples: int | None) -> None:
    """The options every reproduction driver shares: seeds, step budget, evaluation size,
    parallel runs, and where runs and result documents go."""
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--num-samples", type=int, default=num_samples)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--runs", default=str(ROOT / "runs" / experiment))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for every run (e.g. model.g_width=16); repeatable")
