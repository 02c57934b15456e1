"""From a study's run records (docs/results/<study>/runs/*.json) to its document: verdicts
first (stats.py), then the budget and the baseline's reached quality, the tables, the study's own
sections (figures) and the commands. The document is built from the committed records alone, so
`--report-only` rebuilds it on a clean clone."""

from __future__ import annotations

import math
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import stats
from runner import Baseline, Claim, RunSpec, Study, show, train_command


# --------------------------------------------------------------------------- the records
class Results:
    """The records of one invocation's grid, in grid order. `group`: the data set ('' when the
    study runs on its presets' own data)."""

    def __init__(self, records: list[dict]):
        self.records = records

    def groups(self) -> list[str]:
        return list(dict.fromkeys(r["group"] for r in self.records))

    def settings(self, group: str | None = None) -> list[str]:
        return list(dict.fromkeys(r["setting"] for r in self.select(group=group)))

    def select(self, setting: str | None = None, group: str | None = None) -> list[dict]:
        return [r for r in self.records if (setting is None or r["setting"] == setting)
                and (group is None or r["group"] == group)]

    def values(self, setting: str, metric: str, group: str | None = None) -> list[float]:
        """Per-seed values (grid order); records without the metric (or with None) are left out."""
        out = []
        for r in self.select(setting, group):
            v = r.get("metrics", {}).get(metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.append(float(v))
        return out

    def series(self, setting: str, key: str, group: str | None = None) -> list[list[tuple[int, float]]]:
        return [[(int(s), float(v)) for s, v in r.get("series", {}).get(key, [])]
                for r in self.select(setting, group)]


def mean_sd(values: list[float], digits: int = 3) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def metrics_table(results: Results, group: str | None, metrics: list[str], settings: list[str] | None = None,
                  names: dict[str, str] | None = None, digits: int = 3) -> str:
    """Markdown table: one row per setting, 'mean ± std' over seeds per metric ('–': not measured)."""
    names = names or {}
    settings = settings or results.settings(group)
    rows = ["| setting | seeds | " + " | ".join(names.get(m, m) for m in metrics) + " |",
            "|---|---|" + "---|" * len(metrics)]
    for s in settings:
        n = len(results.select(s, group))
        rows.append(f"| {s} | {n} | " + " | ".join(mean_sd(results.values(s, m, group), digits) for m in metrics) + " |")
    return "\n".join(rows)


def per_seed(results: Results, setting: str, metric: str, group: str | None = None, digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in results.values(setting, metric, group))


# --------------------------------------------------------------------------- verdicts
def claim_effect(results: Results, claim: Claim, group: str | None) -> stats.Effect | None:
    a = results.values(claim.a, claim.metric, group)
    if isinstance(claim.b, str):
        b = results.values(claim.b, claim.metric, group)
        if not a or not b:
            return None
        return stats.effect(a, b, claim.method)
    return stats.effect(a, float(claim.b)) if a else None


def claim_lines(results: Results, claims: tuple[Claim, ...] | list[Claim]) -> list[str]:
    """One verdict line per claim and data set where it could be tested."""
    lines = []
    for claim in claims:
        for group in results.groups():
            if claim.groups is not None and group not in claim.groups:
                continue
            e = claim_effect(results, claim, group)
            if e is None:
                continue
            where = f"{group}: " if group else ""
            source = f" ({claim.source})" if claim.source else ""
            b = claim.b if isinstance(claim.b, str) else "fixed value"
            lines.append(f"- {where}{claim.text}{source} — `{claim.metric}`, "
                         + stats.describe(e, claim.claimed, claim.a, b))
    return lines


def baseline_lines(results: Results, baseline: Baseline | None) -> tuple[list[str], bool]:
    """The baseline's reached quality per data set, and whether it learned everywhere."""
    if baseline is None:
        return [], True
    lines, learned_everywhere = [], True
    for group in results.groups():
        if not results.select(baseline.setting, group):
            continue
        parts = [f"{m} {mean_sd(results.values(baseline.setting, m, group))}" for m in baseline.metrics]
        n = len(results.select(baseline.setting, group))
        line = f"- {group + ': ' if group else ''}baseline `{baseline.setting}` reached " + ", ".join(parts) + f" ({n} seeds)"
        if baseline.learned_metric:
            vals = results.values(baseline.setting, baseline.learned_metric, group)
            m = statistics.fmean(vals) if vals else math.nan
            lo, hi = (b.get(group) if isinstance(b, dict) else b for b in (baseline.at_least, baseline.at_most))
            ok = bool(vals) and (lo is None or m >= lo) and (hi is None or m <= hi)
            bound = f">= {lo}" if lo is not None else f"<= {hi}"
            line += (f"; learned ({baseline.learned_metric} {bound}): **{'yes' if ok else 'no'}**")
            learned_everywhere &= ok
        lines.append(line)
    return lines, learned_everywhere


# --------------------------------------------------------------------------- figures
def plot_series(results: Results, group: str | None, key: str, out_png: Path, title: str,
                settings: list[str] | None = None, ylabel: str | None = None) -> bool:
    """Mean over seeds (band: ± one std) of a kept series per setting, at the steps every seed
    has. Returns False (and draws nothing) when no record kept the series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for s in settings or results.settings(group):
        per = [dict(x) for x in results.series(s, key, group) if x]
        if not per:
            continue
        steps = sorted(set.intersection(*(set(p) for p in per)))
        means = [statistics.fmean(p[t] for p in per) for t in steps]
        sds = [statistics.stdev([p[t] for p in per]) if len(per) > 1 else 0.0 for t in steps]
        ax.plot(steps, means, marker="o", ms=2, label=f"{s} ({len(per)} seeds)")
        ax.fill_between(steps, [m - d for m, d in zip(means, sds)], [m + d for m, d in zip(means, sds)], alpha=0.2)
        drawn = True
    if drawn:
        ax.set_xlabel("generator step")
        ax.set_ylabel(ylabel or key)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return drawn


# --------------------------------------------------------------------------- the document
@dataclass
class Context:
    """What a study's report function sees."""

    study: Study
    args: object
    results: Results
    specs: list[RunSpec]
    runner: object
    docs: Path
    doc: str
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str) -> Path:
        """Path of a figure beside the document: DOC_NAME (NAME alone for README / tables)."""
        prefix = "" if self.doc in ("README", "tables") else f"{self.doc}_"
        return self.docs / f"{prefix}{name}"

    def run_dir(self, record: dict) -> Path | None:
        """The run directory behind a record, when it is still on this machine."""
        spec = next((s for s in self.specs if s.key == record["key"]), None)
        d = self.runner.run_dir(spec) if spec is not None and spec.preset else None
        return d if d is not None and d.exists() else None


