"""The repository's documents stand alone: what they cite is in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {
    ".git",
    ".venv",
    "results",
    ".snakemake",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
}
SUFFIXES = {".py", ".md", ".smk", ".yaml", ".yml", ".rst", ".ipynb", ".toml", ""}


def _text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        # build artifacts (hiper_repro.egg-info/ copies the README of the last install) are not sources
        if SKIP & set(parts) or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix in SUFFIXES and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def test_no_citation_points_outside_the_repository():
    """No tracker issue numbers, no folders of the machines the project was developed on."""
    pattern = re.compile(r"\bissue \d+\b|shared/spec|/work/", re.IGNORECASE)
    offending = []
    for path in _text_files():
        if path.name == "test_docs.py":
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if pattern.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not offending, "\n".join(offending)


def test_every_cited_document_exists():
    """A document named anywhere (docs/METHOD.md, docs/TINY-AGENTS-ON-CPU.md, ...) is in docs/ or at the
    repository root."""
    cited = set()
    for path in _text_files():
        cited |= set(re.findall(r"\b([A-Z][A-Z0-9_-]*\.md)\b", path.read_text(errors="replace")))
    present = {p.name for p in (ROOT / "docs").glob("*.md")} | {p.name for p in ROOT.glob("*.md")}
    present |= {p.name for p in ROOT.rglob("README.md") if not SKIP & set(p.relative_to(ROOT).parts)}
    present.add("NAME.md")  # a placeholder in usage text (tables/NAME.md), not a document
    assert cited - present == set(), f"cited but not in the repository: {sorted(cited - present)}"
