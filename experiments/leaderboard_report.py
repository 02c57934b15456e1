"""The leaderboard document (docs/results/leaderboard/README.md) from the run records: per data
set the chosen configuration of every method over its seeds, ranked by FID only where Welch's 95 %
interval separates two methods; the real-data row on top; sample grids; what every method that
misses the targets reached, with its screening and training curves; the self-labeled table with
clustering; the screening of every configuration; the quickstart check; the search space.

`lb` is the leaderboard module (passed in: run as a script it is `__main__`)."""

from __future__ import annotations

import math
import shutil
import statistics

import stats
from report import Results, mean_sd, plot_series
from search import override_value

COLUMNS = [("fid", "FID"), ("intra_fid", "intra-FID"), ("precision", "precision"), ("recall", "recall"),
           ("coverage", "coverage"), ("conditional_accuracy", "cond. acc."), ("am_score", "AM Score")]
SELF_COLUMNS = [("fid", "FID"), ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage"),
                ("cluster_acc", "ACC"), ("cluster_nmi", "NMI"), ("cluster_ari", "ARI")]
# What the quickstart may cost: its own training CPU time plus this margin (same steps).
QUICKSTART_TIME_MARGIN = 1.2
# Hand-written analyses of why a method misses a target, once the runs exist:
# {(method, data set): text}. The generated diagnosis (numbers, curves, grids) stands without them.
NOTES: dict[tuple[str, str], str] = {}


def _mean(values):
    return statistics.fmean(values) if values else math.nan


def _seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def _cpu_min(recs):
    return [r["cpu_s"] / 60 for r in recs if r.get("cpu_s")]


def _wall_min(recs):
    return [r["wall_s"] / 60 for r in recs if r.get("wall_s")]


class Board:
    """One data set's chosen configurations and their records."""

    def __init__(self, ctx, lb, ds: str):
        self.ctx, self.lb, self.ds, self.r = ctx, lb, ds, ctx.results
        args = ctx.args
        self.configs = lb.config_settings(args, ds)
        self.choice = lb.choices(args, ds, self.configs)
        self.first_seed = args.seeds[0]

    def methods(self, self_labeled: bool) -> list[str]:
        return [m for m in self.choice if self.lb.METHODS[m].self_labeled == self_labeled]

    def records(self, method: str) -> list[dict]:
        label = self.choice[method][0]
        return self.r.select(label, self.ds) if label else []

    def values(self, method: str, metric: str) -> list[float]:
        label = self.choice[method][0]
        return self.r.values(label, metric, self.ds) if label else []

    def missed(self, method: str) -> list[str]:
        """The targets the chosen configuration's mean misses (empty: meets them)."""
        out = []
        m = self.lb.METHODS[method]
        for metric, bound in self.lb.TARGETS[self.ds].items():
            if metric == "conditional_accuracy" and (not m.accuracy_target or m.self_labeled):
                continue
            v = _mean(self.values(method, metric))
            if not v >= bound:
                out.append(metric)
        return out


# --------------------------------------------------------------------------- ranks
def ranks(board: Board, methods: list[str]) -> tuple[dict[str, int], dict[str, list[str]], list[str]]:
    """rank = 1 + the number of methods with a significantly lower FID (Welch 95 % interval of
    the difference below zero); equal ranks are ties. Only methods with ≥ 2 seeds are ranked.
    Returns ranks, each method's significantly worse methods, and the describe() lines of every
    pair of neighbours in mean-FID order."""
    fids = {m: board.values(m, "fid") for m in methods}
    ranked = sorted((m for m in methods if len(fids[m]) >= 2), key=lambda m: _mean(fids[m]))
    better_than: dict[str, list[str]] = {m: [] for m in ranked}
    for a in ranked:
        for b in ranked:
            if a != b and stats.verdict(stats.welch(fids[a], fids[b]), "lower") == stats.HOLDS:
                better_than[a].append(b)
    rank = {m: 1 + sum(m in better_than[b] for b in ranked) for m in ranked}
    lines = [f"- {a} vs {b}: FID lower, " + stats.describe(stats.welch(fids[a], fids[b]), "lower", a, b)
             for a, b in zip(ranked, ranked[1:])]
    return rank, better_than, lines


