"""Mutation check of the method, regularizer and augmentation code: does the test suite notice
when the math is broken?

    .venv/bin/python scripts/mutation_check.py --out docs/results/mutation/runs.json   # run (resumable)
    .venv/bin/python scripts/mutation_check.py --list                                  # list the mutants
    .venv/bin/python scripts/mutation_check.py --out F --only ID [ID ...]              # re-run some

Mutants. Every target module (TARGETS) is parsed, and inside each function (except config
validation, EXCLUDED_FUNCTIONS, whose refusals the config tests cover) one small change is made
at a time, by AST operators: + ↔ −, × ↔ ÷, // → /, ** → ×, += ↔ −=; < ↔ ≤, > ↔ ≥, == ↔ !=,
in ↔ not in, is ↔ is not; an integer n → n + 1, a float f → 2f (0 → 1; magnitudes below 1e-6, the
stability epsilons, are left alone); unary minus and `not` dropped; True ↔ False; `.detach()`
dropped; `.mean(` ↔ `.sum(`; an `if` condition negated. Docstrings and strings are never touched.
EXPLICIT adds hand-written mutants: the survivors an independent review found (they must stay
killed), including three in the training loop's DiffAugment wiring.

Running. The repository is copied to a temporary directory once; each mutant is written into the
copy (the working tree is never modified) and only the test files that exercise the mutated
module run, fast files first, with `pytest -x` and a per-mutant timeout, in a child forked from a
parent that has imported torch and the other heavy dependencies once (never condgan). A mutant is killed when
the tests fail (or time out), survives when they pass. The unmutated copy must pass the same
tests first. Results go to one JSON file, one entry per mutant, written after every mutant, so an
interrupted run resumes where it stopped: a finished mutant is skipped while the file it mutates
is unchanged (each entry keeps the file's hash; entries of changed files, or of mutants that no
longer exist, are dropped and re-run). `--rerun-survivors` runs the survivors again (after tests
were added).
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT
"""Where mutants are generated from and mutated: the repository for --list, the run's private copy
when running (so that edits to the working tree during a long run change nothing)."""

# Module → the test files that exercise it, fastest first (with -x a killed mutant stops early).
CONDITIONING_TESTS = ["tests/test_losses.py", "tests/test_conditioning_methods.py", "tests/test_regularizers.py",
                      "tests/test_cgpgan.py", "tests/test_labeling.py", "tests/test_composed_conditioning.py"]
TARGETS = {
    "condgan/losses/adversarial.py": ["tests/test_losses.py", "tests/test_conditioning_methods.py",
                                      "tests/test_regularizers.py"],
    "condgan/losses/regularizers.py": ["tests/test_regularizers.py", "tests/test_augment.py", "tests/test_cgpgan.py"],
    "condgan/losses/cgp.py": ["tests/test_cgpgan.py", "tests/test_infogan.py", "tests/test_cluster.py"],
    "condgan/losses/conditioning/base.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/auxiliary.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/concat.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/conditional_activation.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/contrastive.py": CONDITIONING_TESTS + ["tests/test_distributed.py"],
    "condgan/losses/conditioning/label.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/multi_hinge.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/projection.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/unconditional.py": CONDITIONING_TESTS,
    "condgan/losses/conditioning/adc.py": ["tests/test_adc.py"] + CONDITIONING_TESTS,
    "condgan/losses/conditioning/composed.py": ["tests/test_composed_conditioning.py"] + CONDITIONING_TESTS,
    "condgan/losses/bigan.py": ["tests/test_bigan.py"],
    "condgan/losses/lecam.py": ["tests/test_lecam.py", "tests/test_step.py"],
    "condgan/losses/path_length.py": ["tests/test_style_regularization.py", "tests/test_stylegan2_training.py"],
    "condgan/augment.py": ["tests/test_augment.py"],
    # the labeling modes (condgan/training/labeling/, one module per mode)
    "condgan/training/labeling/base.py": ["tests/test_labeling.py", "tests/test_cgpgan.py", "tests/test_infogan.py",
                                          "tests/test_sampling.py", "tests/test_cluster.py"],
    "condgan/training/labeling/categorical.py": ["tests/test_cgpgan.py", "tests/test_infogan.py",
                                                 "tests/test_sampling.py", "tests/test_cluster.py",
                                                 "tests/test_codebook.py", "tests/test_labeling.py"],
    "condgan/training/labeling/classifier.py": ["tests/test_cgpgan.py", "tests/test_cluster.py",
                                                "tests/test_sampling.py", "tests/test_labeling.py"],
    "condgan/training/labeling/dynamic.py": ["tests/test_labeling.py", "tests/test_sampling.py", "tests/test_cluster.py"],
    "condgan/training/labeling/infogan.py": ["tests/test_infogan.py", "tests/test_cluster.py"],
    "condgan/training/labeling/predefined.py": ["tests/test_labeling.py", "tests/test_conditioning_methods.py",
                                                "tests/test_training.py"],
    "condgan/training/labeling/random_categories.py": ["tests/test_infogan.py", "tests/test_codebook.py",
                                                       "tests/test_labeling.py"],
}
CLASSIFIER = "condgan/training/labeling/classifier.py"
# Config validation: which settings are refused, with which message (covered by the config tests).
EXCLUDED_FUNCTIONS = {"check", "check_groups", "check_groups_range", "labels_needed", "batch_coupled_predictor"}
TINY_FLOAT = 1e-6


@dataclass
class Explicit:
    id: str
    file: str
    old: str
    new: str
    what: str
    tests: list[str]


def in_classifier(id: str, old: str, new: str, what: str) -> Explicit:
    """A hand-written mutant of CGPGAN's labeling mode, run against that module's tests."""
    return Explicit(id, CLASSIFIER, old, new, what, TARGETS[CLASSIFIER])


# The review's survivors (issue 16), as code changes on this version.
EXPLICIT = [
    Explicit("review:cr-adversarial-head-only", "condgan/losses/regularizers.py",
             "for k in out)", "for k in out if k == 'adv')",
             "CR compares the adversarial head only", TARGETS["condgan/losses/regularizers.py"]),
    Explicit("review:cr-detached-clean-output", "condgan/losses/regularizers.py",
             "(out[k] - out_aug[k])", "(out[k].detach() - out_aug[k])",
             "CR with D(x) detached", TARGETS["condgan/losses/regularizers.py"]),
    Explicit("review:diffaugment-reals-only", "condgan/training/step.py",
             "return d_fn(real, real_labels.cnd), d_fn(fake, fake_labels.cnd)",
             "return d_fn(real, real_labels.cnd), self.D(fake, fake_labels.cnd)",
             "DiffAugment on reals only", ["tests/test_augment.py"]),
    Explicit("review:diffaugment-not-in-g-step", "condgan/training/step.py",
             "if self.generator_critic else self.d_fn",
             "if self.generator_critic else self.D",
             "DiffAugment skipped in the G step", ["tests/test_augment.py"]),
    Explicit("review:diffaugment-not-on-penalty-inputs", "condgan/training/step.py",
             "ctx = PenaltyContext(self.d_fn,", "ctx = PenaltyContext(self.D,",
             "DiffAugment not applied to gradient-penalty inputs", ["tests/test_augment.py"]),
    Explicit("review:cgp-q-input-detached", "condgan/losses/cgp.py",
             "group_log_softmax(classifier(x), d_l)", "group_log_softmax(classifier(x.detach()), d_l)",
             "CGP with Q's input detached", TARGETS["condgan/losses/cgp.py"]),
    in_classifier("review:cgp-not-trained",
             "self.cgp_weight * cgp", "self.cgp_weight * cgp.detach()",
             "CGP term does not reach Q's optimizer"),
    in_classifier("review:fake-categories-ignore-prior",
             "return self._labels(sample_prior(self.prior, batch_size, generator))",
             "return self._labels(sample_prior(torch.ones_like(self.prior) / self.d_c, batch_size, generator))",
             "fakes' categories ignoring the prior"),
    in_classifier("review:flipped-c_f",
             "cls = classification_loss(self.q(fake), fake_labels.cnd, self.d_l)",
             "cls = classification_loss(self.q(fake), 1 - fake_labels.cnd, self.d_l)",
             "flipped c_f in Q's classification loss"),
    in_classifier("review:prior-warmup-off",
             "normalize=step < self.warmup", "normalize=False",
             "prior warm-up off"),
    in_classifier("review:prior-warmup-off-by-one",
             "normalize=step < self.warmup", "normalize=step <= self.warmup",
             "prior warm-up off by one at its boundary"),
    in_classifier("review:target-warmup-off-by-one",
             "self.warming_up = step + 1 < self.warmup", "self.warming_up = step + 1 <= self.warmup",
             "the reals' warm-up normalization off by one"),
    Explicit("review:info-loss-g-step-only", "condgan/training/labeling/infogan.py",
             "        q_out = out[INFO_HEAD]\n",
             "        if phase == 'd':\n            return (None, {})\n        q_out = out[INFO_HEAD]\n",
             "InfoGAN's L_I applied in the G step only", TARGETS["condgan/training/labeling/infogan.py"]),
    in_classifier("review:joint-category-predictor",
             "return lambda x: joint_probabilities(mode.q(x), mode.d_l)",
             "return lambda x: mode.q(x).softmax(1)",
             "a joint (not per-group) category predictor"),
    in_classifier("review:real-labels-joint-argmax",
             "return Labels(cnd.argmax(1) if self.d_l == 1 else None, cnd)",
             "return Labels(cnd.argmax(1), cnd)",
             "real labels for d_l > 1 (a joint argmax)"),
]


# ----------------------------------------------------------------------------- AST mutants
BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
          ast.Pow: ast.Mult}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
          ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
SWAP_METHODS = {"mean": "sum", "sum": "mean"}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """Every statement that is a bare string: docstrings of modules, classes and functions, and
    the attribute docstrings after assignments."""
    return {id(node) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def _mutations(node: ast.AST):
    """(description, mutate(node_copy) -> replacement node) for one node."""
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        new = BINOPS[type(node.op)]
        yield f"{type(node.op).__name__} -> {new.__name__}", lambda n: _set(n, "op", new())
    if isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
        new = ast.Sub if isinstance(node.op, ast.Add) else ast.Add
        yield f"Aug{type(node.op).__name__} -> Aug{new.__name__}", lambda n: _set(n, "op", new())
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in CMPOPS:
                new = CMPOPS[type(op)]
                yield (f"{type(op).__name__} -> {new.__name__}",
                       lambda n, i=i, new=new: _set(n, "ops", n.ops[:i] + [new()] + n.ops[i + 1:]))
    if isinstance(node, ast.Constant) and not isinstance(node.value, (bool, str, bytes)) and node.value is not None:
        v = node.value
        if isinstance(v, int):
            yield f"{v} -> {v + 1}", lambda n, v=v: _set(n, "value", v + 1)
        elif isinstance(v, float) and (v == 0 or abs(v) >= TINY_FLOAT):
            new = 1.0 if v == 0 else 2 * v
            yield f"{v} -> {new}", lambda n, new=new: _set(n, "value", new)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", lambda n: _set(n, "value", not n.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield f"drop {type(node.op).__name__}", lambda n: n.operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        attr = node.func.attr
        if attr == "detach" and not node.args:
            yield "drop .detach()", lambda n: n.func.value
        if attr in SWAP_METHODS:
            yield f".{attr}( -> .{SWAP_METHODS[attr]}(", lambda n: _set(n.func, "attr", SWAP_METHODS[attr]) and n
    if isinstance(node, (ast.If, ast.IfExp, ast.While)):
        yield "negate condition", lambda n: _set(n, "test", ast.UnaryOp(op=ast.Not(), operand=n.test))


def _set(node, field, value):
    setattr(node, field, value)
    return node


def _function_ranges(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.name, node))
    return out


def generate(path: str) -> list[dict]:
    """All AST mutants of one file: dicts with id, file, line, what, index, op (to rebuild)."""
    source = (SOURCE / path).read_text()
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    excluded = set()
    for name, fn in _function_ranges(tree):
        if name in EXCLUDED_FUNCTIONS:
            excluded |= {id(n) for n in ast.walk(fn)}
    inside_functions = set()
    for _, fn in _function_ranges(tree):
        for stmt in fn.body:
            inside_functions |= {id(n) for n in ast.walk(stmt)}
    skip = set()
    for d in docstrings:
        skip.add(d)
    for node in ast.walk(tree):
        if id(node) in docstrings:
            skip |= {id(n) for n in ast.walk(node)}
        # keyword/argument defaults and annotations are not behaviour the tests pin
        if isinstance(node, (ast.arguments, ast.arg)) or isinstance(node, ast.AnnAssign):
            skip |= {id(n) for n in ast.walk(node)}
        if isinstance(node, ast.JoinedStr):  # messages
            skip |= {id(n) for n in ast.walk(node)}
    mutants = []
    for index, node in enumerate(_preorder(tree)):
        if id(node) in skip or id(node) in excluded or id(node) not in inside_functions:
            continue
        for k, (what, _) in enumerate(_mutations(node)):
            line = getattr(node, "lineno", 0)
            mutants.append({"id": f"{path}:{line}:{index}:{k}", "file": path, "line": line, "what": what,
                            "index": index, "op": k, "code": ast.get_source_segment(source, node) or ""})
    return mutants


def _preorder(tree):
    """Nodes in the visiting order of _Replace (a pre-order walk)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def mutated_source(mutant: dict) -> str:
    path = mutant["file"]
    source = (SOURCE / path).read_text()
    if mutant["id"].startswith("review:"):
        assert source.count(mutant["old"]) == 1, f"{mutant['id']}: the code to mutate is not found once in {path}"
        return source.replace(mutant["old"], mutant["new"])
    tree = ast.parse(source)
    nodes = list(_preorder(tree))
    node = nodes[mutant["index"]]
    mutate = list(_mutations(node))[mutant["op"]][1]
    replacement = mutate(copy.deepcopy(node))
    parent_field = _replace_in_tree(tree, node, replacement)
    assert parent_field, mutant["id"]
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def _replace_in_tree(tree, old, new) -> bool:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return True
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return True
    return False


