"""Every conditioning method at its best: a leaderboard with equal tuning budgets (Lucic et al.
2018, "Are GANs Created Equal?"; Kurach et al. 2019).

Every method gets the same number of configurations (`--configs`, default 8) from one search
space (search.py): configuration i draws the shared keys (adversarial loss, G and D learning
rates, betas, D steps, R1 / GP, spectral norm, DiffAugment, EMA, G-side conditioning, minibatch
std) identically for every method, and the method's own keys (λ, τ, margins, projection size,
CGP / InfoGAN weights, codebook size) from its own stream. Configuration 0 is the anchor: the
tuned preset of the data set (MNIST-5k: mnist5k-quickstart; Fashion-MNIST: fashion-mnist-acmod)
with only the method changed, so no method gets less than the known-good settings. Every run has
the same steps per data set and the same evaluation (5,000 fakes of the final EMA generator: FID,
intra-FID, precision / recall / density / coverage, conditional accuracy, AM Score; clustering
ACC / NMI / ARI for the self-labeled methods).

Stages (`--stage`):
  screen  every configuration of every chosen method, one seed (the first of --seeds);
  final   per method and data set the configuration the criterion chooses from the screening
          records (CRITERION below), on every seed; plus the anchor of ac_mod (= today's
          quickstart) on MNIST-5k, the reference of the quickstart check;
  all     both (default; screening first, then the final stage from its records): what the
          document is built from.

    python experiments/leaderboard.py --stage screen --methods ac_mod pd --datasets mnist5k
    python experiments/leaderboard.py --stage final --seeds 0 1 2
    python experiments/leaderboard.py --report-only              # the document from the records
    python experiments/leaderboard.py --list --stage screen       # what is done, what is to run
    python experiments/leaderboard.py --plan                      # run counts and the CPU time still to spend
    python experiments/leaderboard.py --smoke                     # every configuration, 2 tiny steps

Each finished run is one JSON under docs/results/leaderboard/runs/ (skipped on re-run; its key
includes a hash of the resolved config, so a changed default makes a new run); a run that
diverges (non-finite loss or weights) is recorded as diverged, not retried. The document is
docs/results/leaderboard/leaderboard.md (generated; its verdict and budget block is also written
into the hand-written README.md beside it); presets from it: experiments/leaderboard_presets.py.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import runner
from runner import Baseline, Evaluation, RunFailed, Setting, Study, make_spec, record_path
from search import SearchSpace, search_settings

DATASETS = ("mnist5k", "fashion-mnist")
BASE = {"mnist5k": "mnist5k-quickstart", "fashion-mnist": "fashion-mnist-acmod"}
STEPS = {"mnist5k": 3000, "fashion-mnist": 5000}
CONFIGS = 8          # configurations per method (the tuning budget), configuration 0 the anchor
SEARCH_SEED = 0
NUM_FAKES = 5000
# Targets the issue sets for every class-conditional method's best configuration.
TARGETS = {"mnist5k": {"conditional_accuracy": 0.95, "recall": 0.5},
           "fashion-mnist": {"conditional_accuracy": 0.80, "recall": 0.4}}
# Curves for the evidence: evaluations during training of 1,000 fakes (a private RNG and a copy
# of G: training computes the same with or without them).
CURVES = ("eval.every=500", "eval.metrics=[fid,conditional_accuracy,prdc]", "eval.num_samples=1000")
SERIES = ("eval.fid", "eval.conditional_accuracy", "eval.recall", "eval.precision", "d_loss", "g_loss")
METRICS = ("fid", "intra_fid", "prdc", "conditional_accuracy", "am_score", "clustering")

LAMBDA = {"model.cond_weight": [0.1, 0.25, 0.5, 1.0, 2.0]}
CGP = {"model.cgp_weight": [1.0, 10.0, 30.0], "model.cgp_cls_weight": [0.5, 1.0, 2.0],
       "model.prior_warmup": [0, 1000], "reg.r2": [0.0, 1.0, 10.0]}
CGP_ANCHOR = ("data.unlabeled=true", "model.labeling=classifier", "model.conditioning=ca_inner",
              "model.cgp_groups=1", "model.cgp_categories=10", "model.cgp_cls_weight=1.0", "model.cgp_weight=10.0",
              "model.prior_decay=0.99", "model.prior_warmup=1000", "model.q_width=32", "model.q_lr=2e-4",
              "reg.r2=10.0")


@dataclass(frozen=True)
class Method:
    """A leaderboard entry: the anchor's change from the base preset (`overrides`), its own search
    keys (`own`), the keys its math pins (`fixed`: never drawn), whether it is class-conditional
    (else self-labeled: clustering table) and whether the accuracy target applies."""

    name: str
    overrides: tuple[str, ...]
    own: dict = field(default_factory=dict)
    fixed: tuple[str, ...] = ()
    self_labeled: bool = False
    accuracy_target: bool = True
    note: str = ""


METHODS = {m.name: m for m in (
    Method("concat", ("model.conditioning=concat",), note="naive baseline: the condition concatenated to D's features"),
    Method("ac", ("model.conditioning=ac",), LAMBDA),
    Method("ac_mod", ("model.conditioning=ac_mod",), LAMBDA),
    Method("ac_plus", ("model.conditioning=ac_plus",), LAMBDA),
    Method("ca", ("model.conditioning=ca",)),
    Method("pd", ("model.conditioning=pd",)),
    Method("label", ("model.conditioning=label",), LAMBDA, accuracy_target=False,
           note="G's loss ignores the class: exempt from the accuracy target"),
    Method("am", ("model.conditioning=am",), LAMBDA),
    Method("am-dynamic", ("model.conditioning=am", "model.labeling=dynamic", "model.d_minibatch_std=0"), LAMBDA,
           fixed=("model.d_minibatch_std",),
           note="AM-GAN with dynamic labeling: G unconditional, each fake labeled by D's class head "
                "(no minibatch-stddev: a fake's label must not depend on its batch)"),
    Method("tac", ("model.conditioning=tac",), LAMBDA),
    Method("mh", ("model.conditioning=mh", "model.cond_weight=1.0"), fixed=("model.cond_weight",),
           note="no separate conditioning term: λ stays 1"),
    Method("2c", ("model.conditioning=2c",), {**LAMBDA, "model.cond_temperature": [0.25, 0.5, 0.75, 1.0],
                                              "model.cond_proj_dim": [128, 512]}),
    Method("d2dce", ("model.conditioning=d2dce",), {**LAMBDA, "model.cond_temperature": [0.25, 0.5, 0.75, 1.0],
                                                    "model.cond_margin_pos": [0.9, 0.95, 0.98, 1.0],
                                                    "model.cond_proj_dim": [128, 512]}),
    Method("cgpgan", CGP_ANCHOR + ("model.g_conditioning=concat",), CGP, fixed=("model.g_conditioning",),
           self_labeled=True),
    Method("cgpgan+codebook", CGP_ANCHOR + ("model.g_conditioning=codebook", "model.codebook_groups=1",
                                            "model.codebook_dim=98"),
           {**CGP, "model.codebook_dim": [49, 98, 196]}, fixed=("model.g_conditioning",), self_labeled=True),
    Method("infogan", ("data.unlabeled=true", "model.labeling=infogan", "model.conditioning=none",
                       "model.g_conditioning=concat", "model.info_categories=10", "model.info_continuous=2",
                       "model.info_weight=1.0", "reg.r2=10.0", "model.d_minibatch_std=0"),
           {"model.info_weight": [0.5, 1.0, 2.0], "model.info_continuous": [0, 2], "reg.r2": [0.0, 1.0, 10.0]},
           fixed=("model.g_conditioning", "model.d_minibatch_std"), self_labeled=True),
)}

# Balanced: among configurations 1..n every value of a key appears about equally often; a value
# listed twice (no DiffAugment, no extra regularizer) twice as often.
SPACE = SearchSpace(
    balanced=True,
    shared={
        "loss.adversarial": ["ls", "ns", "hinge"],
        "train.g_lr": [1e-4, 2e-4, 4e-4],
        "train.d_lr": [2e-4, 4e-4, 8e-4],
        "betas": [{"train.g_betas": [0.5, 0.999], "train.d_betas": [0.5, 0.999]},
                  {"train.g_betas": [0.0, 0.9], "train.d_betas": [0.0, 0.9]},
                  {"train.g_betas": [0.5, 0.99], "train.d_betas": [0.5, 0.99]}],
        "train.d_steps": [1, 2],
        "regularizer": [{}, {}, {"reg.r1": 1.0}, {"reg.r1": 10.0}, {"reg.gp": 10.0}],
        "model.d_spectral_norm": [False, True],
        "train.diffaugment": [[], [], ["translation"], ["translation", "cutout"]],
        "train.ema": [0.99, 0.999],
        "model.g_conditioning": ["concat", "cbn"],
        "model.d_minibatch_std": [0, 4],
    },
    per_method={m.name: m.own for m in METHODS.values() if m.own})

CRITERION = (
    "class-conditional methods: the lowest FID among the configurations that meet both targets "
    "(conditional accuracy and recall; `label`: recall only); where none does, the lowest FID among "
    "those meeting the accuracy target; where none does, the lowest FID. Self-labeled methods: the "
    "highest clustering ACC among the configurations meeting the recall target, else the highest ACC. "
    "A diverged configuration is never chosen. The choice reads the screening seed only.")
REAL = "real data (held-out split scored as fakes)"
QUICKSTART = "ac_mod cfg00"   # the anchor of ac_mod on MNIST-5k is today's mnist5k-quickstart


# --------------------------------------------------------------------------- the grid
def method_of(label: str) -> str:
    return label.rsplit(" cfg", 1)[0]


def config_settings(args, ds: str) -> list[Setting]:
    """Every configuration of every chosen method on data set `ds`."""
    chosen = {m: METHODS[m] for m in args.methods}
    methods = {m.name: (BASE[ds], m.overrides + CURVES) for m in chosen.values()}
    return search_settings(methods, SPACE, args.configs, SEARCH_SEED, anchor=True,
                           fixed={m.name: m.fixed for m in chosen.values()}, datasets=(ds,))


def screening_records(args, ds: str, settings: list[Setting]) -> dict[str, dict | None]:
    """label -> the screening record (first seed) of each setting, None when it has not run."""
    out = {}
    for s in settings:
        spec = make_spec(STUDY, args, s, ds, args.seeds[0], [])
        path = record_path(Path(args.docs), spec)
        rec = json.loads(path.read_text()) if path.exists() else None
        out[s.label] = rec if rec is not None and rec.get("identity") == spec.identity else None
    return out


def meets(rec: dict, ds: str, metric: str) -> bool:
    v = rec.get("metrics", {}).get(metric)
    return v is not None and v >= TARGETS[ds][metric]


def choose(method: Method, ds: str, records: dict[str, dict | None]) -> tuple[str | None, str]:
    """(the chosen configuration's label, why) by CRITERION; None while screening is incomplete."""
    missing = [label for label, r in records.items() if r is None]
    if missing:
        return None, f"screening incomplete ({len(missing)} of {len(records)} configurations to run)"
    ok = {label: r for label, r in records.items() if r["metrics"].get("fid") is not None}
    if not ok:
        return None, "every configuration diverged"
    n = len(records)
    if method.self_labeled:
        recall = {k: r for k, r in ok.items() if meets(r, ds, "recall")}
        tiers = [(recall, f"the highest clustering ACC of the {len(recall)} of {n} configurations meeting the "
                          "recall target"),
                 (ok, f"none of the {n} configurations meets the recall target: the highest clustering ACC")]
        score = lambda r: -r["metrics"].get("cluster_acc", -1.0)  # noqa: E731
    else:
        accurate = {k: r for k, r in ok.items() if not method.accuracy_target or meets(r, ds, "conditional_accuracy")}
        both = {k: r for k, r in accurate.items() if meets(r, ds, "recall")}
        targets = "both targets" if method.accuracy_target else "the recall target"
        tiers = [(both, f"the lowest FID of the {len(both)} of {n} configurations meeting {targets}"),
                 (accurate, f"none of the {n} configurations meets both targets: the lowest FID of the "
                            f"{len(accurate)} meeting the accuracy target"),
                 (ok, f"none of the {n} configurations meets the accuracy target: the lowest FID")]
        score = lambda r: r["metrics"]["fid"]  # noqa: E731
    pool, why = next((pool, why) for pool, why in tiers if pool)
    return min(pool, key=lambda k: score(pool[k])), why


def real_data_row(spec, args) -> dict:
    """`condgan evaluate --baseline`: held-out real images scored as fakes, the run's protocol."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        cmd = [sys.executable, "-m", "condgan.cli.main", "evaluate", "--baseline", "--data", spec.group,
               "--num-samples", str(NUM_FAKES), "--metrics", ",".join(m for m in METRICS if m != "clustering"),
               "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=runner.ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"condgan evaluate --baseline failed:\n{proc.stderr[-2000:]}")
        return json.loads(out.read_text())["metrics"]


def choices(args, ds: str, configs: list[Setting]) -> dict[str, tuple[str | None, str]]:
    """method -> (its chosen configuration on `ds` or None, why) from the screening records."""
    out = {}
    for name in args.methods:
        mine = [s for s in configs if method_of(s.label) == name]
        out[name] = choose(METHODS[name], ds, screening_records(args, ds, mine))
    return out


def settings(args) -> list[Setting]:
    """The real-data rows, then per data set the screening rows (first seed) and / or the chosen
    configurations (every seed), as --stage says."""
    out = [Setting(REAL, compute=real_data_row, overrides=(f"num_samples={NUM_FAKES}",), seeds="none")]
    for ds in args.datasets:
        configs = config_settings(args, ds)
        rows = {s.label: _seeded(s, "first") for s in configs} if args.stage in ("screen", "all") else {}
        if args.stage in ("final", "all"):
            final = {label for label, _ in choices(args, ds, configs).values() if label is not None}
            if ds == "mnist5k" and "ac_mod" in args.methods:
                final.add(QUICKSTART)
            rows.update({s.label: _seeded(s, "all") for s in configs if s.label in final})
        out += [rows[s.label] for s in configs if s.label in rows]
    return out


def _seeded(s: Setting, seeds: str) -> Setting:
    return Setting(s.label, s.preset, s.overrides, datasets=s.datasets, seeds=seeds)


# --------------------------------------------------------------------------- diverged runs
DIVERGED = re.compile(r"(loss '[^']+' is \S+ at step (\d+)|weights are not finite at step (\d+)); stopped")


def trainer(spec, run_dir: Path, threads: int) -> dict:
    """The runner's trainer; a run that diverges is a result (recorded once, never retried)."""
    marker = run_dir / "diverged.json"
    if marker.exists():
        return json.loads(marker.read_text())
    try:
        return runner.subprocess_trainer(spec, run_dir, threads)
    except RunFailed as e:
        m = DIVERGED.search(str(e))
        if m is None:
            raise
        info = {"diverged": m.group(1), "diverged_step": int(m.group(2) or m.group(3)), "threads": threads}
        marker.write_text(json.dumps(info) + "\n")
        print(f"diverged: {run_dir.name}: {m.group(1)}", flush=True)
        return info


def evaluator(spec, run_dir: Path, ev, threads: int) -> dict:
    if (run_dir / "diverged.json").exists():
        return {"metrics": {}, "_cpu_s": 0.0}
    return runner.subprocess_evaluator(spec, run_dir, ev, threads)


def measure(run_dir: Path, spec, args) -> dict:
    marker = run_dir / "diverged.json"
    return {"diverged_step": json.loads(marker.read_text())["diverged_step"]} if marker.exists() else {}


# --------------------------------------------------------------------------- the plan
# CPU cost per run, estimated from documented timings, not measured by the plan: the
# fashion-mnist-acmod preset (the nets and batch of both base presets) trained 5,000 steps in
# about 1,100 s on one thread (docs/results/quality/README.md): 0.22 s per generator step.
CPU_S_PER_STEP = 0.22
D_STEP_SHARE = 0.5   # assumed share of a step spent on D's update: each extra D step adds it
EVAL_CPU_S = 120.0   # assumed: the final evaluation (5,000 fakes, every metric) and the curves' evaluations


def run_cost_s(spec) -> float:
    """Estimated CPU seconds of one run (training at one thread plus its evaluations)."""
    d_steps = next((int(o.split("=", 1)[1]) for o in reversed(spec.overrides) if o.startswith("train.d_steps=")), 1)
    return spec.steps * CPU_S_PER_STEP * (1 + D_STEP_SHARE * (d_steps - 1)) + EVAL_CPU_S


def plan(args) -> dict[str, dict[str, float]]:
    """Per data set: the screening and final runs of the study and how many have records, and the
    estimated CPU seconds of those still to run. A method whose screening is incomplete has no
    chosen configuration yet: its final runs are counted at the mean cost of its configurations.
    Trains nothing."""
    run = runner.Runner(STUDY, args, trainer, evaluator)
    out = {}
    for ds in args.datasets:
        configs = config_settings(args, ds)
        screen = [make_spec(STUDY, args, s, ds, args.seeds[0], []) for s in configs]
        chosen = {m: label for m, (label, _) in choices(args, ds, configs).items()}
        if ds == "mnist5k" and "ac_mod" in args.methods and chosen.get("ac_mod") != QUICKSTART:
            chosen["ac_mod (quickstart)"] = QUICKSTART
        final, unknown_s = [], 0.0
        for m, label in chosen.items():
            if label is None:
                mine = [sp for sp, s in zip(screen, configs) if method_of(s.label) == m]
                unknown_s += (len(args.seeds) - 1) * sum(map(run_cost_s, mine)) / len(mine)
                continue
            setting = next(s for s in configs if s.label == label)
            final += [make_spec(STUDY, args, setting, ds, seed, []) for seed in args.seeds[1:]]
        done = {k: sum(run.cached(sp) is not None for sp in v) for k, v in (("screen", screen), ("final", final))}
        todo = [sp for sp in screen + final if run.cached(sp) is None]
        out[ds] = {"steps": STUDY.steps_for(ds, args), "screen": len(screen), "screen_done": done["screen"],
                   "final": len(final) + (len(args.seeds) - 1) * sum(v is None for v in chosen.values()),
                   "final_done": done["final"], "cpu_s": sum(map(run_cost_s, todo)) + unknown_s}
    return out


def print_plan(args) -> int:
    rows = plan(args)
    print(f"leaderboard plan: {len(args.methods)} methods, {args.configs} configurations per method and data set "
          f"(the tuning budget, equal for every method), screening on seed {args.seeds[0]}, the chosen configuration "
          f"on seeds {' '.join(map(str, args.seeds))}")
    print(f"{'data set':15} {'steps':>6} {'screening runs (done)':>22} {'final runs (done)':>18} {'CPU-hours to run':>17}")
    for ds, r in rows.items():
        print(f"{ds:15} {r['steps']:>6} {r['screen']:>15} ({r['screen_done']:>4}) {r['final']:>11} ({r['final_done']:>4})"
              f" {r['cpu_s'] / 3600:>17.1f}")
    total = sum(r["cpu_s"] for r in rows.values()) / 3600
    print(f"total: {sum(r['screen'] + r['final'] for r in rows.values())} runs, about {total:.0f} CPU-hours still to "
          f"run (estimate: {CPU_S_PER_STEP} s per generator step at one thread, +{D_STEP_SHARE:.0%} per extra D step, "
          f"{EVAL_CPU_S:.0f} s of evaluation per run); about {total / 2:.0f} hours on 2 cores with --workers 2")
    return 0


# --------------------------------------------------------------------------- command line
def add_arguments(ap) -> None:
    ap.add_argument("--stage", choices=("screen", "final", "all"), default="all",
                    help="screen: every configuration, first seed; final: the chosen configuration per method "
                         "on every seed; all: both (default)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                    help=f"a subset of the methods ({', '.join(METHODS)})")
    ap.add_argument("--configs", type=int, default=CONFIGS,
                    help=f"configurations per method, the tuning budget (default {CONFIGS}); configuration i is "
                         "the same for any budget ≥ i + 1, so a larger budget reuses the smaller one's runs")
    ap.add_argument("--plan", action="store_true",
                    help="print the runs of the study (screening and final, how many have records) and an estimate of "
                         "the CPU time still to spend, then exit; trains nothing")
    ap.add_argument("--smoke", action="store_true",
                    help="train every configuration of the grid for 2 steps with tiny nets (in this process, "
                         "nothing recorded) to catch a configuration that cannot run, then exit")


def document_grid(args):
    """The document covers every method, data set and stage recorded, whatever this invocation ran."""
    import copy

    full = copy.copy(args)
    full.stage, full.methods, full.datasets = "all", list(METHODS), list(DATASETS)
    return full


def report(ctx) -> list[str]:
    from leaderboard_report import document

    return document(ctx, sys.modules[__name__])


def smoke(args) -> int:
    """Train every distinct configuration of the grid for 2 steps with tiny nets (and evaluate it
    on 20 fakes): a configuration that validation accepts but that cannot run shows up here, before
    any CPU-hour is spent. Nothing is recorded."""
    import tempfile

    from condgan.api import evaluate_run, train
    from condgan.validation import load_config

    args.stage = "screen"
    tiny = ["model.g_width=8", "model.d_width=8", "model.q_width=8", "model.cond_proj_dim=16",
            "train.batch_size=16", "train.steps=2", "train.checkpoint_every=2", "train.log_every=1",
            "train.sample_every=0", "train.standing_stats=1", "eval.every=0", "train.threads=1"]
    seen, failed = set(), []
    for spec in runner.build_grid(STUDY, args):
        if spec.preset is None:
            continue
        body = tuple(o for o in spec.overrides if not o.startswith(("seed=", "train.steps=")))
        if body in seen:
            continue
        seen.add(body)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                train(load_config(spec.preset, list(body) + tiny), Path(tmp) / "run")
                evaluate_run(Path(tmp) / "run", num_samples=20, metrics=list(METRICS))
            print(f"ok      {spec.group} {spec.setting}", flush=True)
        except Exception as e:  # noqa: BLE001 — every configuration is tried, failures listed at the end
            failed.append(f"{spec.group} {spec.setting}: {type(e).__name__}: {e}")
            print(f"FAILED  {failed[-1]}", flush=True)
    print(f"{len(seen) - len(failed)} of {len(seen)} configurations ran" + "".join(f"\n  {f}" for f in failed))
    return 1 if failed else 0


STUDY = Study(
    name="leaderboard", title="Leaderboard: every conditioning method at its best, equal tuning budgets",
    settings=settings, steps=dict(STEPS), seeds=(0, 1, 2), datasets=DATASETS,
    evaluation=Evaluation(METRICS, num_samples=NUM_FAKES), series=SERIES, measure=measure,
    identity_config=True, document_grid=document_grid, report=report, add_arguments=add_arguments, doc="leaderboard",
    description=__doc__,
    baseline=Baseline(QUICKSTART, ("fid", "recall", "conditional_accuracy"), learned_metric="conditional_accuracy",
                      at_least={ds: t["conditional_accuracy"] for ds, t in TARGETS.items()}),
)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _, args = runner.parse({"leaderboard": STUDY}, argv)
    if args.plan:
        return print_plan(args)
    if args.smoke:
        return smoke(args)
    if args.stage == "all" and not (args.list or args.report_only):
        # the final stage's grid is chosen from the screening records: screen first, then build it
        rc = runner.main(STUDY, argv + ["--stage", "screen"], trainer=trainer, evaluator=evaluator)
        if rc != 0:
            return rc
        return runner.main(STUDY, argv + ["--stage", "final"], trainer=trainer, evaluator=evaluator)
    return runner.main(STUDY, argv, trainer=trainer, evaluator=evaluator)


if __name__ == "__main__":
    import os

    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
