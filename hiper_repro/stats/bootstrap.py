"""Aggregates over runs with stratified bootstrap confidence intervals (Agarwal et al. 2021).

Layout: ``scores`` is a DataArray whose dims are split three ways:

- ``keep`` dims (default ``("method_name",)``): one aggregate per combination;
- ``sample_dim`` (default ``"seed"``): the runs that are resampled;
- every other dim (``env``, ``horizon``, ...): the task cells, which are the bootstrap strata.

One bootstrap replicate draws, inside every task cell independently, as many runs with replacement as the
cell has (NaN cells of the merged grid are not runs), pools the draws of all cells and applies the
statistic to the pooled runs. The interval is the percentile interval of the replicates. Statistics:

    mean(x) = (1/n) sum_i x_i
    iqm(x)  = mean of the middle 50% of the sorted x: scipy.stats.trim_mean(x, 0.25), as rliable does

With equal run counts per cell the pooled mean equals the mean of the cell means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr
from scipy import stats as sps

Statistic = Callable[[np.ndarray], np.ndarray]  # (reps, n) -> (reps,) or (reps, k)

# The bootstrap settings every statistic of this package defaults to, and `hiper-repro stats` with them
# (`stats.report.Options`); a test holds the pipeline schema's `stats` defaults to these.
REPS = 2000  # bootstrap replicates of run-level statistics
CI = 0.95  # confidence level of every interval
SEED = 0  # seed of every bootstrap


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: mean of the middle 50% of the values along ``axis``."""
    return sps.trim_mean(x, 0.25, axis=axis)


STATISTICS: dict[str, Statistic] = {"mean": lambda x: np.mean(x, axis=-1), "iqm": iqm}


def statistic_fn(statistic: str | Statistic) -> Statistic:
    """Resolve a statistic name (``"mean"``, ``"iqm"``) or pass a callable through."""
    if callable(statistic):
        return statistic
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(STATISTICS)} or a callable, saw {statistic!r}")
    return STATISTICS[statistic]


def blocks(
    scores: xr.DataArray, keep: Sequence[str], sample_dim: str = "seed"
) -> tuple[list[list[np.ndarray]], xr.DataArray]:
    """Split ``scores`` into, per ``keep`` combination, a list of per-cell 1-D arrays of existing runs.

    Returns the blocks (row-major over ``keep``) and a NaN template with dims ``keep`` to fill.
    """
    keep = tuple(keep)
    for d in (*keep, sample_dim):
        if d not in scores.dims:
            raise ValueError(f"scores has no dim {d!r}; dims seen: {scores.dims}")
    strata = [d for d in scores.dims if d not in keep and d != sample_dim]
    arr = scores.transpose(*keep, *strata, sample_dim).values.astype(float)
    n_keep = int(np.prod([scores.sizes[d] for d in keep])) if keep else 1
    arr = arr.reshape(n_keep, -1, scores.sizes[sample_dim])
    out = [[row[np.isfinite(row)] for row in g if np.isfinite(row).any()] for g in arr]
    template = xr.full_like(scores.isel({d: 0 for d in (*strata, sample_dim)}, drop=True), np.nan, float)
    return out, template.transpose(*keep)


def require_methods(da: xr.DataArray, names: Sequence[str], method_dim: str = "method_name") -> None:
    """Raise a ValueError naming the first of ``names`` that is not a label of ``method_dim``."""
    present = list(da[method_dim].values)
    for m in names:
        if m not in present:
            raise ValueError(f"method {m!r} not in {method_dim}: {present}")


