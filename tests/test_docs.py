"""The documentation keeps up with the code: every registered name is documented in
docs/methods.md, every config key the docs mention exists, and the docs stand alone (no paths
outside the repository)."""

from __future__ import annotations

import functools
import importlib
import re
import sys
from pathlib import Path

import pytest

import condgan
from condgan.config import config_keys
from condgan.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
METHODS = ROOT / "docs" / "methods.md"
# The registries every user-facing choice lives in; discovery below must find at least these.
EXPECTED_REGISTRIES = {"adversarial loss", "conditioning method", "regularizer", "labeling mode",
                       "metric", "feature extractor", "network", "data set"}
# Strings that point outside the repository (a reader of the repo alone cannot follow them).
OUTSIDE_REFERENCES = ("../shared", "SPEC.md", "SPEC §", "/work/", "shared/seeds")


@functools.lru_cache(maxsize=None)
def all_registries() -> dict[str, Registry]:
    """Every Registry instance defined at module level anywhere in condgan (importing all
    modules, so registrations in any of them count), by kind."""
    found: dict[str, Registry] = {}
    package = Path(condgan.__file__).parent
    # Files, not pkgutil.walk_packages: some sub-packages (training/, cli/) are namespace packages
    # without __init__.py, which walk_packages does not descend into.
    for path in sorted(package.rglob("*.py")):
        if path.name == "__main__.py":  # runs the CLI when imported
            continue
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        for value in vars(module).values():
            if isinstance(value, Registry):
                found[value.kind] = value
    return found


def documented_names(text: str) -> set[str]:
    """Every `code span` of the text (a registered name must appear as one, e.g. in a table)."""
    return set(re.findall(r"`([^`\n]+)`", text))


def test_registries_are_discovered():
    kinds = set(all_registries())
    assert EXPECTED_REGISTRIES <= kinds, EXPECTED_REGISTRIES - kinds


@pytest.mark.parametrize("kind", sorted(EXPECTED_REGISTRIES))
def test_every_registered_name_is_documented(kind):
    registries = all_registries()
    names = registries[kind].names()
    assert names, f"registry '{kind}' is empty"
    missing = [n for n in names if n not in documented_names(METHODS.read_text())]
    assert not missing, (f"{kind} names registered but not documented as `name` in "
                         f"docs/methods.md: {missing}")


def test_registries_beyond_the_expected_ones_are_documented_too():
    text = documented_names(METHODS.read_text())
    for kind, registry in all_registries().items():
        missing = [n for n in registry.names() if n not in text]
        assert not missing, (kind, missing)


def test_documented_config_keys_exist():
    """`section.key` and `section.key=value` spans must name real config keys (catches typos and
    renamed keys)."""
    keys = set(config_keys())
    sections = sorted({k.split(".")[0] for k in keys if "." in k})
    pattern = re.compile(rf"`((?:{'|'.join(sections)})\.[a-z_0-9]+)(?:[=`<\[ ])")
    for doc in (METHODS, ROOT / "docs" / "api.md"):
        mentioned = set(pattern.findall(doc.read_text()))
        assert mentioned, doc
        unknown = sorted(mentioned - keys)
        assert not unknown, f"{doc.name} mentions config keys that do not exist: {unknown}"


def test_methods_doc_cites_sources_for_every_table_row():
    """Each method row ends with a source column that is not empty."""
    rows = [line for line in METHODS.read_text().splitlines()
            if line.startswith("| `") and line.count("|") >= 4]
    assert len(rows) > 40
    for row in rows:
        source = row.rstrip().rstrip("|").rsplit("|", 1)[-1].strip()
        assert source, row


def repository_markdown() -> list[Path]:
    """Every Markdown file of the repository (not the virtual environment, run directories or caches)."""
    skip = {".venv", "runs", ".condgan_cache", ".git", "build", ".pytest_cache"}
    return sorted(p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts)
                  and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts))