# --------------------------------------------------------------------------- sections
# The table's columns that also show the 95 % interval of the mean over seeds (the targets
# and the ranking metric).
WITH_INTERVAL = ("fid", "recall", "conditional_accuracy")


def _digits(metric: str) -> int:
    return 1 if metric in ("fid", "intra_fid") else 3


def mean_interval(values: list[float], digits: int) -> str:
    """'mean ± std [low, high]': the 95 % Student interval of the mean over seeds
    (mean ± t_{0.975, n-1} · s / √n); no interval with fewer than 2 seeds."""
    if len(values) < 2:
        return mean_sd(values, digits)
    e = stats.one_sample(values, 0.0)
    return f"{mean_sd(values, digits)} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def target_status(values: list[float], bound: float) -> str:
    """Where the mean's 95 % interval lies against a target 'metric ≥ bound': 'met' (wholly at or
    above), 'missed' (wholly below) or 'unresolved' (it contains the bound); with fewer than 2
    seeds the mean alone decides, marked '(1 seed)'."""
    if not values:
        return "no record"
    if len(values) < 2:
        return ("met" if values[0] >= bound else "missed") + " (1 seed)"
    e = stats.one_sample(values, bound)
    return "met" if e.low >= 0 else "missed" if e.high < 0 else "unresolved"


def _cell(board: Board, method: str, metric: str) -> str:
    values = board.values(method, metric)
    return mean_interval(values, _digits(metric)) if metric in WITH_INTERVAL else mean_sd(values, _digits(metric))


_SHORT = {"conditional_accuracy": "cond. acc.", "recall": "recall"}


def _targets_cell(board: Board, method: str) -> str:
    """Each applicable target of the data set with where the interval puts the method."""
    m = board.lb.METHODS[method]
    parts = []
    for metric, bound in board.lb.TARGETS[board.ds].items():
        if metric == "conditional_accuracy" and (not m.accuracy_target or m.self_labeled):
            continue
        parts.append(f"{_SHORT[metric]} ≥ {bound}: {target_status(board.values(method, metric), bound)}")
    return "; ".join(parts)



def _header(board: Board, key: str, name: str) -> str:
    bound = board.lb.TARGETS[board.ds].get(key)
    return f"{name} (target ≥ {bound})" if bound is not None else name


def _real_row(board: Board, columns) -> str:
    recs = board.r.select(board.lb.REAL, board.ds)
    if not recs:
        return ""
    m = recs[0]["metrics"]
    cells = [f"{m[k]:.{1 if k in ('fid', 'intra_fid') else 3}f}" if isinstance(m.get(k), (int, float)) else "–"
             for k, _ in columns]
    return "| – | **real data** (held-out split scored as fakes) | – | – | " + " | ".join(cells) + " | – | – | – |"


def leaderboard_table(board: Board) -> list[str]:
    methods = [m for m in board.methods(False) if board.records(m)]
    rank, better, lines = ranks(board, methods)
    order = sorted(methods, key=lambda m: (rank.get(m, 99), _mean(board.values(m, "fid"))))
    head = ("| rank | method | configuration | seeds | " + " | ".join(_header(board, k, c) for k, c in COLUMNS)
            + " | train CPU min | train wall min | targets (95 % interval of the mean) |")
    rows = [head, "|" + "---|" * (len(COLUMNS) + 7), _real_row(board, COLUMNS)]
    for m in order:
        recs = board.records(m)
        tie = [o for o in order if o != m and rank.get(o) == rank.get(m) and m in rank]
        rk = f"{rank[m]}" + (" (tie)" if tie else "") if m in rank else "–"
        rows.append(f"| {rk} | `{m}` | {board.choice[m][0]} | {len(recs)} | "
                    + " | ".join(_cell(board, m, k) for k, _ in COLUMNS)
                    + f" | {mean_sd(_cpu_min(recs), 1)} | {mean_sd(_wall_min(recs), 1)} | {_targets_cell(board, m)} |")
    out = ["\n".join(r for r in rows if r), "",
           "FID, recall and conditional accuracy: mean ± std over seeds [95 % interval of the mean, Student t]; "
           "other columns mean ± std. A target is met where that interval lies at or above its threshold, missed "
           "where it lies below, unresolved where it contains the threshold.", ""]
    if rank:
        out += ["Rank = 1 + the number of methods whose FID is significantly lower (Welch 95 % interval of the "
                "difference of the means over seeds below zero); methods with the same rank are tied: no interval "
                "separates them from the same set of better methods. Methods with fewer than 2 seeds are not ranked (–).",
                ""]
        sig = [f"`{m}` < " + ", ".join(f"`{o}`" for o in better[m]) for m in order if better.get(m)]
        out += ["Significantly lower FID: " + ("; ".join(sig) if sig else "no pair of methods is separated") + ".", ""]
        out += ["<details><summary>FID of each method against the next in mean-FID order (Welch)</summary>", "",
                *lines, "", "</details>", ""]
    return out