def budget_lines(study: Study, args, results: Results) -> list[str]:
    trained = [r for r in results.records if r.get("config")]
    if not trained:
        return []

    def distinct(path: str) -> str:
        vals = []
        for r in trained:
            v = r["config"]
            for k in path.split("."):
                v = (v or {}).get(k) if isinstance(v, dict) else None
            vals.append(v)
        return ", ".join(str(v) for v in dict.fromkeys(vals))

    timed = [r for r in trained if r.get("cpu_s") is not None]
    cpu = sum(r["cpu_s"] + (r.get("eval_cpu_s") or 0) for r in timed)
    untimed = [r for r in trained if r.get("cpu_s") is None]
    time_text = f"{cpu / 3600:.2f} CPU-hours of training and evaluation in all" if timed else ""
    if untimed:  # records converted from a driver that kept wall time only
        wall = sum(r.get("wall_s") or 0 for r in untimed)
        time_text += ((" (" if timed else "") + f"{len(untimed)} of {len(trained)} runs without a recorded CPU time, "
                      f"{wall / 3600:.2f} wall-hours of training" + (")" if timed else ""))
    seeds = sorted({r["seed"] for r in trained if r["seed"] is not None})
    extra = f"; `--set` {' '.join(args.overrides)}" if args.overrides else ""
    return [f"Budget: {distinct('train.steps')} generator steps of batch {distinct('train.batch_size')}, nets "
            f"`{distinct('model.net')}` (G width {distinct('model.g_width')}, D width {distinct('model.d_width')}){extra}; "
            f"seeds {', '.join(map(str, seeds))}; {len(trained)} runs, {time_text}; "
            f"commit {', '.join(dict.fromkeys(r['commit'] for r in trained))}."]


