"""The parts of ``hiper_repro`` import in one direction: each only the parts docs/ARCHITECTURE.md lists before
it (imports inside functions count too), so no package imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

import hiper_repro

ROOT = Path(hiper_repro.__file__).parent
# docs/ARCHITECTURE.md's table, in order; the helpers below it import no part and any part may import them.
ORDER = ["credit", "envs", "theory", "agent", "traces", "train", "stats", "figures", "external", "paper"]
HELPERS = {"io", "cli_help", "threads", "published", "methods_registry", "yamlfile"}


def _parts_imported(part: str) -> set[str]:
    """The parts of hiper_repro that the sources of ``part`` (a package or a module) import."""
    paths = list((ROOT / part).rglob("*.py")) if (ROOT / part).is_dir() else [ROOT / f"{part}.py"]
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found |= {n.split(".")[1] for n in names if n.startswith("hiper_repro.")}
    return found - {part}


def test_every_part_is_listed():
    parts = {p.stem for p in ROOT.glob("*.py")} | {
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()
    }
    unlisted = parts - set(ORDER) - HELPERS - {"__init__", "cli", "bench", "threads_bench"}
    assert not unlisted, f"add {sorted(unlisted)} to docs/ARCHITECTURE.md and ORDER"


def test_no_part_imports_one_listed_after_it():
    assert "stats" in _parts_imported("figures"), "the import scan found nothing"
    for i, part in enumerate(ORDER):
        later = _parts_imported(part) - HELPERS - set(ORDER[:i])
        assert not later, f"{part} imports {sorted(later)}, listed after it in docs/ARCHITECTURE.md"


def test_helpers_import_no_part():
    for helper in HELPERS:
        assert not _parts_imported(helper) - HELPERS, f"{helper} imports a part of the package"
