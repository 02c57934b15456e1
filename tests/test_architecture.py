"""The package layout of docs/architecture.md, checked on the source: no import cycles among
condgan's modules, no module importing a higher layer, no file over 400 lines.

Imports are read with `ast` from every module, at module level and inside functions (a
function-local import is still a dependency: it only moves the cycle from import time to call
time), including `if TYPE_CHECKING:` blocks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "condgan"
MAX_LINES = 400

# Files over 400 lines allowed for now (none: every file is within the limit).
OVERSIZED_ALLOWED: set[str] = set()

# Layers from the bottom up (docs/architecture.md): a module may import its own layer and the
# layers below. A module belongs to the layer of the longest prefix listed (so the loop modules
# of training/ sit above evaluation while the rest of training/ sits below it).
LAYERS = [
    ("core", ["condgan", "condgan.errors", "condgan.console", "condgan.registry", "condgan.io",
              "condgan.integrity", "condgan.stages", "condgan.device", "condgan.arguments", "condgan.strict_yaml",
              "condgan.parsing", "condgan.config_files", "condgan.config_regularization", "condgan.config"]),
    ("components", ["condgan.nets", "condgan.augment", "condgan.metrics", "condgan.data"]),
    ("composite components", ["condgan.features", "condgan.losses", "condgan.adaptive"]),
    ("training parts", ["condgan.training"]),
    ("checks and evaluation", ["condgan.validation", "condgan.evaluation"]),
    ("training assembly", ["condgan.training.trainer"]),
    ("entry points", ["condgan.api", "condgan.cli", "condgan.__main__"]),
]


def module_name(path: Path) -> str:
    parts = ("condgan",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The condgan module `name` refers to: itself, or the closest enclosing package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, source: str | None = None) -> set[str]:
    """condgan modules imported anywhere in `module` (module level and function-local); `source`
    replaces the module's file text (for testing this function)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(_resolve(n) for n in names if n == "condgan" or n.startswith("condgan."))
    found.discard(None)
    found.discard(module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, iterative)."""
    state = {}  # module -> "open" while on the current path, "done" after
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def layer_of(module: str) -> int:
    best, level = "", None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, level = prefix, index
    assert level is not None, f"{module} is in no layer: add it to LAYERS and to docs/architecture.md"
    return level


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_every_kind_of_import():
    """The checker itself: function-local, relative, `from package import submodule` and
    TYPE_CHECKING imports are edges, and a cycle closed by any of them is found."""
    source = (
        "import torch\n"
        "from typing import TYPE_CHECKING\n"
        "from condgan.errors import CondganError\n"
        "from . import ema\n"
        "from condgan.training import latents\n"
        "if TYPE_CHECKING:\n"
        "    from condgan.metrics.fid import GaussianStats\n"
        "def f():\n"
        "    from ..config import Config\n"
        "    import condgan.data.folder\n"
    )
    assert imports_of("condgan.training.build", source) == {
        "condgan.errors", "condgan.training.ema", "condgan.training.latents", "condgan.metrics.fid",
        "condgan.config", "condgan.data.folder"}
    graph = {"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}
    assert find_cycle(graph) is None
    graph["c"] = {"a"}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
              for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert not upward, "lower layer imports a higher one:\n" + "\n".join(upward)


def test_layer_table_matches_the_architecture_page():
    """Every layer prefix of the table above is named in docs/architecture.md."""
    page = (ROOT.parent / "docs" / "architecture.md").read_text()
    missing = [p for _, prefixes in LAYERS for p in prefixes if p != "condgan" and f"`{p}" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_over_400_lines(path):
    relative = path.relative_to(ROOT).as_posix()
    lines = len(path.read_text().splitlines())
    if relative in OVERSIZED_ALLOWED:
        return
    assert lines <= MAX_LINES, f"condgan/{relative} has {lines} lines (at most {MAX_LINES}): split it by concern"


def test_oversized_allow_list_is_current():
    """Entries leave the allow-list once their file is split (or gone)."""
    stale = [p for p in OVERSIZED_ALLOWED
             if not (ROOT / p).exists() or len((ROOT / p).read_text().splitlines()) <= MAX_LINES]
    assert not stale, f"remove {stale} from OVERSIZED_ALLOWED"
