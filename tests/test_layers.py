"""The layer order of svcdoctor's modules, enforced: no import cycles, no import that runs upward.

Every import counts — at the top of a module, inside a function (a lazy import) or under
``TYPE_CHECKING`` — read from the source with :mod:`ast`, so the graph is what the code says, not
what happened to be imported at run time. A module may import its own layer and any layer below.
An upward import is allowed only when listed in :data:`ALLOWED_UPWARD` with its reason, and there
may be at most four of them. ``svcdoctor.testing`` may import anything; nothing outside it may
import ``svcdoctor.testing``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "svcdoctor"

#: Top to bottom. A module belongs to the layer of its longest listed prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    # The command line: one module per command family (svcdoctor.cli is a package).
    ("svcdoctor.__main__", "svcdoctor.cli"),
    # The shipped servers: `snapshot serve`, and `watch` (which follows the API and serves metrics).
    ("svcdoctor.serve", "svcdoctor.watch"),
    # The application: the pipeline the CLI (and later a server) calls, the documentation, the config.
    ("svcdoctor.app", "svcdoctor.docs", "svcdoctor.config"),
    # Output formats.
    ("svcdoctor.render",),
    # Suppressions and baselines, applied after the engine has ranked a report; diffs of two reports.
    ("svcdoctor.suppress", "svcdoctor.diff"),
    # Running the checks: order, cause links, ranking, verdict.
    ("svcdoctor.engine",),
    ("svcdoctor.report",),
    # The checks themselves and their registry.
    ("svcdoctor.checks",),
    # Pure cores and their edges, and the sources that build a Snapshot.
    ("svcdoctor.netpol", "svcdoctor.dataplane", "svcdoctor.dns", "svcdoctor.probe", "svcdoctor.sources",
     "svcdoctor.redact", "svcdoctor.gateway"),
    # What a check is and sees: the cores' check helpers build findings for a Context.
    ("svcdoctor.checks.interface",),
    # The indexed Snapshot and the views derived from it.
    ("svcdoctor.snapshot", "svcdoctor.derived", "svcdoctor.endpoints", "svcdoctor.pod_health", "svcdoctor.ports"),
    # The ground floor: imports nothing above it.
    ("svcdoctor", "svcdoctor.findings", "svcdoctor.k8s", "svcdoctor.kinds", "svcdoctor.selectors",
     "svcdoctor.similarity", "svcdoctor.errors", "svcdoctor.ignore_annotation", "svcdoctor.atomic",
     "svcdoctor.terminal", "svcdoctor.minimal", "svcdoctor.validation", "svcdoctor.progress"),
)

#: (importer, imported) → why the import may run upward. At most four.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

TESTING = "svcdoctor.testing"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module → the svcdoctor modules it imports anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*parts, base] if base else parts)
                submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
                names = submodules + ([base] if len(submodules) < len(node.names) else [])
            for name in names:
                target = _resolve(name, modules) if name.startswith("svcdoctor") else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def layer_of(module: str) -> int | None:
    """0 for the ground floor, higher for higher layers; None when no layer lists the module."""
    best: tuple[int, int] | None = None
    for position, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (len(LAYERS) - 1 - position, len(prefix))
    return best[0] if best else None


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    found = []
    for importer, imported in sorted((a, b) for a, targets in graph.items() for b in targets):
        if importer.startswith(TESTING) or imported.startswith(TESTING):
            continue
        low, high = layer_of(importer), layer_of(imported)
        if low is not None and high is not None and high > low:
            found.append((importer, imported))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in _modules() if not m.startswith(TESTING) and layer_of(m) is None)
    assert not unplaced, f"add these modules to a layer in tests/test_layers.py: {unplaced}"


def test_every_layer_entry_exists() -> None:
    modules = _modules()
    stale = sorted(prefix for layer in LAYERS for prefix in layer if prefix not in modules)
    assert not stale, f"tests/test_layers.py lists modules that no longer exist: {stale}"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, f"import cycles (lazy imports count): {found}"


def test_no_upward_imports_but_the_listed_ones() -> None:
    assert len(ALLOWED_UPWARD) <= 4, "at most four upward imports, each with its reason"
    unlisted = [pair for pair in upward_imports(import_graph()) if pair not in ALLOWED_UPWARD]
    assert not unlisted, (f"imports that run up the layers of tests/test_layers.py: {unlisted}; move the code "
                          "down, or invert the dependency")


def test_product_code_never_imports_testing() -> None:
    graph = import_graph()
    offenders = sorted((a, b) for a, targets in graph.items() for b in targets
                       if b.startswith(TESTING) and not a.startswith(TESTING))
    assert not offenders, f"product code imports svcdoctor.testing: {offenders}"


def test_the_graph_sees_lazy_imports() -> None:
    """The engine imports the registry inside a function: the graph must see it, or it proves nothing."""
    graph = import_graph()
    assert "svcdoctor.checks.registry" in graph["svcdoctor.engine"]
    assert "svcdoctor.findings" in graph["svcdoctor.checks.sd101_service_missing"]
    assert upward_imports({"svcdoctor.findings": {"svcdoctor.engine"}}) == [("svcdoctor.findings", "svcdoctor.engine")]
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
