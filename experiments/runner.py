"""The shared experiment driver. A study (one small file in experiments/) declares its settings,
data sets, seeds, step budget, evaluation and the claims it tests; this module

1. expands the grid (setting × data set × seed) into `RunSpec`s,
2. trains each run as a `condgan train PRESET --set ...` subprocess of this checkout's condgan
   (`train.threads=1` per worker by default; `--workers` runs in parallel), then evaluates its final
   generator with `condgan evaluate` and the study's own measurements,
3. writes one compact JSON per finished run to docs/results/<study>/runs/<key>.json (setting,
   data set, seed, steps, preset and overrides, resolved config, every metric, kept training
   series, wall and CPU time, commit) — committed, and skipped on every later invocation, so a
   later session adds seeds, data sets or a larger budget without redoing the rest,
4. builds the document (report.py) from those JSON files alone: verdicts first (stats.py), budget
   and the baseline's reached quality, tables, figures; and prints the CPU time it used.

A run's key is readable (part, data set, setting, steps, seed) plus a hash of everything that
changes its result (preset, overrides, evaluation, the study's cache version); the number of
training threads is not part of it. See experiments/README.md for how to add a study.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import functools
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
# In-process measurements (the MoG's W1, k-means baselines) import this checkout's condgan, as the
# subprocesses (run from ROOT) do, not whichever copy is installed.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORD_FORMAT = 1
# Resource settings that do not change what a run computes (beyond float summation order).
NOT_IDENTITY = ("train.threads", "train.tune_malloc")


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Setting:
    """One row of a study: a preset plus overrides, or `compute` (a measured reference such as
    k-means or real data, no training) called as compute(spec, args) -> {metric: value}.
    `datasets`: only these of the study's data sets. `seeds`: 'all', 'first' (one run, the first
    seed: e.g. a figure) or 'none' (one run that does not depend on the seed). `follows`: run
    whenever that setting is chosen with --settings (a variant that only makes sense beside it).
    Settings with `compute` always run."""

    label: str
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    compute: Callable | None = None
    datasets: tuple[str, ...] | None = None
    seeds: str = "all"
    follows: str | None = None

    def __post_init__(self):
        if (self.preset is None) == (self.compute is None):
            raise ValueError(f"setting '{self.label}': give exactly one of preset or compute")
        if self.seeds not in ("all", "first", "none"):
            raise ValueError(f"setting '{self.label}': seeds must be all, first or none")


@dataclass(frozen=True)
class Evaluation:
    """`condgan evaluate RUN` of each finished run's final (EMA) generator. real_split None: the
    run's own eval.real_split. keep_per_class: also keep per-class entries ('intra_fid/3'); the
    other entries (e.g. the AM Score's terms 'am_score/kl') are always kept."""

    metrics: tuple[str, ...]
    num_samples: int
    seed: int = 0
    real_split: str | None = None
    standing_stats: int | None = None
    keep_per_class: bool = False


@dataclass(frozen=True)
class Claim:
    """A paper's claim as a comparison: mean(a) - mean(b) of `metric` is claimed 'higher' (> 0) or
    'lower' (< 0); b is a setting or a fixed value. `groups`: the data sets it is tested on
    (default: every one where both ran). `source`: where the paper says it."""

    text: str
    metric: str
    a: str
    b: str | float
    claimed: str
    groups: tuple[str, ...] | None = None
    method: str = "welch"
    source: str = ""

    def __post_init__(self):
        if self.claimed not in ("higher", "lower"):
            raise ValueError(f"claim '{self.text}': claimed must be higher or lower")


@dataclass(frozen=True)
class Baseline:
    """The setting whose quality must be reported first, and the level at which it has learned
    (e.g. conditional accuracy >= 0.9): below it the verdicts do not test the paper. The bounds
    are numbers or {data set: number}."""

    setting: str
    metrics: tuple[str, ...] = ("fid", "conditional_accuracy")
    learned_metric: str | None = None
    at_least: float | dict[str, float] | None = None
    at_most: float | dict[str, float] | None = None


@dataclass
class Study:
    """A study's declaration; see experiments/README.md. `settings` may be a callable(args) when
    the study's own options choose them. `options(args)` returns extra overrides for every run.
    `measure(run_dir, spec, args)` adds metrics computed from a finished run directory; the study's
    own options it reads belong in `identity_args` (they then change the runs' keys). `report(ctx)`
    returns extra document sections (figures, custom tables)."""

    name: str
    title: str
    settings: Sequence[Setting] | Callable[[argparse.Namespace], Sequence[Setting]]
    steps: int | dict[str, int]
    seeds: tuple[int, ...] = (0, 1, 2)
    datasets: tuple[str | None, ...] = (None,)
    dataset_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    evaluation: Evaluation | Callable[[argparse.Namespace], Evaluation | None] | None = None
    series: tuple[str, ...] = ()
    measure: Callable | None = None
    claims: tuple[Claim, ...] = ()
    baseline: Baseline | None = None
    table_metrics: tuple[str, ...] | None = None
    report: Callable | None = None
    part: str | None = None
    doc: str | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    options: Callable[[argparse.Namespace], list[str]] | None = None
    identity_args: tuple[str, ...] = ()
    workers: int = 1
    cache_version: str = "1"
    description: str = ""
    document_grid: Callable[[argparse.Namespace], argparse.Namespace] | None = None
    """The arguments of the grid the document is built from when it is more than this
    invocation's (e.g. every method and stage of a study run in parts): `document_grid(args)`."""
    identity_config: bool = False
    """Key each run by its resolved config too (a hash of `load_config(preset, overrides)`
    without description and the NOT_IDENTITY keys), so a changed default or preset value makes
    a new run instead of reusing a record trained with the old one."""

    @property
    def doc_name(self) -> str:
        return self.doc or self.part or "tables"

    def steps_for(self, dataset: str | None, args: argparse.Namespace | None = None) -> int:
        """The step budget of a data set's runs: `--steps` when given, else `steps` (a number, or
        {data set: number} when the data sets need different budgets)."""
        given = getattr(args, "steps", None)
        if given is not None:
            return given
        if isinstance(self.steps, dict):
            return self.steps[dataset or ""]
        return self.steps


@dataclass(frozen=True)
class RunSpec:
    study: str
    part: str | None
    setting: str
    group: str  # the data set (or '' when the study runs on the presets' own data)
    seed: int | None
    steps: int | None
    preset: str | None
    overrides: tuple[str, ...]
    identity: str  # canonical JSON of what decides the result

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.identity.encode()).hexdigest()[:8]

    @property
    def key(self) -> str:
        parts = [self.part, self.group, self.setting, f"{self.steps}st" if self.steps else None,
                 f"s{self.seed}" if self.seed is not None else None]
        slug = re.sub(r"[^a-z0-9.]+", "-", "-".join(p for p in parts if p).lower().replace("+", "p")).strip("-")
        return f"{slug}-{self.digest}"

    @property
    def train_key(self) -> str:
        """The run directory's name: the key without the evaluation's part of the identity."""
        ident = json.loads(self.identity)
        ident.pop("evaluation", None)
        ident.pop("cache_version", None)
        return self.key.rsplit("-", 1)[0] + "-" + hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]


