"""How a paired change difference moves with the horizon: its least-squares slope, with a bootstrap CI.

For a contrast a vs b in one environment, D_h = change_a(h) - change_b(h) is the paired change difference
of :func:`hiper_repro.stats.change.change_difference` at horizon h (what RL added to a, minus what it
added to b, on the same fixed tasks). Over the horizons H where both methods have paired runs (two or
more), the trend is the ordinary least-squares slope of D on h, each horizon weighted equally::

    beta = sum_{h in H} (h - hbar) (D_h - Dbar) / sum_{h in H} (h - hbar)^2

in success per unit of horizon (per extra subtask); beta > 0: the difference grows with the horizon.
Its bootstrap replicates are the slopes of the per-horizon replicates of D_h, each drawn within its own
horizon exactly as ``change_difference`` draws it (each method's seeds resampled on their own, the
horizon's tasks jointly, the same generator per cell): horizons are separate experiments with their own
runs and tasks, so they are the strata. The interval is the replicates' percentile interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from hiper_repro.stats.bootstrap import CI, REPS, SEED, percentile_ci
from hiper_repro.stats.change import change_difference_replicates


def slope(h: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``d`` on ``h`` along the last axis (``d``: (..., n), ``h``: (n,), n >= 2
    distinct values)."""
    h = np.asarray(h, float)
    if h.ndim != 1 or h.size < 2 or np.ptp(h) == 0:
        raise ValueError(f"h must hold two or more distinct horizons, saw {h.tolist()}")
    centred = h - h.mean()
    return (np.asarray(d, float) * centred).sum(-1) / (centred**2).sum()


def horizon_trend(
    tree: xr.DataTree | xr.Dataset,
    a: str,
    b: str,
    *,
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> xr.Dataset:
    """Per env: the slope of change_a - change_b over the horizons (module docstring), ``estimate``,
    ``ci_low``, ``ci_high``, ``n_horizons`` and the horizons' range ``h_min``, ``h_max``; NaN estimate
    where both methods share fewer than two horizons."""
    cells = change_difference_replicates(tree, a, b, reps=reps, seed=seed)
    envs = sorted({env for env, _ in cells})
    rows = {k: [] for k in ("estimate", "ci_low", "ci_high", "n_horizons", "h_min", "h_max")}
    for env in envs:
        hs = sorted(h for e, h in cells if e == env)
        est = lo = hi = np.nan
        if len(hs) >= 2:
            h = np.array(hs, float)
            est = float(slope(h, np.array([cells[env, x][0] for x in hs])))
            rep = slope(h, np.stack([cells[env, x][1] for x in hs], axis=-1))
            lo, hi = (float(v) for v in percentile_ci(rep, ci))
        values = (est, lo, hi, len(hs), min(hs), max(hs))
        for k, v in zip(rows, values):
            rows[k].append(v)
    ds = xr.Dataset({k: ("env", np.asarray(v)) for k, v in rows.items()}, coords={"env": envs})
    ds.attrs = {"a": a, "b": b, "ci": ci, "reps": reps, "seed": seed, "units": "success per unit of horizon"}
    return ds


def parse_contrasts(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``["hiper:ppo-pe", ...]`` -> ``(("hiper", "ppo-pe"), ...)``; ValueError naming a malformed item."""
    out = []
    for item in items:
        a, sep, b = str(item).partition(":")
        if not (sep and a and b and ":" not in b and a != b):
            raise ValueError(f"contrast {item!r}: expected 'a:b' with two different method names")
        out.append((a, b))
    return tuple(out)
