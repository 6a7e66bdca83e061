"""Fail when the project's Django apps import each other in a cycle (non-test code).

An arrow A -> B means some module of app A imports a module of app B (at any depth, including
imports inside functions: a deferred import is still a dependency). Tests, migrations,
management commands and admin modules (``admin.py``, ``admin_*.py``: the operators' console,
which shows every app's rows) of an app are left out: like ``config/``, they are composition
roots that may reach across apps, and nothing imports them back. ``core`` must be a leaf: it
imports no domain app.

    python scripts/check_imports.py          # exit 1 and print each cycle, else print the graph
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "core",
    "organizations",
    "accounts",
    "agents",
    "events",
    "tasks",
    "displays",
    "reports",
    "audit",
    "signups",
    "exports",
]
# Apps that must import no other app of the project.
LEAVES = {"core"}
SKIP_PARTS = {"tests", "migrations", "management"}


def _app_of(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return top if top in APPS else None


def _imports(path: Path, package: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the same package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join(base))
            elif node.module:
                found.add(node.module)
    return found


def _is_admin(path: Path) -> bool:
    return path.stem == "admin" or path.stem.startswith("admin_")


def app_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {app: set() for app in APPS if (ROOT / app).is_dir()}
    for app in graph:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if SKIP_PARTS & set(rel.parts) or _is_admin(path):
                continue
            package = ".".join(rel.with_suffix("").parts[:-1])
            for module in _imports(path, package):
                target = _app_of(module)
                if target and target != app:
                    graph[app].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each reported once (rotated to start at its smallest name)."""
    found: set[tuple[str, ...]] = set()

    def visit(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                cycle = path[:]
                i = cycle.index(min(cycle))
                found.add(tuple(cycle[i:] + cycle[:i]))
            elif nxt not in path and nxt > start:
                visit(start, nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, start, [start])
    return [list(c) for c in sorted(found)]


def main() -> int:
    graph = app_graph()
    problems = []
    for leaf in sorted(LEAVES & graph.keys()):
        if graph[leaf]:
            problems.append(f"{leaf} must import no app, but imports: {sorted(graph[leaf])}")
    problems += [" -> ".join([*c, c[0]]) for c in cycles(graph)]
    if problems:
        print("Import cycles between apps (break them: move the shared piece down a layer):")
        for line in problems:
            print(f"  {line}")
        return 1
    for app in sorted(graph):
        print(f"{app} -> {', '.join(sorted(graph[app])) or '(nothing)'}")
    print("No import cycle between apps.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