# --------------------------------------------------------------------------- the grid
def _identity_overrides(overrides: Sequence[str]) -> list[str]:
    return [o for o in overrides if o.split("=", 1)[0].strip() not in NOT_IDENTITY]


def build_grid(study: Study, args: argparse.Namespace) -> list[RunSpec]:
    settings = study.settings(args) if callable(study.settings) else study.settings
    chosen = getattr(args, "settings", None)
    if chosen:
        unknown = [c for c in chosen if c not in {s.label for s in settings}]
        if unknown:
            raise SystemExit(f"error: unknown setting(s) {unknown}; choose from {[s.label for s in settings]}")
        settings = [s for s in settings if s.label in chosen or s.follows in chosen or s.compute is not None]
    datasets = getattr(args, "datasets", None) or list(study.datasets)
    extra = list(study.options(args)) if study.options else []
    specs = []
    for ds in datasets:
        for s in settings:
            if s.datasets is not None and ds not in s.datasets:
                continue
            seeds = {"all": list(args.seeds), "first": list(args.seeds[:1]), "none": [None]}[s.seeds]
            for seed in seeds:
                specs.append(make_spec(study, args, s, ds, seed, extra))
    return specs


def make_spec(study: Study, args, s: Setting, ds: str | None, seed: int | None, extra: list[str]) -> RunSpec:
    if s.compute is not None:
        overrides = tuple(s.overrides)
        identity = {"compute": s.compute.__qualname__, "params": list(overrides), "data": ds, "seed": seed,
                    "cache_version": study.cache_version}
        steps = None
    else:
        data = [f"data.name={ds}"] if ds else []
        steps = study.steps_for(ds, args)
        overrides = tuple(data + list(study.dataset_overrides.get(ds or "", ())) + list(study.overrides)
                          + list(s.overrides) + extra + [f"train.steps={steps}"]
                          + ([f"seed={seed}"] if seed is not None else []) + list(args.overrides))
        ev = _evaluation(study, args)
        identity = {"preset": s.preset, "overrides": _identity_overrides(overrides),
                    "evaluation": ev and dataclasses.asdict(ev), "cache_version": study.cache_version}
        if study.measure is not None:
            identity["measure"] = {"num_samples": getattr(args, "num_samples", None),
                                   **{a: getattr(args, a) for a in study.identity_args}}
        if study.identity_config:
            identity["config"] = resolved_config_digest(s.preset, overrides)
    return RunSpec(study.name, study.part, s.label, ds or "", seed, steps, s.preset, overrides,
                   json.dumps(identity, sort_keys=True))