def self_labeled_table(board: Board) -> list[str]:
    methods = [m for m in board.methods(True) if board.records(m)]
    if not methods:
        return []
    rows = ["| method | configuration | seeds | " + " | ".join(c for _, c in SELF_COLUMNS) + " | train CPU min |",
            "|" + "---|" * (len(SELF_COLUMNS) + 4)]
    real = board.r.select(board.lb.REAL, board.ds)
    if real:
        m = real[0]["metrics"]
        rows.append("| **real data** | – | – | " + " | ".join(
            f"{m[k]:.3f}" if isinstance(m.get(k), (int, float)) else "–" for k, _ in SELF_COLUMNS) + " | – |")
    for m in sorted(methods, key=lambda x: -_mean(board.values(x, "cluster_acc"))):
        recs = board.records(m)
        rows.append(f"| `{m}` | {board.choice[m][0]} | {len(recs)} | "
                    + " | ".join(_cell(board, m, k) for k, _ in SELF_COLUMNS) + f" | {mean_sd(_cpu_min(recs), 1)} |")
    return ["#### Self-labeled methods (labels hidden from training)\n",
            "Clustering of each run's category predictor on the test split (ACC with the Hungarian matching, "
            "NMI, ARI); generation scored with categories requested equally often. Sorted by ACC; not ranked.\n",
            "\n".join(rows), ""]


def sample_grids(board: Board) -> list[str]:
    cells = []
    for m in board.choice:
        recs = board.records(m)
        if not recs:
            continue
        png = board.ctx.figure(f"{board.ds}_{m.replace('+', '_')}.png")
        d = board.ctx.run_dir(recs[0])
        if d is not None and (d / "samples" / "latest.png").exists():
            shutil.copyfile(d / "samples" / "latest.png", png)
        if png.exists():
            cells.append((m, recs[0]["seed"], png.name))
    if not cells:
        return []
    out = ["#### Sample grids\n", "Final samples of the chosen configuration, first seed (class-conditional: one row "
           "per class; self-labeled: one column per category).\n"]
    for i in range(0, len(cells), 4):
        chunk = cells[i:i + 4]
        out += ["| " + " | ".join(f"`{m}` (seed {s})" for m, s, _ in chunk) + " |", "|" + "---|" * len(chunk),
                "| " + " | ".join(f"![]({p})" for _, _, p in chunk) + " |", ""]
    return out


