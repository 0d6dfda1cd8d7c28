"""Pairwise comparisons of methods: probability of improvement and Welch's t-tests with Holm correction.

Probability of improvement (Agarwal et al. 2021), per task cell m with runs x (method a) and y (method b)::

    P_m(a > b) = 1/(N K) sum_i sum_j ( [x_i > y_j] + 1/2 [x_i = y_j] )
    P(a > b)   = mean over task cells of P_m(a > b)

It equals the Mann-Whitney U statistic divided by N K. The CI is a stratified bootstrap: runs of a and of b
are resampled within each cell, independently.

Welch's t-test per task cell (scipy.stats.ttest_ind, equal_var=False) compares a reference method with each
other method; the p-values of the whole family (all cells times all comparisons) are Holm-adjusted::

    sort p ascending: p_(1) <= ... <= p_(m)
    p_holm_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))

Each comparison also carries a bootstrap percentile CI on the difference of means (Colas et al. 2018).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from hiper_repro.stats.bootstrap import CI, REPS, SEED, percentile_ci, shared_cells


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y)/2 over all pairs of the 1-D samples ``x`` and ``y``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim != 1 or y.ndim != 1 or x.size == 0 or y.size == 0:
        raise ValueError(f"x and y must be non-empty 1-D arrays, saw shapes {x.shape} and {y.shape}")
    return float(_poi(x[None], y[None])[0])


def _poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Batched P(X > Y): x (reps, n), y (reps, k) -> (reps,)."""
    gt = x[:, :, None] > y[:, None, :]
    eq = x[:, :, None] == y[:, None, :]
    return (gt + 0.5 * eq).mean(axis=(1, 2))


def improvement(
    scores: xr.DataArray,
    a: str,
    b: str,
    *,
    method_dim: str = "method_name",
    sample_dim: str = "seed",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> dict[str, float]:
    """Probability that a run of ``a`` beats a run of ``b``, averaged over task cells, with bootstrap CI."""
    cells = list(zip(*shared_cells(scores, a, b, method_dim=method_dim, sample_dim=sample_dim)[:2]))
    rng = np.random.default_rng(seed)
    est = float(np.mean([probability_of_improvement(u, v) for u, v in cells]))
    reps_ = np.mean(
        [
            _poi(u[rng.integers(0, u.size, (reps, u.size))], v[rng.integers(0, v.size, (reps, v.size))])
            for u, v in cells
        ],
        axis=0,
    )
    lo, hi = percentile_ci(reps_, ci)
    return {"estimate": est, "ci_low": float(lo), "ci_high": float(hi), "n_cells": len(cells)}


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order; NaN entries stay NaN and do not count."""
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def welch_tests(
    scores: xr.DataArray,
    reference: str,
    *,
    method_dim: str = "method_name",
    sample_dim: str = "seed",
    alpha: float = 0.05,
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> pd.DataFrame:
    """Welch's t-test of ``reference`` against every other method in every task cell, Holm over the family.

    One row per (cell, other method): the cell's coordinates, ``method_a`` (reference), ``method_b``,
    ``n_a``, ``n_b``, ``mean_a``, ``mean_b``, ``diff`` (= mean_a - mean_b), ``ci_low``, ``ci_high``
    (bootstrap percentile CI on diff), ``t``, ``df``, ``p``, ``p_holm``, ``reject`` (p_holm < alpha).
    A cell with fewer than 2 runs of either method, or no spread in either, gets p = NaN and is left out
    of the Holm family.
    """
    if reference not in scores[method_dim].values:
        raise ValueError(f"reference {reference!r} not in {method_dim}: {list(scores[method_dim].values)}")
    strata = [d for d in scores.dims if d not in (method_dim, sample_dim)]
    stacked = scores.stack(_cell=strata) if strata else scores.expand_dims(_cell=[0])
    rows = []
    rng = np.random.default_rng(seed)
    for c in range(stacked.sizes["_cell"]):
        cell = stacked.isel(_cell=c)
        x = cell.sel({method_dim: reference}).values.astype(float)
        x = x[np.isfinite(x)]
        for other in scores[method_dim].values:
            if other == reference:
                continue
            y = cell.sel({method_dim: other}).values.astype(float)
            y = y[np.isfinite(y)]
            if x.size == 0 or y.size == 0:
                continue
            row = {d: cell[d].item() for d in strata}
            row |= {"method_a": reference, "method_b": str(other), "n_a": x.size, "n_b": y.size}
            row |= {"mean_a": x.mean(), "mean_b": y.mean(), "diff": x.mean() - y.mean()}
            rep = x[rng.integers(0, x.size, (reps, x.size))].mean(1) - y[
                rng.integers(0, y.size, (reps, y.size))
            ].mean(1)
            row["ci_low"], row["ci_high"] = (float(v) for v in percentile_ci(rep, ci))
            t, df, p = np.nan, np.nan, np.nan
            if x.size >= 2 and y.size >= 2 and (x.std() > 0 or y.std() > 0):
                with warnings.catch_warnings():  # nearly equal samples: scipy warns, the test stands
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = sps.ttest_ind(x, y, equal_var=False)
                t, df, p = float(res.statistic), float(res.df), float(res.pvalue)
            rows.append(row | {"t": t, "df": df, "p": p})
    cols = [*strata, "method_a", "method_b", "n_a", "n_b", "mean_a", "mean_b", "diff", "ci_low", "ci_high"]
    table = pd.DataFrame(rows, columns=[*cols, "t", "df", "p"])
    table["p_holm"] = holm(table["p"].to_numpy())
    table["reject"] = table["p_holm"] < alpha
    return table
