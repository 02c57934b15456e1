"""Markdown reports across runs: a metrics table, loss curves and metric-vs-step plots."""

from __future__ import annotations

from pathlib import Path

from condgan.evaluation.eval_json import read_eval_json
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


def write_report(run_dirs: list[str | Path], out: str | Path, title: str = "condgan report",
                 extra_evals: list[str | Path] = ()) -> Path:
    """Markdown with one row per run (config summary, seeds, last losses, metrics from eval.json
    or the last evaluation during training) plus PNG plots next to it. `extra_evals` are JSON
    files of `condgan evaluate --baseline` / `--fakes` (e.g. the real-data row: what a perfect
    generator scores with the same features), added as rows below the runs."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.stem
    rows, metric_series = [], {}
    lines = [f"# {title}", ""]
    for d in run_dirs:
        run = RunDir(d)
        cfg = run.read_config_dict()
        losses, evals = read_records(run)
        label = run.root.name
        metrics = {}
        eval_json = run.root / "eval.json"
        if eval_json.exists():
            ev = read_eval_json(eval_json)
            metrics = ev["metrics"]
            metrics["_n"] = ev["num_samples"]
            metrics["_extractor_acc"] = ev.get("extractor_test_accuracy")
        elif evals:
            metrics = evals[-1]["eval"]
        for rec in evals:
            for k, v in rec["eval"].items():
                metric_series.setdefault(k, {}).setdefault(label, []).append((rec["step"], v))
        if losses:
            plot_path = out.parent / f"{stem}_{label}_losses.png"
            plot_losses(losses, plot_path, label)
        last = losses[-1] if losses else {}
        rows.append((label, cfg, last, metrics, losses))
    for path in extra_evals:
        ev = read_eval_json(path, "--baseline")
        kind = {"real-data": "real data (baseline)", "external": "external fakes"}.get(ev.get("generator"), "?")
        data = (ev.get("data") or {}).get("name", "")
        metrics = dict(ev["metrics"], _n=ev["num_samples"], _extractor_acc=ev.get("extractor_test_accuracy"))
        cfg = {"model": {"conditioning": kind}, "loss": {"adversarial": ""}, "data": {"name": data}, "seed": ""}
        rows.append((Path(str(ev["run"])).name or str(ev["run"]), cfg, {}, metrics, []))
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
        if metrics.get("_n"):
            lines.append(f"- `{label}`: metrics from eval.json, n = {metrics['_n']} fakes; extractor test "
                         f"accuracy {_fmt(metrics.get('_extractor_acc'))}")
        if losses:
            lines.append(f"- `{label}` loss curves: ![]({stem}_{label}_losses.png)")
    for metric, series in sorted(metric_series.items()):
        if "/" in metric:
            continue
        path = out.parent / f"{stem}_{metric}_vs_step.png"
        plot_metric(series, metric, path)
        lines.append(f"\n## {metric} during training\n\n![]({path.name})")
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
