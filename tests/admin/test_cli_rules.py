"""Two rules of the admin CLI's code, read from its source: every time comes from the
command's clock (`admin_cli.common.now`), and its modules import each other without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import admin_cli

PACKAGE = Path(admin_cli.__file__).parent
WALL_CLOCK = {"utcnow", "now", "today", "utcfromtimestamp", "fromtimestamp", "time"}
TIME_MODULES = {"datetime", "date", "time"}


def modules() -> dict[str, ast.Module]:
    """Every module of admin_cli by its dotted name, parsed."""
    return {f"admin_cli.{path.stem}": ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.glob("*.py"))}


def clock_reads(tree: ast.Module) -> list[str]:
    """Calls that read the wall clock: `utcnow()`, `datetime.now()`, `time.time()`..."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id == "utcnow":
            found.append(f"line {node.lineno}: utcnow()")
        elif (isinstance(fn, ast.Attribute) and fn.attr in WALL_CLOCK
              and isinstance(fn.value, ast.Name) and fn.value.id in TIME_MODULES):
            found.append(f"line {node.lineno}: {fn.value.id}.{fn.attr}()")
    return found


def imports(tree: ast.Module) -> set[str]:
    """The admin_cli modules a module imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "admin_cli":
            found.update(f"admin_cli.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("admin_cli."):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("admin_cli."))
    return found


def test_no_command_reads_the_wall_clock() -> None:
    """No admin_cli module calls utcnow(), datetime.now() or the like: a test's clock rules."""
    reads = {name: found for name, tree in modules().items() if (found := clock_reads(tree))}
    assert reads == {}


def test_admin_cli_modules_import_without_cycles() -> None:
    """Following the imports between admin_cli modules never leads back to where it started."""
    graph = {name: imports(tree) for name, tree in modules().items()}
    assert graph["admin_cli.report"] >= {"admin_cli.report_summary", "admin_cli.report_quarterly"}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(name, ())):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            else:
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []
