"""Training diagnostics per method and over training, from the traces' ``/iterations`` group.

Each run logs, per iteration, how its update and its critics behaved. The ones the paper reports
(:data:`DIAGNOSTICS`) say whether a method failed for a reason other than its credit assignment::

    invalid_turn_rate         share of training turns whose reply was invalid (unparseable or inadmissible),
                              pooled over the batch's episodes
    explained_variance_{h}    1 - Var(G - V_h) / Var(G) of value head h against the observed reward-to-go G,
                              before the update: 1 a perfect critic, 0 no better than a constant, < 0 worse
    adv_switch_abs            mean |A_switch| before whitening: how much signal the switch decision gets
    approx_kl                 KL(old || new) measured after the update: how far one update moved the policy
    clip_fraction             share of tokens where PPO's clipped term was active

:func:`phases` summarises each run by its mean over the first and the last ``fraction`` of its
iterations (``early`` and ``late``, as :func:`hiper_repro.stats.dynamics.settling` does for the switch
rate); :func:`critic_quality` by its mean over all iterations, the span the variance claim pools.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hiper_repro.stats.scores import group

DIAGNOSTICS: dict[str, str] = {
    "invalid_turn_rate": "invalid-turn rate (training, pooled over turns)",
    "explained_variance_low": "explained variance of V_low (flat methods: V)",
    "explained_variance_high": "explained variance of V_high",
    "explained_variance_term": "explained variance of V_term",
    "adv_switch_abs": "mean |A_switch| before whitening",
    "approx_kl": "KL(old || new) after the update",
    "clip_fraction": "PPO clip fraction",
}
HEADS = ("low", "high", "term")  # value heads whose explained variance is logged


def diagnostics(tree: xr.DataTree | xr.Dataset) -> xr.Dataset:
    """The :data:`DIAGNOSTICS` a study logged (each some run's finite value), per run and iteration.

    A tree without ``/iterations`` (traces written before it existed) raises a ValueError saying so."""
    if isinstance(tree, xr.DataTree) and "iterations" not in tree.children:
        raise ValueError("no /iterations group in these traces: they predate per-iteration diagnostics")
    its = group(tree, "iterations")
    names = [n for n in DIAGNOSTICS if n in its and bool(its[n].notnull().any())]
    if not names:
        raise ValueError(f"/iterations holds none of {sorted(DIAGNOSTICS)}")
    return its[names].astype(float)


def phases(diag: xr.Dataset, fraction: float = 0.25, dim: str = "iteration") -> xr.Dataset:
    """Per run and diagnostic: the mean over the first and the last ``fraction`` of the run's iterations,
    along a new dim ``phase`` = ["early", "late"]; runs with one iteration give the same value twice."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], saw {fraction}")
    exists = diag.to_array().notnull().any("variable")  # iterations a run has, padding excluded
    position = exists.cumsum(dim).where(exists)  # 1, 2, ... along each run's own iterations
    n = exists.sum(dim)
    width = np.maximum(1, np.round(fraction * n))
    early = diag.where(position <= width).mean(dim)
    late = diag.where(position > n - width).mean(dim)
    return xr.concat([early, late], dim="phase").assign_coords(phase=["early", "late"])


def critic_quality(diag: xr.Dataset) -> xr.Dataset:
    """Per run: each value head's explained variance averaged over all its iterations (heads it lacks
    are absent or NaN)."""
    names = {f"explained_variance_{h}": h for h in HEADS if f"explained_variance_{h}" in diag}
    return diag[list(names)].mean("iteration").rename(names)