def diagnosis(board: Board, method: str) -> str:
    """What the numbers say about a miss: chance-level accuracy, collapse, an unlearned model,
    a rise and fall over training, and what the best of all screened configurations reached."""
    lb, ds = board.lb, board.ds
    k = 10
    says = []
    acc, rec, prec, fid = (_mean(board.values(method, x)) for x in ("conditional_accuracy", "recall", "precision",
                                                                    "fid"))
    if "conditional_accuracy" in board.missed(method) and acc < 2.0 / k:
        says.append(f"its samples do not follow the requested class (accuracy {acc:.3f}, chance {1 / k:.2f})")
    if "recall" in board.missed(method) and rec < 0.1:
        says.append(f"it covers little of the data (recall {rec:.3f}: collapse{' within each class' if acc > 0.9 else ''})")
    if fid > 100 and prec < 0.5:
        says.append(f"it has not learned the data at this budget (FID {fid:.0f}, precision {prec:.2f})")
    for key, name in (("eval.conditional_accuracy", "accuracy"), ("eval.recall", "recall")):
        curves = [dict(c) for c in board.r.series(board.choice[method][0], key, ds) if c]
        if curves:
            peak_step, peak = max(curves[0].items(), key=lambda kv: kv[1])
            last = curves[0][max(curves[0])]
            if peak - last > 0.1:
                says.append(f"its {name} (1,000 fakes, first seed) peaked at {peak:.2f} at step {peak_step} and "
                            f"ended at {last:.2f}")
    screened = [r for r in lb.screening_records(board.ctx.args, ds, [s for s in board.configs
                                                                      if lb.method_of(s.label) == method]).values() if r]
    for metric in lb.TARGETS[ds]:
        vals = [(r["metrics"][metric], r["setting"]) for r in screened if r["metrics"].get(metric) is not None]
        if vals and metric in board.missed(method):
            v, where = max(vals)
            says.append(f"the best {metric.replace('_', ' ')} of its {len(screened)} screened configurations is "
                        f"{v:.3f} ({where})")
    diverged = sum(r["metrics"].get("diverged_step") is not None for r in screened)
    if diverged:
        says.append(f"{diverged} of its configurations diverged")
    note = NOTES.get((method, ds))
    return "; ".join(says) + "." + (f" {note}" if note else "")


def misses(board: Board) -> list[str]:
    lb = board.lb
    failing = [m for m in board.methods(False) if board.records(m) and board.missed(m)]
    failing += [m for m in board.methods(True) if board.records(m) and board.missed(m)]
    if not failing:
        return []
    t = lb.TARGETS[board.ds]
    out = [f"#### Methods that miss the targets (conditional accuracy ≥ {t['conditional_accuracy']}, recall ≥ "
           f"{t['recall']}; `label` and the self-labeled methods: recall only)\n"]
    for m in failing:
        reached = ", ".join(f"{k.replace('_', ' ')} {mean_sd(board.values(m, k))}" for k in lb.TARGETS[board.ds])
        out.append(f"- **`{m}`** ({board.choice[m][0]}, {_seeds(len(board.records(m)))}) reached {reached}; "
                   f"chosen as {board.choice[m][1]}. Why: {diagnosis(board, m)}")
    labels = [board.choice[m][0] for m in failing]
    anchor = lb.QUICKSTART if board.r.select(lb.QUICKSTART, board.ds) else None
    drawn = []
    for key, name in (("eval.conditional_accuracy", "accuracy"), ("eval.recall", "recall"), ("eval.fid", "FID")):
        png = board.ctx.figure(f"{board.ds}_misses_{name.lower()}.png")
        chosen = labels + ([anchor] if anchor and anchor not in labels else [])
        if plot_series(board.r, board.ds, key, png, f"{board.ds}: {name} during training (1,000 fakes)", chosen, name):
            drawn.append(f"![{name}]({png.name})")
    if drawn:
        ref = f"; `{anchor}`, the quickstart's configuration, for reference" if anchor else ""
        out += ["", f"Evidence: conditional accuracy, recall and FID during training of each of these configurations "
                f"(mean ± std over seeds{ref}), and their sample grids below.\n", " ".join(drawn)]
    return out + [""]