@pytest.mark.parametrize("path", repository_markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_stand_alone(path):
    text = path.read_text()
    found = [s for s in OUTSIDE_REFERENCES if s in text]
    assert not found, f"{path.relative_to(ROOT)} refers to files outside the repository: {found}"


# --------------------------------------------------------------------------- results documents
RESULTS = ROOT / "docs" / "results"
VERDICT = re.compile(r"\*\*(holds|does not hold|inconclusive)([^*]*)\*\*")
NUM = r"[-+]?(?:\d+\.?\d*|inf)"
INTERVAL = re.compile(rf"95 % CI \[({NUM}), ({NUM})\] \((welch|one-sample t|bootstrap)\)(?:, ratio [\d.]+(?: \[[^\]]*\])?)?, "
                      r"claimed ([<>]) 0: \*\*(holds|does not hold|inconclusive)\*\*")
TWO_GROUPS = re.compile(rf"(?:^|, |— `[^`]+`, )\S.*? ({NUM}) ± ({NUM}) vs .*? ({NUM}) ± ({NUM}) \((\d+) / (\d+) seeds\): "
                        rf"difference ({NUM}), 95 % CI \[({NUM}), ({NUM})\] \(welch\)")


def test_every_relative_link_in_the_repository_resolves():
    """[text](target) and ![](image) links of every Markdown file (README, docs/, experiments/,
    benchmarks/ ...) point at files that exist."""
    assert ROOT / "experiments" / "README.md" in repository_markdown()
    broken = []
    for path in repository_markdown():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" not in target and not target.startswith("mailto:") and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_results_are_one_folder_per_study_with_a_readme():
    loose = [p.name for p in RESULTS.iterdir() if p.is_file() and p.name != "README.md"]
    assert not loose, f"docs/results/ holds files outside a study folder: {loose}"
    for study in (p for p in RESULTS.iterdir() if p.is_dir()):
        assert (study / "README.md").exists(), f"{study.name}/ has no README.md"
        assert study.name in (RESULTS / "README.md").read_text(), f"docs/results/README.md does not list {study.name}"


def test_every_reproduction_opens_with_its_budget_and_baseline():
    """A reader meets the budget and the baseline's reached quality before any verdict: the first
    section of every seed study's README is its budget, and it names the baseline (or reference)
    and says whether it learned."""
    studies = sorted(RESULTS.glob("seed*/README.md"))
    assert len(studies) >= 4
    for path in studies:
        text = path.read_text()
        first = re.search(r"^## (.*)$", text, re.M)
        assert first and first[1].startswith("Budget"), f"{path.relative_to(ROOT)} opens with '{first and first[1]}'"
        section = text[first.end():text.find("\n## ", first.end())]
        assert re.search(r"baseline|reference", section), f"{path.relative_to(ROOT)}: no baseline in the budget section"
        assert re.search(r"learned|learn\b|fit", section), f"{path.relative_to(ROOT)}: no word on whether it learned"


def verdict_lines() -> list[tuple[str, str]]:
    return [(f"{p.relative_to(ROOT)}:{i}", line) for p in sorted(RESULTS.rglob("*.md"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if VERDICT.search(line)]


def test_every_verdict_carries_its_interval_and_follows_it():
    """**holds** / **does not hold** only with a 95 % interval over seeds, and the word is the one
    the interval gives (holds: it excludes zero on the claimed side; does not hold: on the other;
    inconclusive: it contains zero). **inconclusive** may stand without an interval."""
    lines = verdict_lines()
    assert len(lines) > 50
    for where, line in lines:
        for word, rest in VERDICT.findall(line):
            if word == "inconclusive" and "CI [" not in line:
                continue
            m = INTERVAL.search(line)
            assert m and not rest, f"{where}: a verdict without its interval: {line[:160]}"
            low, high, claimed, said = float(m[1]), float(m[2]), m[4], m[5]
            side = "higher" if claimed == ">" else "lower"
            expected = ("holds" if (low > 0 if side == "higher" else high < 0)
                        else "does not hold" if (high < 0 if side == "higher" else low > 0) else "inconclusive")
            assert said == expected, f"{where}: interval [{low}, {high}], claimed {claimed} 0, says {said}"


def test_welch_intervals_in_the_documents_follow_from_their_numbers():
    """Where a verdict line states both groups' mean ± std and seeds, its Welch interval is
    recomputed from them (to the printed precision)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import stats

    checked = 0
    for where, line in verdict_lines():
        m = TWO_GROUPS.search(line)
        if not m:
            continue
        ma, sa, mb, sb, na, nb, d, low, high = m.groups()
        e = stats.welch(stats.Summary(float(ma), float(sa), int(na)), stats.Summary(float(mb), float(sb), int(nb)))
        unit = 10.0 ** -len(low.split(".")[1]) if "." in low else 1.0
        tol = 2 * unit + 0.02 * (e.high - e.low)  # the printed means / stds are rounded
        assert abs(e.low - float(low)) <= tol and abs(e.high - float(high)) <= tol, (where, e.low, e.high, line[:160])
        checked += 1
    assert checked > 30


def test_methods_doc_defaults_table_matches_the_code():
    """docs/methods.md's table of defaults states the λ and τ each method takes when
    `model.cond_weight` / `model.cond_temperature` are unset; they must be the code's."""
    from condgan.losses.conditioning import CONDITIONING

    text = METHODS.read_text()
    section = text[text.index("### Defaults and their sources"):text.index("### Notes that matter")]
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    checked = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        weight = re.match(r"([0-9.]+)", cells[1])
        tau = re.search(r"τ = ([0-9.]+)", cells[2])
        assert cells[3] != "" and (cells[3] != "—" or weight is None), row  # a source for every default
        for name in names:
            cls = CONDITIONING.get(name)
            if weight:
                assert cls.default_cond_weight == float(weight.group(1)), name
            if tau:
                assert cls.default_temperature == float(tau.group(1)), name
            checked.add(name)
    assert set(CONDITIONING.names()) <= checked


def test_methods_doc_warns_of_2cs_unintended_classes_where_methods_are_chosen():
    """The 2c row of the methods table and the notes point at the warning, and the warning points
    at the study that shows it (seed 004's unintended-class claim, reproduced)."""
    text = METHODS.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `2c` |"))
    assert "#2c-draws-unintended-classes" in row
    section = text[text.index("#### 2C draws unintended classes"):]
    section = section[:section.index("\n## ")]
    assert "results/seed004/2c_unintended_classes.md" in section and "d2dce" in section
    assert "2c-draws-unintended-classes" in (ROOT / "README.md").read_text()


def test_no_merge_notes_left_in_docs_or_code():
    """A `<!-- merge: ... -->` note is an instruction to whoever merges, not documentation."""
    files = list(repository_markdown()) + sorted((ROOT / "condgan").rglob("*.py"))
    left = [str(p.relative_to(ROOT)) for p in files if re.search(r"<!--\s*merge|#\s*merge:", p.read_text())]
    assert not left, left


def repository_python() -> list[Path]:
    """The project's own Python files (package, tests, drivers, scripts, benchmarks)."""
    return sorted(p for d in ("condgan", "tests", "experiments", "scripts", "benchmarks")
                  for p in (ROOT / d).rglob("*.py") if p.name != "test_docs.py")


def test_code_stands_alone():
    """Docstrings and comments cite the repository's own docs, never files outside it."""
    found = [f"{p.relative_to(ROOT)}: {s}" for p in repository_python() for s in OUTSIDE_REFERENCES
             if s in p.read_text()]
    assert not found, found
