"""Markdown reports across runs: sample grids, a metrics table with each run's real-data row,
stage wall times, loss curves and metric-vs-step plots."""

from __future__ import annotations

import os
import time
from pathlib import Path

from condgan.evaluation.eval_json import read_eval_json
from condgan.stages import read_stages, stage_summary
from condgan.training.checkpoint import RunDir, atomic_write_text
from condgan.training.logger import read_metrics_lines

TABLE_METRICS = ("fid", "kid", "is", "am_score", "precision", "recall", "density", "coverage",
                 "intra_fid", "conditional_accuracy", "class_tv", "intra_ssim")


def read_records(run: RunDir) -> tuple[list[dict], list[dict]]:
    """(loss records, evaluation records) from a run's metrics.jsonl."""
    losses, evals = [], []
    if run.metrics.exists():
        for _, rec in read_metrics_lines(run.metrics):
            (evals if "eval" in rec else losses).append(rec)
    return losses, evals


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(records: list[dict], path: Path, title: str = "") -> None:
    plt = _plt()
    keys = [k for k in records[0] if k.endswith("_loss") or k.startswith(("d_", "g_"))] if records else []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [r["step"] for r in records]
    for k in keys:
        ax.plot(steps, [r.get(k) for r in records], label=k, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    if keys:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_metric(series: dict[str, list[tuple[int, float]]], metric: str, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, points in series.items():
        if points:
            ax.plot(*zip(*points), marker="o", ms=3, lw=1, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _fmt(v) -> str:
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _short(sha: str | None) -> str:
    return f"{sha[:16]}…" if sha else "n/a"


def _eval_row_metrics(ev: dict) -> dict:
    return dict(ev["metrics"], _n=ev.get("num_samples"), _extractor_acc=ev.get("extractor_test_accuracy"),
                _extractor=ev.get("extractor"), _sha=ev.get("extractor_sha256"))


def _real_row(label: str, cfg: dict, ev: dict) -> tuple | None:
    """The run's real-data row (eval.json "real_data_row": held-out real images scored the same way)."""
    base = ev.get("real_data_row") or {}
    if "metrics" not in base:
        return None
    real_cfg = {"model": {"conditioning": "real data (baseline)"}, "loss": {"adversarial": ""},
                "data": {"name": cfg["data"]["name"]}, "seed": ""}
    what = base["notes"][0] if base.get("notes") else "held-out real images scored as fakes"
    return (f"{label}: real data", real_cfg, {}, dict(base["metrics"], _what=what), [])


def _stage_line(label: str, stages: dict, report_seconds: float) -> str:
    parts = [f"{stage} {seconds:.1f} s" + (f" ({note})" if note else "")
             for stage, seconds, note in stage_summary(stages) if stage != "report"]
    parts.append(f"report {report_seconds:.1f} s (this report)")
    return f"- `{label}` wall time: " + ", ".join(parts)


def write_report(run_dirs: list[str | Path], out: str | Path, title: str = "condgan report",
                 extra_evals: list[str | Path] = (), started: float | None = None) -> Path:
    """Markdown with what a user looks at first: each run's latest sample grid, then one table
    row per run (config summary, seeds, last losses, metrics from eval.json or the last
    evaluation during training) with its real-data row under it (eval.json "real_data_row": held-out
    real images scored the same way), the extractor's weights hash, the wall time of each stage
    (RUN/stages.json; `started` is the perf_counter at which this report's command began), then
    loss and metric plots next to it. `extra_evals` are JSON files of `condgan evaluate
    --baseline` / `--fakes`, added as rows below the runs."""
    started = time.perf_counter() if started is None else started
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.stem
    rows, metric_series, grids, stage_lines = [], {}, [], []
    for d in run_dirs:
        run = RunDir(d)
        cfg = run.read_config_dict()
        losses, evals = read_records(run)
        label = run.root.name
        metrics, real = {}, None
        eval_json = run.root / "eval.json"
        if eval_json.exists():
            ev = read_eval_json(eval_json)
            metrics = _eval_row_metrics(ev)
            real = _real_row(label, cfg, ev)
        elif evals:
            metrics = evals[-1]["eval"]
        for rec in evals:
            for k, v in rec["eval"].items():
                metric_series.setdefault(k, {}).setdefault(label, []).append((rec["step"], v))
        if losses:
            plot_losses(losses, out.parent / f"{stem}_{label}_losses.png", label)
        last = losses[-1] if losses else {}
        rows.append((label, cfg, last, metrics, losses))
        rows += [real] if real else []
        grid = run.samples / "latest.png"
        if grid.is_file():
            grids.append(f"`{label}`: the latest sample grid (samples/latest.png)\n\n"
                         f"![{label} samples]({Path(os.path.relpath(grid, out.parent)).as_posix()})")
        stage_lines.append((label, read_stages(run.root)))
    for path in extra_evals:
        ev = read_eval_json(path, "--baseline")
        kind = {"real-data": "real data (baseline)", "external": "external fakes"}.get(ev.get("generator"), "?")
        data = (ev.get("data") or {}).get("name", "")
        cfg = {"model": {"conditioning": kind}, "loss": {"adversarial": ""}, "data": {"name": data}, "seed": ""}
        rows.append((Path(str(ev["run"])).name or str(ev["run"]), cfg, {}, _eval_row_metrics(ev), []))
    lines = [f"# {title}", ""] + [g + "\n" for g in grids]
    present = [m for m in TABLE_METRICS if any(m in r[3] for r in rows)]
    header = ["run", "conditioning", "adversarial", "data", "seed", "step", "d_loss", "g_loss"] + present
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cfg, last, metrics, _ in rows:
        cells = [label, cfg["model"]["conditioning"], cfg["loss"]["adversarial"], cfg["data"]["name"],
                 str(cfg["seed"]), _fmt(last.get("step")), _fmt(last.get("d_loss")), _fmt(last.get("g_loss"))]
        cells += [_fmt(metrics.get(m)) for m in present]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for label, cfg, last, metrics, losses in rows:
        if metrics.get("_what"):
            lines.append(f"- `{label}`: {metrics['_what']}, with the same extractor, seed and metrics")
        elif metrics.get("_n"):
            lines.append(f"- `{label}`: metrics from eval.json, n = {metrics['_n']}; extractor `{metrics['_extractor']}` "
                         f"(weights SHA-256 {_short(metrics['_sha'])}, test accuracy {_fmt(metrics.get('_extractor_acc'))})")
        if losses:
            lines.append(f"- `{label}` loss curves: ![]({stem}_{label}_losses.png)")
    plots = []
    for metric, series in sorted(metric_series.items()):
        if "/" in metric:
            continue
        path = out.parent / f"{stem}_{metric}_vs_step.png"
        plot_metric(series, metric, path)
        plots.append(f"\n## {metric} during training\n\n![]({path.name})")
    report_seconds = time.perf_counter() - started  # everything but writing the file
    if stage_lines:
        lines += ["", "## Wall time", ""] + [_stage_line(label, stages, report_seconds) for label, stages in stage_lines]
    atomic_write_text(out, "\n".join(lines + plots) + "\n")
    return out
