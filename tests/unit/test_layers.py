"""The packages' layers (README, "Repository layout"), read from the code's own imports.

models/ at the bottom; gateway/decision/, the pure core, above it; then the registry, the logs and the
document store; then the service and its ports; at the top the edges a user reaches: the HTTP API, the
pages, the CLI and the wiring (app, container). A module may import its own layer and the layers below,
never one above, whether at the top of the file or inside a function; and the modules' top-level
imports form no cycle. Imports under `if TYPE_CHECKING:` are annotations only, and are not counted.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = (  # bottom first; a module's layer is that of the longest prefix naming it
    ("models",),
    ("gateway.decision", "gateway.ids", "gateway.identifiers", "gateway.limits", "gateway.errors", "gateway.settings",
     "gateway.problem_details"),
    ("gateway.registry", "gateway.audit", "gateway.store", "gateway.db", "gateway.metrics", "gateway.logging_setup",
     "gateway.auth", "gateway.ports", "gateway.policy", "gateway.dev_mode", "gateway.keys"),
    ("gateway.service", "gateway.search", "gateway.access", "gateway.demo",
     "gateway.http_protocol", "gateway.listeners"),
    ("gateway.api", "gateway.web", "gateway.app", "gateway.asgi", "gateway.container", "gateway.cli"),
)  # fmt: skip


def layer(module: str) -> int:
    if module == "gateway":  # the package itself holds its version and nothing else
        return 1
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".") or module.startswith(prefix + "_")) and len(
                prefix
            ) > best:
                best, found = len(prefix), index
    assert found >= 0, f"{module} is in no layer: add it to LAYERS (and to the README's drawing)"
    return found


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("gateway", "models"):
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:  # Alembic's scripts: run by the migration runner, not imported
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(top-level imports, every import) of each module, as module names of this repository."""
    top: dict[str, set[str]] = defaultdict(set)
    every: dict[str, set[str]] = defaultdict(set)

    def resolve(name: str) -> str | None:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in modules else None

    def visit(module: str, nodes: list[ast.stmt], at_top: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                    f"{node.module}.{a.name}" for a in node.names
                ]  # fmt: skip
                for name in names:
                    target = resolve(name)
                    if target is not None and target != module:
                        every[module].add(target)
                        if at_top:
                            top[module].add(target)
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list) and children and isinstance(children[0], ast.stmt | ast.excepthandler):
                    nested = at_top and isinstance(node, ast.If | ast.Try | ast.With)
                    visit(module, [c for c in children if isinstance(c, ast.stmt)], nested)
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            visit(module, handler.body, nested)

    for module, path in modules.items():
        visit(module, ast.parse(path.read_text()).body, True)
    return top, every


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    modules = _modules()
    _, every = _imports(modules)
    upward = sorted(
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in every.items()
        for target in targets
        if layer(target) > layer(module)
    )
    assert upward == []


def test_the_decision_core_imports_only_itself_and_the_models() -> None:
    _, every = _imports(_modules())
    outside = sorted(
        f"{module} imports {target}"
        for module, targets in every.items()
        if module.startswith("gateway.decision")
        for target in targets
        if not target.startswith(("gateway.decision", "models"))
    )
    assert outside == []


def test_only_one_module_imports_casbin() -> None:
    """Casbin sits behind the core's `Rules` interface: gateway/policy/casbin_rules.py is its only importer."""
    importers = set()
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "casbin" or name.startswith("casbin.") for name in names):
                importers.add(module)
    assert importers == {"gateway.policy.casbin_rules"}


def test_the_top_level_imports_form_no_cycle() -> None:
    top, _ = _imports(_modules())
    cycles = _strongly_connected(top)
    assert cycles == []


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: every group of two or more modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_the_check_finds_what_it_looks_for() -> None:
    """The checks can fail: an upward import and a cycle, made up, are both found."""
    assert layer("gateway.api.authzen") > layer("gateway.registry.snapshot") > layer("gateway.decision.engine")
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []
