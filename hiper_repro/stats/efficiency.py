"""Sample efficiency: iterations and environment steps until the evaluation curve reaches a threshold.

For one run with evaluation curve c(i) at evaluation iterations i_0 < i_1 < ...::

    T_iter    = min { i : c(i) >= threshold }                (NaN when never reached: censored)
    T_steps   = environment steps of the training iterations before T_iter
              = sum over training iterations j < T_iter of sum over episodes of /episodes length[j]
    budget    = last evaluation point of the run (a run of 30 iterations evaluated at the end: 30)
    at_first  = reached at the run's first evaluation (with a starting evaluation, eval_iteration 0:
                the starting policy was already there, so the run says nothing about learning speed)

An evaluation point i is the number of updates completed (traces schema): it scores the policy trained on
iterations 0..i-1, hence ``j < i``.
Censored runs are never dropped silently: ``reached`` flags them, and the restricted time
``min(T, budget)`` (``iterations_restricted``, ``env_steps_restricted``) counts them at their budget, a
lower bound on their true time. Means of the restricted time are therefore conservative for a method
whose runs are censored more often. ``speedup(b over a) = mean T_b / mean T_a`` of restricted times.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hiper_repro.stats.bootstrap import CI, REPS, SEED, percentile_ci, resample, shared_cells
from hiper_repro.stats.scores import EVAL_DIM, group, last_index


def env_steps_until(tree: xr.DataTree | xr.Dataset, eval_iterations: xr.DataArray) -> xr.DataArray:
    """Environment steps collected by training iterations ``j < i`` for each evaluation point ``i`` (updates
    completed; 0 steps at the starting policy's evaluation, i = 0).

    ``tree`` is the merged tree (or its ``/episodes`` Dataset); episode lengths sum over ``episode``.
    Traces may store only every ``keep_every``-th iteration: an iteration that is not stored counts with
    the steps of the last stored one before it (a step-hold estimate; exact when ``keep_every = 1``).
    """
    episodes = group(tree, "episodes")
    if "length" not in episodes:
        raise ValueError(f"episodes group needs 'length', variables seen: {sorted(episodes.data_vars)}")
    per_iter = episodes["length"].astype(float).sum("episode", skipna=True, min_count=1)
    stored, evals = per_iter["iteration"].values, np.asarray(eval_iterations.values)
    # cum[j] = steps of iterations <= j, from j = evals.min() - 1 (before any stored iteration: 0)
    full = np.arange(int(min(stored.min(), evals.min() - 1)), int(max(stored.max(), evals.max())) + 1)
    cum = per_iter.reindex(iteration=full, method="ffill").fillna(0.0).cumsum("iteration")
    steps = cum.sel(iteration=evals.astype(int) - 1).rename(iteration=eval_iterations.name)
    steps = steps.assign_coords({eval_iterations.name: evals})
    steps.attrs = {"long_name": "environment steps", "units": "steps"}
    return steps


def time_to_threshold(
    curve: xr.DataArray, threshold: float, steps: xr.DataArray | None = None, dim: str = EVAL_DIM
) -> xr.Dataset:
    """Per run: first evaluation iteration (and env steps) where ``curve >= threshold``, with censoring.

    ``steps`` (optional) gives env steps per evaluation point (see :func:`env_steps_until`).
    Returns ``iterations``, ``reached``, ``at_first`` (reached at the run's first evaluation), ``budget``,
    ``iterations_restricted``, ``exists`` and, with ``steps``, ``env_steps`` and ``env_steps_restricted``.
    """
    if dim not in curve.dims:
        raise ValueError(f"curve must have dim {dim!r}, saw {curve.dims}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, saw {threshold}")
    hit = curve >= threshold
    reached = hit.any(dim)
    exists = curve.notnull().any(dim)
    first = hit.argmax(dim)
    it = xr.DataArray(curve[dim].values.astype(float), dims=dim)  # no coord: indexing it must not clash
    last = last_index(curve, dim)
    first_eval = curve.notnull().argmax(dim)  # position of each run's first existing evaluation
    out = xr.Dataset(
        {
            "iterations": it.isel({dim: first}, drop=True).where(reached),
            "reached": reached & exists,
            "at_first": reached & exists & (first == first_eval),
            "budget": it.isel({dim: last}, drop=True).where(exists),
            "exists": exists,
        }
    )
    out["iterations_restricted"] = out["iterations"].fillna(out["budget"]).where(exists)
    if steps is not None:
        s = steps.broadcast_like(curve)
        out["env_steps"] = s.isel({dim: first}, drop=True).where(reached)
        out["env_steps_restricted"] = out["env_steps"].fillna(s.isel({dim: last}, drop=True)).where(exists)
    out = out.drop_vars(dim, errors="ignore")  # vectorised isel leaves the chosen iterations as a coord
    out.attrs["threshold"] = threshold
    return out


def speedup(
    times: xr.DataArray,
    fast: str,
    slow: str,
    *,
    method_dim: str = "method_name",
    sample_dim: str = "seed",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> dict[str, float]:
    """Ratio ``mean time(slow) / mean time(fast)`` over the task cells both have, with stratified CI."""
    g_fast, g_slow, n_cells = shared_cells(times, fast, slow, method_dim=method_dim, sample_dim=sample_dim)
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = float(np.concatenate(g_slow).mean() / np.concatenate(g_fast).mean())
        rep = resample(g_slow, reps, rng).mean(1) / resample(g_fast, reps, rng).mean(1)
    lo, hi = percentile_ci(rep, ci)
    return {"estimate": est, "ci_low": float(lo), "ci_high": float(hi), "n_cells": n_cells}