def resolved_config_digest(preset: str, overrides) -> str:
    """A hash of the validated config a run would train with (description and the NOT_IDENTITY
    keys left out): what `Study.identity_config` adds to a run's identity."""
    return _config_digest(preset, tuple(_identity_overrides(overrides)))


@functools.lru_cache(maxsize=None)
def _config_digest(preset: str, overrides: tuple[str, ...]) -> str:
    from condgan.validation import load_config

    cfg = load_config(_preset_source(preset), list(overrides)).to_dict()
    cfg.pop("description", None)
    for key in NOT_IDENTITY:  # how fast a run computes, not what
        section, name = key.split(".")
        cfg[section].pop(name, None)
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def _preset_source(preset: str) -> dict:
    """The preset's YAML, read once (load_config copies a dict source before applying overrides)."""
    from condgan.config import read_config_source

    return read_config_source(preset)


def _evaluation(study: Study, args) -> Evaluation | None:
    ev = study.evaluation(args) if callable(study.evaluation) else study.evaluation
    if ev is None or getattr(args, "num_samples", None) in (None, ev.num_samples):
        return ev
    return dataclasses.replace(ev, num_samples=args.num_samples)


# --------------------------------------------------------------------------- running
def _rel(path: Path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def train_command(spec: RunSpec, run_dir: Path) -> list[str]:
    cmd = ["condgan", "train", spec.preset, "--out", _rel(run_dir), "--no-progress"]
    for o in spec.overrides:
        cmd += ["--set", o]
    return cmd


def show(cmd: list[str]) -> str:
    return " ".join(a if re.fullmatch(r"[\w.,=/:+\-\[\]@]+", a) else f"'{a}'" for a in cmd)


def run_subprocess(argv: list[str], log: Path, threads: int) -> tuple[int, float, float]:
    """Run `python -m condgan.cli.main ARGV` from the checkout, output to `log`; returns (exit
    status, wall seconds, CPU seconds of the child: user + system from wait4)."""
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS=str(threads))
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "condgan.cli.main", *argv], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.time() - t0, usage.ru_utime + usage.ru_stime