def screening(board: Board) -> list[str]:
    """Every configuration's screening record: FID (accuracy, recall); the chosen one in bold."""
    lb, args = board.lb, board.ctx.args
    n = args.configs
    rows = ["| method | " + " | ".join(f"cfg{i:02d}" for i in range(n)) + " | chosen because |",
            "|" + "---|" * (n + 2)]
    for m, (label, why) in board.choice.items():
        recs = lb.screening_records(args, board.ds, [s for s in board.configs if lb.method_of(s.label) == m])
        cells = []
        for cfg, r in recs.items():
            if r is None:
                cells.append("·")
                continue
            x = r["metrics"]
            if x.get("fid") is None:
                cells.append("diverged")
                continue
            second = x.get("cluster_acc") if lb.METHODS[m].self_labeled else x.get("conditional_accuracy")
            cell = f"{x['fid']:.1f} ({second:.2f}, {x.get('recall', math.nan):.2f})" if second is not None else \
                f"{x['fid']:.1f} (–, {x.get('recall', math.nan):.2f})"
            cells.append(f"**{cell}**" if cfg == label else cell)
        rows.append(f"| `{m}` | " + " | ".join(cells) + f" | {why} |")
    return ["<details><summary>Screening: every configuration, seed " + str(board.first_seed)
            + " — FID (conditional accuracy or, self-labeled, clustering ACC; recall); chosen in bold, · not run"
            "</summary>\n", "\n".join(rows), "", "</details>", ""]


def quickstart_check(board: Board) -> list[str]:
    """Whether the best class-conditional configuration that fits the quickstart's time budget
    beats today's quickstart (ac_mod's anchor on MNIST-5k) over seeds."""
    lb = board.lb
    ref = board.r.select(lb.QUICKSTART, "mnist5k")
    if len(ref) < 2:
        return [f"**Quickstart check**: not yet measured ({len(ref)} seed(s) of the quickstart's configuration, "
                f"`{lb.QUICKSTART}` on mnist5k; needs ≥ 2).", ""]
    budget = _mean([r["cpu_s"] for r in ref if r.get("cpu_s")]) * QUICKSTART_TIME_MARGIN
    fits = []
    for m in board.methods(False):
        recs = board.records(m)
        if len(recs) >= 2 and not board.missed(m) and _mean([r["cpu_s"] for r in recs if r.get("cpu_s")]) <= budget:
            fits.append(m)
    head = (f"**Quickstart check** (MNIST-5k; fits the time budget = meets both targets with a training CPU time ≤ "
            f"{QUICKSTART_TIME_MARGIN}× the quickstart's {budget / QUICKSTART_TIME_MARGIN / 60:.1f} min):")
    if not fits:
        return [f"{head} no chosen configuration with ≥ 2 seeds fits; the quickstart stays.", ""]
    best = min(fits, key=lambda m: _mean(board.values(m, "fid")))
    if board.choice[best][0] == lb.QUICKSTART:
        return [f"{head} the best is the quickstart's own configuration (`{lb.QUICKSTART}`); it stays.", ""]
    quick = {k: board.r.values(lb.QUICKSTART, k, "mnist5k") for k in ("fid", "conditional_accuracy", "recall")}
    fid = stats.welch(board.values(best, "fid"), quick["fid"])
    worse = [k for k in ("conditional_accuracy", "recall")
             if stats.verdict(stats.welch(board.values(best, k), quick[k]), "higher") == stats.DOES_NOT_HOLD]
    beats = stats.verdict(fid, "lower") == stats.HOLDS and not worse
    line = (f"{head} best fitting: `{best}` ({board.choice[best][0]}). It has a lower FID than the quickstart — "
            + stats.describe(fid, "lower", best, "quickstart"))
    verdict = ("**replace the quickstart with it: yes**" if beats else
               "**replace the quickstart with it: no**" + (f" (significantly lower {', '.join(worse)})" if worse else
                                                          " (its FID is not significantly lower)"))
    return [line, "", verdict + ".", ""]


