"""The documentation keeps up with the code: every registered name is documented in
docs/methods.md, every config key the docs mention exists, and the docs stand alone (no paths
outside the repository)."""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

import pytest

import condgan
from condgan.config import Config, _flat_keys
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
    keys = set(_flat_keys(Config))
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


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_stand_alone(path):
    text = path.read_text()
    found = [s for s in OUTSIDE_REFERENCES if s in text]
    assert not found, f"{path.relative_to(ROOT)} refers to files outside the repository: {found}"


def test_relative_links_resolve():
    """[text](target) links between repository files point at files that exist."""
    for path in markdown_files():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(ROOT)}: broken link {target}"


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
