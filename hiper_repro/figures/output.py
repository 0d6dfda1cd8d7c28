"""Saving what the figure and table builders return: each figure as PDF and PNG, written atomically, and
builders whose data a study lacks skipped with the reason.

Shared by ``hiper-repro figures`` (:mod:`hiper_repro.figures.cli`) and ``hiper-repro analyse-verl``
(:mod:`hiper_repro.external.report`); imports no figure module, so either can use it without the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from matplotlib.figure import Figure

from hiper_repro.io import atomic_target

T = TypeVar("T")


def built_or_skipped(
    jobs: dict[str, Callable[[], T]], skipped: dict[str, str], say: str
) -> Iterator[tuple[str, T]]:
    """(name, result) of every job that builds; one that raises ValueError (this study has no data for it) is
    left out, with `say` + its name and the reason on stderr and the reason in `skipped`."""
    for name, build in jobs.items():
        try:
            built = build()
        except ValueError as err:
            print(f"{say}{name}: {err}", file=sys.stderr)
            skipped[name] = str(err)
            continue
        yield name, built


def save_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Save ``fig`` as ``name.pdf`` and ``name.png`` (each written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("pdf", "png"):
        target = out_dir / f"{name}.{ext}"
        with atomic_target(target) as tmp:
            fig.savefig(tmp, format=ext)
        paths.append(target)
    return paths
