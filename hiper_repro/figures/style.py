"""Shared look of the figures: the matplotlibrc beside this file; method order, colours and labels come from
`hiper_repro.methods_registry` (read when a figure is drawn, so a method registered later has them too).

Figure functions build a bare :class:`matplotlib.figure.Figure` (no pyplot state, any backend) inside
:func:`styled`, which applies this folder's ``matplotlibrc`` except its backend; only the CLI selects
the non-interactive backend, so notebooks keep theirs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import seaborn as sns

from hiper_repro import methods_registry

RC_FILE = Path(__file__).with_name("matplotlibrc")
# Snapshots of the registry at import, for callers that want a plain mapping; the functions below read it live.
METHOD_ORDER = methods_registry.names()
LABELS = {s.name: s.label for s in methods_registry.specs()}
COLOURS = {s.name: s.colour for s in methods_registry.specs()}
ESTIMATOR_LABELS = {"flat": "flat GAE", "low": "HAE low", "high": "HAE high"}

P = ParamSpec("P")
R = TypeVar("R")


def rc() -> dict:
    """Style keys of the matplotlibrc (the backend left out)."""
    params = mpl.rc_params_from_file(str(RC_FILE), use_default_template=False)
    return {k: v for k, v in params.items() if k != "backend"}


def styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a figure function under the package style."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(rc()):
            return fn(*args, **kwargs)

    return wrapper


def order(methods: Iterable[str]) -> list[str]:
    """Methods in the canonical order (reference first), unknown ones after, alphabetically."""
    present = sorted({str(m) for m in methods})
    known = [m for m in methods_registry.names() if m in present]
    return known + [m for m in present if m not in known]


def palette(methods: Iterable[str]) -> dict[str, str]:
    """A fixed colour per method (the registry's), the same in every figure; unregistered names (another
    project's runs) get further colours."""
    colours = {s.name: s.colour for s in methods_registry.specs()}
    extra = [m for m in order(methods) if m not in colours]
    spare = sns.color_palette("dark", len(extra)).as_hex() if extra else []
    return {**colours, **dict(zip(extra, spare))}


def label(method: str) -> str:
    """The registry's legend label of `method`; an unregistered name as it is."""
    return methods_registry.get(method).label if method in methods_registry.names() else method


def require(df, columns: Iterable[str], name: str) -> None:
    """Raise a ValueError naming the table and the missing columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; columns seen: {list(df.columns)}")
    if len(df) == 0:
        raise ValueError(f"{name}: the table is empty")