def generated_by() -> str:
    return f"<!-- generated by: python experiments/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])} -->"


def commands_block(ctx: Context) -> str:
    cmds = [show(train_command(s, ctx.runner.run_dir(s))) for s in ctx.specs if s.preset]
    if not cmds:
        return ""
    return "<details><summary>commands</summary>\n\n```\n" + "\n".join(cmds) + "\n```\n</details>\n"


def default_tables(ctx: Context) -> list[str]:
    study, results = ctx.study, ctx.results
    out = []
    for group in results.groups():
        metrics = list(study.table_metrics or sorted({k for r in results.select(group=group)
                                                      for k in r.get("metrics", {})}))
        out += [f"### {group}\n" if group else "", metrics_table(results, group, metrics), ""]
    return out


def verdict_block(ctx: Context) -> list[str]:
    lines = claim_lines(ctx.results, ctx.study.claims)
    base, learned = baseline_lines(ctx.results, ctx.study.baseline)
    out = []
    if not ctx.study.claims:
        out += ["Verdicts: none — this study states no claim to test; its tables are measurements.\n"]
    if lines:
        out += ["Verdicts (95 % intervals over seeds; “holds” only where the interval excludes zero in the "
                "claimed direction):\n"]
        if not learned:
            out += ["**The baseline did not learn at this budget (below): these verdicts compare models that have "
                    "not learned the data and do not test the paper's claims.**\n"]
        out += lines + [""]
    if base:
        out += base + [""]
    return out


def update_readme(docs: Path, doc: str, title: str, block: str) -> None:
    """Replace the generated block of `doc` in docs/README.md (create the README when absent);
    the hand-written text around it stays."""
    readme = docs / "README.md"
    begin, end = f"<!-- begin generated: {doc} -->", f"<!-- end generated: {doc} -->"
    body = f"{begin}\n{block.strip()}\n{end}"
    if not readme.exists():
        readme.write_text(f"# {title}\n\n{body}\n")
        return
    text = readme.read_text()
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: body, text, flags=re.S)
    else:  # a new part: appended, for the author to place and discuss
        text = text.rstrip() + "\n\n" + body + "\n"
    readme.write_text(text)


def write_document(study: Study, args, specs: list[RunSpec], records: list[dict], missing: list[RunSpec],
                   runner) -> bool:
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    results = Results(records)
    ctx = Context(study, args, results, specs, runner, docs, args.doc)
    title = study.title + (f" — {study.part}" if study.part else "")
    verdicts = verdict_block(ctx)
    sections = study.report(ctx) if study.report else default_tables(ctx)
    parts = [generated_by(), "", f"# {title}", ""]
    if missing:
        parts += [f"**Incomplete: {len(missing)} of {len(specs)} runs have no record yet** "
                  f"({', '.join(s.key for s in missing[:6])}{' …' if len(missing) > 6 else ''}).", ""]
    parts += verdicts + budget_lines(study, args, results) + [""] + sections + ctx.notes
    parts += ["", f"Records: `runs/*.json` beside this document ({len(records)} runs; a re-run of the command "
              "above skips them).", "", commands_block(ctx)]
    text = "\n".join(parts).replace("\n\n\n", "\n\n").rstrip() + "\n"
    out = docs / f"{args.doc}.md"
    out.write_text(text)
    if args.doc != "README":
        link = f"Generated tables, figures and commands: [`{out.name}`]({out.name})."
        update_readme(docs, args.doc, study.title, "\n".join(verdicts + budget_lines(study, args, results)) + "\n" + link)
    print(text)
    return ctx.exit_code == 0