def file_hash(path: str) -> str:
    return hashlib.sha256((SOURCE / path).read_bytes()).hexdigest()[:16]


def all_mutants() -> list[dict]:
    out = []
    for path in TARGETS:
        for m in generate(path):
            m["tests"] = TARGETS[path]
            out.append(m)
    for e in EXPLICIT:
        found = (SOURCE / e.file).read_text().count(e.old)
        if found != 1:  # checked up front: the code they mutate moves as the project changes
            raise SystemExit(f"explicit mutant {e.id}: its code is found {found} times in {e.file} (must be once); "
                             f"update EXPLICIT to the current code")
        out.append({"id": e.id, "file": e.file, "line": 0, "what": e.what, "old": e.old, "new": e.new,
                    "tests": e.tests, "code": e.old.strip()})
    return out


# ----------------------------------------------------------------------------- running
def copy_repo(dest: Path) -> None:
    for part in ("condgan", "tests"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("pyproject.toml",):
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, dest / f)


HEAVY_IMPORTS = ("torch", "numpy", "scipy.optimize", "scipy.linalg", "PIL.Image", "yaml", "pytest", "matplotlib")


def preload() -> None:
    """Import the heavy dependencies once in the parent (never condgan itself: each mutant's
    child process must import the mutated copy), so a forked child starts in milliseconds."""
    import importlib

    for name in HEAVY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _summarize(rc: int, output: str) -> tuple[str, str]:
    if rc == 0:
        return "survived", ""
    failed = next((line.split(" ", 1)[1].split(" - ")[0] for line in output.splitlines()
                   if line.startswith(("FAILED ", "ERROR "))), f"exit {rc}")
    return "killed", failed