def search_space(lb, args) -> list[str]:
    shared = lb.SPACE.draw("concat", args.configs - 1, lb.SEARCH_SEED)
    keys = list(dict.fromkeys(a.split("=", 1)[0] for cfg in shared for a in cfg))
    rows = ["| configuration | " + " | ".join(f"`{k}`" for k in keys) + " |", "|" + "---|" * (len(keys) + 1),
            "| cfg00 | " + " | ".join("anchor" for _ in keys) + " |"]
    for i, cfg in enumerate(shared, 1):
        val = dict(a.split("=", 1) for a in cfg)
        rows.append(f"| cfg{i:02d} | " + " | ".join(val.get(k, "–") for k in keys) + " |")
    own = [f"- `{m}`: " + "; ".join([", ".join(f"`{k}` ∈ {v}" for k, v in meth.own.items())] * bool(meth.own)
                                     + [f"pinned (never drawn): {', '.join(f'`{k}`' for k in meth.fixed)}"] * bool(meth.fixed))
           for m, meth in lb.METHODS.items() if meth.own or meth.fixed]
    anchors = [f"- `{m}`: " + " ".join(f"`{o}`" for o in meth.overrides) + (f" — {meth.note}" if meth.note else "")
               for m, meth in lb.METHODS.items()]
    def choices(values) -> str:
        return " / ".join((", ".join(f"`{k}={v}`" for k, v in c.items()) or "none") if isinstance(c, dict)
                          else f"`{override_value(c)}`" for c in values)

    space = [f"- `{k}`: {choices(v)}" for k, v in lb.SPACE.shared.items()]
    return ["## Search space\n",
            f"Shared keys (configuration i draws them the same for every method, seed {lb.SEARCH_SEED}, uniformly from "
            "each list: a value listed twice is twice as likely; a group sets its keys together):\n", "\n".join(space),
            "", "The shared part of each configuration:\n", "\n".join(rows), "",
            "Each method's own keys (drawn from its own stream; a drawn key replaces the anchor's value):\n",
            "\n".join(own), "", "Anchors (cfg00): the data set's tuned preset with only these changed:\n",
            "\n".join(anchors), ""]


def protocol(lb, args) -> list[str]:
    steps = {ds: (args.steps or lb.STEPS[ds]) for ds in lb.DATASETS}
    return ["## Protocol\n",
            f"- **Budget, equal for every method**: {args.configs} configurations per method and data set "
            f"(configuration 0 the anchor: the data set's tuned preset — MNIST-5k `{lb.BASE['mnist5k']}`, "
            f"Fashion-MNIST `{lb.BASE['fashion-mnist']}` — with only the method changed; 1–{args.configs - 1} drawn "
            f"from the search space below), each trained {', '.join(f'{n:,} steps on {d}' for d, n in steps.items())} "
            f"(batch 64) on one seed ({args.seeds[0]}: the screening); then the chosen configuration of each method on "
            f"seeds {', '.join(map(str, args.seeds))}.",
            f"- **Choice**: {lb.CRITERION} The screening seed is one of the final seeds, so the chosen configurations' "
            "means carry a small selection bias, the same for every method.",
            f"- **Evaluation**: the final EMA generator, {args.num_samples or lb.NUM_FAKES:,} fakes (every class equally often), domain "
            "classifier features, the run's real reference (`auto`: MNIST-5k the train split, Fashion-MNIST the test "
            "split); FID, intra-FID, precision / recall / density / coverage (k = 5), conditional accuracy, AM Score "
            "(lower is better), clustering ACC / NMI / ARI for the self-labeled. Curves: 1,000 fakes every 500 steps.",
            "- **Targets** (of every class-conditional method's best configuration): " + "; ".join(
                f"{ds}: conditional accuracy ≥ {t['conditional_accuracy']}, recall ≥ {t['recall']}"
                for ds, t in lb.TARGETS.items()) + "; `label` (G's loss ignores the class) and the self-labeled "
            "methods: recall only.",
            "- Time: CPU minutes of the training process (one thread, the machine shared by several jobs: wall time "
            "compares nothing, CPU time roughly).", ""]


def document(ctx, lb) -> list[str]:
    out = protocol(lb, ctx.args)
    boards = {ds: Board(ctx, lb, ds) for ds in ctx.results.groups()}
    for ds, board in boards.items():
        out += [f"## {ds}\n", *leaderboard_table(board), *self_labeled_table(board), *misses(board),
                *sample_grids(board), *screening(board)]
    if "mnist5k" in boards:
        out += ["## Quickstart\n", *quickstart_check(boards["mnist5k"])]
    return out + search_space(lb, ctx.args)