class RunFailed(RuntimeError):
    pass


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def subprocess_trainer(spec: RunSpec, run_dir: Path, threads: int) -> dict:
    """Train (or resume) the run; skipped when the run directory already holds a finished run."""
    done = run_dir / "runner_done.json"
    if done.exists() and (run_dir / "checkpoints" / "last.pt").exists():
        return json.loads(done.read_text())
    resumed = (run_dir / "checkpoints" / "last.pt").exists()
    argv = train_command(spec, run_dir)[1:] + ["--set", f"train.threads={threads}"]
    log = run_dir.with_name(run_dir.name + ".train.log")
    rc, wall, cpu = run_subprocess(argv, log, threads)
    if rc != 0:
        raise RunFailed(f"{show(['condgan'] + argv)} failed (exit {rc}; log {_rel(log)}):\n{_tail(log)}")
    info = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "threads": threads, "resumed": resumed}
    done.write_text(json.dumps(info) + "\n")
    print(f"[{wall:7.1f} s wall, {cpu:7.1f} s CPU] trained {run_dir.name}", flush=True)
    return info


def _run_config(run_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())


def subprocess_evaluator(spec: RunSpec, run_dir: Path, ev: Evaluation, threads: int) -> dict:
    """`condgan evaluate RUN ...` in a subprocess, cached in RUN/eval-<hash>.json; returns the
    evaluator's JSON plus the CPU seconds it took (0 when cached)."""
    tag = hashlib.sha1(json.dumps(dataclasses.asdict(ev), sort_keys=True).encode()).hexdigest()[:8]
    out = run_dir / f"eval-{tag}.json"
    cpu = 0.0
    if not out.exists():
        split = ev.real_split or (_run_config(run_dir).get("eval") or {}).get("real_split", "test")
        argv = ["evaluate", str(run_dir), "--metrics", ",".join(ev.metrics), "--num-samples", str(ev.num_samples),
                "--seed", str(ev.seed), "--real-split", split, "--out", str(out) + ".tmp"]
        argv += ["--standing-stats", str(ev.standing_stats)] if ev.standing_stats is not None else []
        log = run_dir / f"eval-{tag}.log"
        rc, _, cpu = run_subprocess(argv, log, threads)
        if rc != 0:
            raise RunFailed(f"condgan {' '.join(argv)} failed (exit {rc}):\n{_tail(log)}")
        os.replace(str(out) + ".tmp", out)
    result = json.loads(out.read_text())
    result["_cpu_s"] = cpu
    return result


def read_series(run_dir: Path, patterns: Sequence[str]) -> dict[str, list[list[float]]]:
    """Kept training series from metrics.jsonl: 'eval.KEY' patterns match evaluations during
    training, other patterns per-interval log keys (fnmatch: 'prior_g0_*')."""
    out: dict[str, list[list[float]]] = {}
    path = run_dir / "metrics.jsonl"
    if not patterns or not path.exists():
        return out
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        step = rec.get("step")
        items = [(k, v) for k, v in rec.items() if k not in ("step", "eval")]
        items += [(f"eval.{k}", v) for k, v in (rec.get("eval") or {}).items()]
        for k, v in items:
            if isinstance(v, (int, float)) and any(fnmatch.fnmatchcase(k, p) for p in patterns):
                out.setdefault(k, []).append([step, round(float(v), 6)])
    return out


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "condgan"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _round(v):
    return round(v, 6) if isinstance(v, float) else v


def record_path(results_dir: Path, spec: RunSpec) -> Path:
    return results_dir / "runs" / f"{spec.key}.json"


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


