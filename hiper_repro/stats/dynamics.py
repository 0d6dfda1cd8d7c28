"""Training dynamics of the switch decision: how often the agent starts a new segment.

Per run and training iteration, over the real turns after the first of every episode (turn 0 always
SWITCHes, so it carries no information)::

    switch_rate[run, j] = #(switch & mask & turn > 0) / #(mask & turn > 0)

NaN for flat-format runs (no switch decisions) and missing cells. ``settling`` compares the early and
late phases of training per run: ``early - late`` with early the first ``fraction`` of the stored
iterations and late the last ``fraction``; a positive value means switching settles.
"""

from __future__ import annotations

import xarray as xr

from hiper_repro.stats.scores import group


def switch_rate(tree: xr.DataTree | xr.Dataset, turn_dim: str = "turn") -> xr.DataArray:
    """Fraction of real turns after the first that SWITCH, per run and training iteration."""
    turns = group(tree, "turns")
    for v in ("switch", "mask"):
        if v not in turns:
            raise ValueError(f"turns group needs {v!r}, variables seen: {sorted(turns.data_vars)}")
    real = turns["mask"].fillna(False).astype(bool) & (turns[turn_dim] > 0)
    n = real.sum(("episode", turn_dim))
    k = (turns["switch"].fillna(False).astype(bool) & real).sum(("episode", turn_dim))
    # Flat-format runs never SWITCH, not even at turn 0: their rate does not exist.
    plan_execute = (
        turns["switch"].fillna(False).astype(bool) & turns["mask"].fillna(False).astype(bool)
    ).any(("iteration", "episode", turn_dim))
    rate = (k / n).where((n > 0) & plan_execute)
    rate.attrs = {"long_name": "switch rate (turns after the first)", "units": "1"}
    return rate.rename("switch_rate")


def settling(rate: xr.DataArray, fraction: float = 0.25, dim: str = "iteration") -> xr.DataArray:
    """Per run: mean rate over the first ``fraction`` of iterations minus the mean over the last ``fraction``."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], saw {fraction}")
    n = rate.sizes[dim]
    if n < 2:
        raise ValueError(f"settling needs at least 2 iterations along {dim!r}, saw {n}")
    w = max(1, int(round(fraction * n)))
    early = rate.isel({dim: slice(0, w)}).mean(dim)
    late = rate.isel({dim: slice(n - w, n)}).mean(dim)
    out = early - late
    out.attrs = {"long_name": "early minus late switch rate", "units": "1"}
    return out.rename("switch_settling")