def shared_cells(
    scores: xr.DataArray, a: str, b: str, *, method_dim: str = "method_name", sample_dim: str = "seed"
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Per task cell, the runs of ``a`` and of ``b``, keeping only cells where both have runs.

    Comparing on the same cells keeps a method's missing runs from shifting the other's average. A run
    exists where its score is finite, as in :func:`blocks`, so the two lists stay aligned cell by cell.
    """
    require_methods(scores, (a, b), method_dim)
    both = scores.sel({method_dim: [a, b]})
    has = xr.apply_ufunc(np.isfinite, both).any(sample_dim).all(method_dim)
    (cells_a, cells_b), _ = blocks(both.where(has), (method_dim,), sample_dim)
    if not cells_a or not cells_b:
        raise ValueError(f"methods {a!r} and {b!r} share no task cell with runs")
    return cells_a, cells_b, int(has.sum())


def resample(cells: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """One stratified bootstrap: (reps, n_total) draws, each cell resampled within itself."""
    draws = [c[rng.integers(0, c.size, size=(reps, c.size))] for c in cells]
    return np.concatenate(draws, axis=1) if draws else np.empty((reps, 0))


def percentile_ci(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the replicates along axis 0."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), saw {ci}")
    alpha = (1 - ci) / 2
    return np.quantile(replicates, alpha, axis=0), np.quantile(replicates, 1 - alpha, axis=0)


def aggregate(
    scores: xr.DataArray,
    statistic: str | Statistic = "mean",
    *,
    keep: Sequence[str] = ("method_name",),
    sample_dim: str = "seed",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> xr.Dataset:
    """Point estimate and stratified bootstrap CI of ``statistic`` over pooled runs, per ``keep`` combination.

    Returns a Dataset with dims ``keep`` and variables ``estimate``, ``ci_low``, ``ci_high``, ``n_runs``.
    A combination with no runs gets NaN and ``n_runs = 0``.
    """
    fn = statistic_fn(statistic)
    groups, template = blocks(scores, keep, sample_dim)
    est, lo, hi, n = (np.full(len(groups), np.nan) for _ in range(4))
    for g, cells in enumerate(groups):
        n[g] = sum(c.size for c in cells)
        if n[g] == 0:
            continue
        rng = np.random.default_rng([seed, g])
        est[g] = fn(np.concatenate(cells)[None])[0]
        lo[g], hi[g] = percentile_ci(fn(resample(cells, reps, rng)), ci)
    shape = template.shape
    out = xr.Dataset(
        {
            name: template.copy(data=v.reshape(shape))
            for name, v in (("estimate", est), ("ci_low", lo), ("ci_high", hi), ("n_runs", n))
        }
    )
    out.attrs = {"ci": ci, "reps": reps, "seed": seed, "statistic": getattr(statistic, "__name__", statistic)}
    return out


def difference_replicates(
    scores: xr.DataArray,
    a: str,
    b: str,
    statistic: str | Statistic = "mean",
    *,
    method_dim: str = "method_name",
    sample_dim: str = "seed",
    reps: int = REPS,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray, int]:
    """Point value and (reps,) bootstrap replicates of ``stat(a) - stat(b)``, and the number of shared cells.

    Only task cells where both methods have runs count, so both sides cover the same tasks; a and b are
    resampled independently within each cell.
    """
    fn = statistic_fn(statistic)
    cells_a, cells_b, n_cells = shared_cells(scores, a, b, method_dim=method_dim, sample_dim=sample_dim)
    est = float(fn(np.concatenate(cells_a)[None])[0] - fn(np.concatenate(cells_b)[None])[0])
    rep = fn(resample(cells_a, reps, rng)) - fn(resample(cells_b, reps, rng))
    return est, rep, n_cells


def difference(
    scores: xr.DataArray,
    a: str,
    b: str,
    statistic: str | Statistic = "mean",
    *,
    method_dim: str = "method_name",
    sample_dim: str = "seed",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> dict[str, float]:
    """``stat(a) - stat(b)`` over pooled runs of shared task cells, with a stratified bootstrap CI."""
    est, rep, n = difference_replicates(
        scores,
        a,
        b,
        statistic,
        method_dim=method_dim,
        sample_dim=sample_dim,
        reps=reps,
        rng=np.random.default_rng(seed),
    )
    lo, hi = percentile_ci(rep, ci)
    return {"estimate": est, "ci_low": float(lo), "ci_high": float(hi), "n_cells": n}