class Runner:
    """Runs a study's grid; `trainer(spec, run_dir, threads)` and `evaluator(spec, run_dir,
    evaluation, threads)` are the subprocess ones unless a test passes fakes."""

    def __init__(self, study: Study, args: argparse.Namespace, trainer=subprocess_trainer,
                 evaluator=subprocess_evaluator):
        self.study, self.args = study, args
        self.trainer, self.evaluator = trainer, evaluator
        self.results_dir = Path(args.docs)
        self.runs_dir = Path(args.runs)
        self.commit = git_commit()
        self.settings = {s.label: s for s in (study.settings(args) if callable(study.settings) else study.settings)}
        self.written = 0

    def run_dir(self, spec: RunSpec) -> Path:
        return self.runs_dir / spec.train_key

    def cached(self, spec: RunSpec) -> dict | None:
        path = record_path(self.results_dir, spec)
        if not path.exists():
            return None
        rec = json.loads(path.read_text())
        return rec if rec.get("identity") == spec.identity else None

    def run_one(self, spec: RunSpec) -> dict:
        rec = self.cached(spec)
        if rec is not None:
            return rec
        base = {"format": RECORD_FORMAT, "study": spec.study, "part": spec.part, "setting": spec.setting,
                "group": spec.group, "seed": spec.seed, "steps": spec.steps, "key": spec.key,
                "identity": spec.identity, "commit": self.commit,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        setting = self.settings[spec.setting]
        if setting.compute is not None:
            t0, c0 = time.time(), time.thread_time()
            metrics = setting.compute(spec, self.args)
            rec = {**base, "dataset": spec.group or None, "compute": setting.label, "params": list(spec.overrides),
                   "metrics": {k: _round(v) for k, v in metrics.items()},
                   "wall_s": round(time.time() - t0, 1), "cpu_s": round(time.thread_time() - c0, 1)}
        else:
            rec = self._train_and_measure(spec, base)
        write_json_atomic(record_path(self.results_dir, spec), rec)
        self.written += 1
        return rec

    def _train_and_measure(self, spec: RunSpec, base: dict) -> dict:
        run_dir = self.run_dir(spec)
        info = self.trainer(spec, run_dir, self.args.threads)
        config = _run_config(run_dir) if (run_dir / "config.yaml").exists() else {}
        metrics, evaluation, eval_cpu = {}, None, 0.0
        ev = _evaluation(self.study, self.args)
        if ev is not None:
            result = self.evaluator(spec, run_dir, ev, self.args.threads)
            eval_cpu = result.get("_cpu_s", 0.0)
            metrics = {k: _round(v) for k, v in result["metrics"].items()
                       if ev.keep_per_class or not k.rpartition("/")[2].isdigit()}  # 'intra_fid/3': per class
            evaluation = {**dataclasses.asdict(ev), "extractor": result.get("extractor"),
                          "extractor_test_accuracy": result.get("extractor_test_accuracy"),
                          "real_split": result.get("real_split", ev.real_split), "step": result.get("step"),
                          "skipped_metrics": result.get("skipped_metrics")}
        extra = {}
        if self.study.measure is not None:  # scalars are metrics; lists (e.g. a histogram) go to `extra`
            for k, v in self.study.measure(run_dir, spec, self.args).items():
                (extra if isinstance(v, (list, tuple)) else metrics)[k] = _round(v)
        return {**base, "dataset": (config.get("data") or {}).get("name", spec.group or None),
                "method": (config.get("model") or {}).get("conditioning"), "preset": spec.preset,
                "overrides": list(spec.overrides), "command": show(train_command(spec, run_dir)),
                "wall_s": info.get("wall_s"), "cpu_s": info.get("cpu_s"), "eval_cpu_s": round(eval_cpu, 1),
                "threads": info.get("threads"), "resumed": info.get("resumed", False),
                "evaluation": evaluation, "metrics": metrics,
                "series": read_series(run_dir, self.study.series), "extra": extra, "config": config}

    def run_grid(self, specs: list[RunSpec], workers: int) -> tuple[list[dict], list[str]]:
        records: dict[str, dict] = {}
        failures: list[str] = []

        def job(spec):
            try:
                records[spec.key] = self.run_one(spec)
            except Exception as e:  # noqa: BLE001 — every failure is reported, the other runs go on
                failures.append(f"{spec.key}: {e}")

        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(job, specs))
        return [records[s.key] for s in specs if s.key in records], failures


