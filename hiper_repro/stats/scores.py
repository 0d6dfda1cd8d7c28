"""Per-run scores from the merged traces' ``/evaluation`` group.

A run is one cell ``(method_name, env, horizon, seed)``. Its evaluation curve is the success rate on the fixed
evaluation split at each evaluation point::

    curve[run, i] = mean_e success[run, i, e]          (NaN-skipping over eval_episode)

Two per-run scores follow docs/METHOD.md section 8 (never best-of-many):

- ``final``: the curve at the run's last evaluation that exists (a run cut short keeps its last point);
- ``last_k``: the mean of the run's last ``k`` existing evaluations (fewer if the run has fewer).

Missing cells of the merged grid stay NaN all the way through; the aggregation code skips them.
"""

from __future__ import annotations

import xarray as xr

from hiper_repro.traces.schema import START_EVAL

RUN_DIMS = ("method_name", "env", "horizon", "seed")
EVAL_DIM = "eval_iteration"  # labelled by the updates completed; START_EVAL (0) is the starting policy


def group(tree: xr.DataTree | xr.Dataset, name: str) -> xr.Dataset:
    """Return group ``name`` of a merged DataTree as a Dataset (a Dataset passes through unchanged)."""
    if isinstance(tree, xr.Dataset):
        return tree
    if name not in tree.children:
        raise ValueError(f"merged tree has no group {name!r}; groups seen: {sorted(tree.children)}")
    return tree[name].to_dataset()


def eval_curve(evaluation: xr.Dataset | xr.DataTree, var: str = "success") -> xr.DataArray:
    """Mean of ``var`` over ``eval_episode`` per run and evaluation point: dims (..., eval_iteration)."""
    ds = group(evaluation, "evaluation")
    if var not in ds:
        raise ValueError(f"evaluation group has no variable {var!r}; variables seen: {sorted(ds.data_vars)}")
    if "eval_episode" not in ds[var].dims or EVAL_DIM not in ds[var].dims:
        raise ValueError(f"{var!r} must have dims eval_iteration and eval_episode, saw {ds[var].dims}")
    curve = ds[var].astype(float).mean("eval_episode", skipna=True)
    curve.attrs = {"long_name": f"evaluation {var} rate", "units": "1"}
    return curve.rename(f"{var}_rate")


def last_index(curve: xr.DataArray, dim: str = EVAL_DIM) -> xr.DataArray:
    """Position along ``dim`` of each run's last non-NaN value (0 for a run with none)."""
    if dim not in curve.dims:
        raise ValueError(f"curve must have dim {dim!r}, saw {curve.dims}")
    return curve.notnull().cumsum(dim).argmax(dim)  # argmax returns the first maximum: the last value


def final_score(curve: xr.DataArray, dim: str = EVAL_DIM) -> xr.DataArray:
    """Value at each run's last existing evaluation along ``dim`` (NaN for a run with none)."""
    # Vectorised isel leaves the chosen coordinate values behind as a coord: drop it.
    return curve.isel({dim: last_index(curve, dim)}).drop_vars(dim, errors="ignore").rename("final")


def last_k_score(curve: xr.DataArray, k: int, dim: str = EVAL_DIM) -> xr.DataArray:
    """Mean of each run's last ``k`` existing evaluations along ``dim``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, saw {k}")
    if dim not in curve.dims:
        raise ValueError(f"curve must have dim {dim!r}, saw {curve.dims}")
    exists = curve.notnull()
    # rank_from_end = 1 on the last existing evaluation, 2 on the one before, ...
    rank_from_end = exists.isel({dim: slice(None, None, -1)}).cumsum(dim).isel({dim: slice(None, None, -1)})
    return curve.where(exists & (rank_from_end <= k)).mean(dim, skipna=True).rename("last_k")


def run_scores(tree: xr.DataTree | xr.Dataset, k: int = 3, var: str = "success") -> xr.Dataset:
    """Per-run scores ``final`` and ``last_k`` (dims method_name, env, horizon, seed) from ``/evaluation``.

    Both read the evaluations after training began (eval_iteration > 0, the updates completed): the
    starting policy's evaluation (0) is ``start``, never part of ``last_k``.
    """
    curve = eval_curve(tree, var)
    trained = curve.where(curve[EVAL_DIM] > START_EVAL)
    out = xr.Dataset({"final": final_score(trained), "last_k": last_k_score(trained, k)})
    if (curve[EVAL_DIM] == START_EVAL).any():
        out["start"] = curve.sel({EVAL_DIM: START_EVAL}, drop=True).rename("start")
        out["start"].attrs = {
            "long_name": f"{var} of the starting policy (before the first update)",
            "units": "1",
        }
    out["final"].attrs = {"long_name": f"final evaluation {var}", "units": "1"}
    out["last_k"].attrs = {"long_name": f"mean {var} of the last {k} evaluations", "units": "1"}
    out.attrs["k"] = k
    return out