def run_tests(workdir: Path, tests: list[str], timeout: float, fork: bool = True) -> tuple[str, str, float]:
    """('killed' | 'survived' | 'timeout', first failing test or '', seconds): pytest -x on
    `tests` against the code in `workdir`, in a forked child (default) or a fresh interpreter."""
    env = dict(PYTHONPATH=str(workdir), CONDGAN_CACHE=str(workdir / ".condgan_cache"), PYTHONDONTWRITEBYTECODE="1")
    args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    t0 = time.perf_counter()
    if not fork:
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=workdir, env=dict(os.environ, **env),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", "", time.perf_counter() - t0
        return (*_summarize(proc.returncode, proc.stdout), time.perf_counter() - t0)
    log = workdir / ".mutant-output.txt"
    pid = os.fork()
    if pid == 0:  # child: the mutated copy first on the path, pytest in-process
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.update(env)
            os.chdir(workdir)
            sys.path.insert(0, str(workdir))
            import pytest

            code = pytest.main(args)
            sys.stdout.flush()
            os._exit(int(code))
        except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
            os._exit(99)
    deadline = t0 + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "timeout", "", time.perf_counter() - t0
        time.sleep(0.2)
    rc = os.waitstatus_to_exitcode(status)
    return (*_summarize(rc, log.read_text(errors="replace")), time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="results JSON (resumable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--only", nargs="+", default=None, help="run only these mutant ids")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per mutant (a timeout counts as killed)")
    ap.add_argument("--rerun-survivors", action="store_true", help="run the surviving mutants again")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="do not first check that the unmutated code passes (only when the suite is known green)")
    ap.add_argument("--no-fork", action="store_true",
                    help="run each mutant's tests in a fresh interpreter instead of a forked child")
    args = ap.parse_args()
    if args.list:
        mutants = all_mutants()
        for m in mutants:
            print(f"{m['id']}\t{m['what']}\t{m['code'][:70]!r}")
        print(f"{len(mutants)} mutants")
        return 0
    if args.out is None:
        ap.error("--out is required to run")
    fork = not args.no_fork and hasattr(os, "fork")
    if fork:
        preload()
    global SOURCE
    with tempfile.TemporaryDirectory(prefix="condgan-mutation-") as tmp:
        work = Path(tmp)
        copy_repo(work)
        SOURCE = work
        mutants = all_mutants()
        results = json.loads(args.out.read_text()) if args.out.exists() else {"mutants": {}}
        hashes = {m["file"]: file_hash(m["file"]) for m in mutants}
        current = {m["id"] for m in mutants}
        results["mutants"] = {k: r for k, r in results["mutants"].items()
                              if k in current and r.get("file_hash") == hashes[r["file"]]
                              and not (args.rerun_survivors and r["status"] == "survived")}
        chosen = [m for m in mutants if args.only is None or m["id"] in args.only]
        baseline = {}
        for tests in [] if args.skip_baseline else sorted({tuple(m["tests"]) for m in chosen
                                                           if args.only is not None or m["id"] not in results["mutants"]}):
            status, failed, seconds = run_tests(work, list(tests), args.timeout * 3, fork)
            baseline[" ".join(tests)] = round(seconds, 1)
            if status != "survived":
                print(f"the unmutated code fails {' '.join(tests)}: {status} {failed}", file=sys.stderr)
                return 1
            print(f"baseline {' '.join(tests)}: passes in {seconds:.0f} s", flush=True)
        for n, m in enumerate(chosen, 1):
            if m["id"] in results["mutants"] and args.only is None:
                continue
            target = work / m["file"]
            original = target.read_text()
            try:
                target.write_text(mutated_source(m))
                status, failed, seconds = run_tests(work, m["tests"], args.timeout, fork)
            finally:
                target.write_text(original)
            results["mutants"][m["id"]] = {"file": m["file"], "file_hash": hashes[m["file"]], "line": m["line"],
                                           "what": m["what"],
                                           "code": m["code"][:200], "status": status, "killed_by": failed,
                                           "seconds": round(seconds, 1)}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
            print(f"[{n}/{len(chosen)}] {status:8s} {m['id']} {m['what']} {failed}", flush=True)
    results["command"] = "python scripts/mutation_check.py " + " ".join(sys.argv[1:])
    args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    done = results["mutants"].values()
    killed = sum(r["status"] in ("killed", "timeout") for r in done)
    print(f"{killed} of {len(done)} mutants killed ({100 * killed / max(len(done), 1):.1f} %)")
    for key, r in sorted(results["mutants"].items()):
        if r["status"] == "survived":
            print(f"survived: {key} {r['what']}: {r['code'][:80]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