# --------------------------------------------------------------------------- command line
def add_arguments(ap: argparse.ArgumentParser, study: Study) -> None:
    num = study.evaluation.num_samples if isinstance(study.evaluation, Evaluation) else None
    ap.add_argument("--seeds", nargs="+", type=int, default=list(study.seeds))
    default = (", ".join(f"{k}: {v}" for k, v in study.steps.items()) if isinstance(study.steps, dict)
               else study.steps)
    ap.add_argument("--steps", type=int, default=None, help=f"generator steps per run (default {default})")
    ap.add_argument("--num-samples", type=int, default=num, help="fakes per evaluation")
    if len([d for d in study.datasets if d]) > 0:
        ap.add_argument("--datasets", nargs="+", default=list(study.datasets))
    ap.add_argument("--settings", nargs="+", default=None, help="only these settings (labels)")
    ap.add_argument("--workers", type=int, default=study.workers, help="runs trained in parallel")
    ap.add_argument("--threads", type=int, default=1, help="train.threads of every run (default 1)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for every run (e.g. model.g_width=16); repeatable")
    ap.add_argument("--runs", default=str(ROOT / "runs" / study.name), help="where run directories go (git-ignored)")
    ap.add_argument("--docs", default=str(RESULTS / study.name), help="the study's results folder")
    ap.add_argument("--doc", default=study.doc_name, help="name of the generated document (DOC.md)")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: build the document from the committed run records")
    ap.add_argument("--list", action="store_true", help="print the grid (cached / to run) and exit")
    if study.add_arguments:
        study.add_arguments(ap)


def parse(studies: dict[str, Study], argv=None) -> tuple[Study, argparse.Namespace]:
    """One study, or several parts chosen by the first argument (`seed004.py mog ...`)."""
    if len(studies) == 1:
        study = next(iter(studies.values()))
        ap = argparse.ArgumentParser(description=study.description or study.title,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(ap, study)
        return study, _default_steps(study, ap.parse_args(argv))
    ap = argparse.ArgumentParser(description=next(iter(studies.values())).description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    for name, study in studies.items():
        add_arguments(sub.add_parser(name, help=study.title.replace("%", "%%")), study)
    args = ap.parse_args(argv)
    return studies[args.part], _default_steps(studies[args.part], args)


def _default_steps(study: Study, args: argparse.Namespace) -> argparse.Namespace:
    """`args.steps` is the study's single budget unless given; it stays None for a study whose
    budget differs per data set (then `Study.steps_for` picks each data set's)."""
    if args.steps is None and not isinstance(study.steps, dict):
        args.steps = study.steps
    return args


def cpu_line(t0: float, c0: float, children0: float) -> str:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = children.ru_utime + children.ru_stime - children0
    return (f"CPU time: {child:.0f} s in training / evaluation subprocesses, {time.process_time() - c0:.0f} s in "
            f"this driver (in-process measurements included); wall {time.time() - t0:.0f} s")


def main(studies: Study | dict[str, Study], argv=None, trainer=subprocess_trainer,
         evaluator=subprocess_evaluator) -> int:
    from report import write_document

    t0, c0 = time.time(), time.process_time()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    children0 = ru.ru_utime + ru.ru_stime
    if isinstance(studies, Study):
        studies = {studies.part or studies.name: studies}
    study, args = parse(studies, argv)
    specs = build_grid(study, args)
    runner = Runner(study, args, trainer, evaluator)
    if args.list:
        for s in specs:
            state = "done" if runner.cached(s) else "to run"
            print(f"{state:7} {s.key}  {show(train_command(s, runner.run_dir(s))) if s.preset else s.setting}")
        print(f"{sum(runner.cached(s) is not None for s in specs)} of {len(specs)} runs have records")
        return 0
    failures: list[str] = []
    if args.report_only:
        records = [r for r in map(runner.cached, specs) if r is not None]
    else:
        records, failures = runner.run_grid(specs, args.workers)
    missing = [s for s in specs if s.key not in {r["key"] for r in records}]
    if failures:
        print("\n".join(["failed runs (their records were not written):"] + failures), file=sys.stderr)
        print(cpu_line(t0, c0, children0))
        return 1
    written = runner.written
    if study.document_grid is not None:  # the document covers every record of the larger grid
        args = study.document_grid(args)
        specs = build_grid(study, args)
        runner = Runner(study, args, trainer, evaluator)
        records = [r for r in map(runner.cached, specs) if r is not None]
        missing = [s for s in specs if s.key not in {r["key"] for r in records}]
        runner.written = written
    ok = write_document(study, args, specs, records, missing, runner)
    print(f"{runner.written} run records written now, {len(records) - runner.written} reused, {len(missing)} missing")
    print(cpu_line(t0, c0, children0))
    return 0 if ok else 1


def run_main(studies) -> None:
    """The entry point of a study file."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(studies))
