"""The trace modules import each other in one direction only (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import hiper_repro.traces

PACKAGE = "hiper_repro.traces"


def _imports() -> dict[str, set[str]]:
    """Module name -> the other modules of the package it imports, anywhere in its source."""
    files = {f"{PACKAGE}.{p.stem}": p for p in Path(hiper_repro.traces.__file__).parent.glob("*.py")}
    files.pop(f"{PACKAGE}.__init__")
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = (found & set(files)) - {name}
    return graph


def test_no_import_cycle():
    graph = _imports()
    assert f"{PACKAGE}.schema" in graph and graph[f"{PACKAGE}.merge"], "the import scan found nothing"
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports itself back through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                todo += graph[module]
