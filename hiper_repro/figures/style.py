"""Shared look of the figures: the matplotlibrc beside this file, method order, colours and labels.

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

RC_FILE = Path(__file__).with_name("matplotlibrc")
METHOD_ORDER = ("hiper", "ppo-pe", "ppo", "gigpo", "grpo", "rloo")
LABELS = {
    "hiper": "HiPER (HAE)",
    "ppo-pe": "PPO, plan-execute",
    "ppo": "PPO (flat GAE)",
    "gigpo": "GiGPO",
    "grpo": "GRPO",
    "rloo": "RLOO",
}
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
    known = [m for m in METHOD_ORDER if m in present]
    return known + [m for m in present if m not in known]


# Seaborn's colour-blind palette, assigned by hand so that neighbours in the legend never look alike.
COLOURS = {
    "hiper": "#0173b2",
    "ppo-pe": "#029e73",
    "ppo": "#d55e00",
    "gigpo": "#cc78bc",
    "grpo": "#949494",
    "rloo": "#ca9161",
}


def palette(methods: Iterable[str]) -> dict[str, str]:
    """A fixed colour per method, the same in every figure (methods without one get further colours)."""
    extra = [m for m in order(methods) if m not in COLOURS]
    spare = sns.color_palette("dark", len(extra)).as_hex() if extra else []
    return {**COLOURS, **dict(zip(extra, spare))}


def label(method: str) -> str:
    return LABELS.get(method, method)


def require(df, columns: Iterable[str], name: str) -> None:
    """Raise a ValueError naming the table and the missing columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; columns seen: {list(df.columns)}")
    if len(df) == 0:
        raise ValueError(f"{name}: the table is empty")
