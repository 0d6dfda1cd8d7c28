"""Advantage variance per turn position and per horizon, with a hierarchical bootstrap.

Samples are the real turns (``mask`` true and the advantage finite). With ``by_position`` the variance is
taken separately at each turn position t over all episodes; otherwise over all turns pooled::

    Var_t = (S2_t - S1_t^2 / N_t) / (N_t - 1),   S1_t = sum x,  S2_t = sum x^2,  N_t = count

Hierarchical bootstrap (seeds, then episodes): a replicate draws ``n_seeds`` seeds with replacement and,
for every draw, resamples that seed's episodes (all ``unit_dims`` cells, e.g. iteration x episode, that
have a real turn) with replacement. A seed drawn c times with n episodes contributes episode counts
Multinomial(c n, 1/n), the sum of c independent resamples, so each replicate is one weighted sum
``W @ X``: no loop over episodes. The interval is the percentile interval of the replicates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from hiper_repro.stats.bootstrap import CI, SEED

# Hierarchical bootstrap replicates (seeds, then episodes) of every advantage variance here and of
# `hiper-repro stats` (`--variance-reps`): each replicate resamples every turn, so fewer than `REPS`.
VARIANCE_REPS = 500


def _unit_moments(x: np.ndarray, m: np.ndarray, by_position: bool) -> np.ndarray:
    """Per episode count, sum and sum of squares of real turns: (3, ..., n, T), or T = 1 pooled over turns."""
    xm = np.where(m, x, 0.0)
    mom = np.stack([np.broadcast_to(m, xm.shape).astype(float), xm, xm * xm])
    return mom if by_position else mom.sum(axis=-1, keepdims=True)


def _var(n: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (s2 - s1 * s1 / n) / (n - 1)
    return np.where(n > 1, np.maximum(v, 0.0), np.nan)  # clip round-off below 0


def hierarchical_variance(
    per_seed: Sequence[np.ndarray], reps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Point variance (..., T) and bootstrap replicates (..., reps, T) from per-seed moments (3, ..., n_i, T).

    ``per_seed[i][k, ..., e, t]`` is, for episode e of seed i at position t, the count (k=0), sum (k=1) and
    sum of squares (k=2) of its real turns; optional middle axes are series sharing the same resamples
    (a paired bootstrap, e.g. two estimators on the same turns).
    """
    if not per_seed:
        raise ValueError("no seed has a real turn")
    n_s = len(per_seed)
    counts = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=reps)  # (reps, n_seeds) seed draws
    tot = 0.0
    for s, mom in enumerate(per_seed):
        n_ep = mom.shape[-2]
        w = rng.multinomial(counts[:, s] * n_ep, np.full(n_ep, 1.0 / n_ep)).astype(float)
        tot = tot + w @ mom  # (reps, n_ep) @ (3, ..., n_ep, T) -> (3, ..., reps, T)
    point = sum(mom.sum(axis=-2) for mom in per_seed)
    return _var(*point), _var(*tot)


def advantage_variance(
    adv: xr.DataArray,
    mask: xr.DataArray | None = None,
    *,
    keep: Sequence[str] = (),
    by_position: bool = True,
    sample_dim: str = "seed",
    turn_dim: str = "turn",
    reps: int = VARIANCE_REPS,
    ci: float = CI,
    seed: int = SEED,
) -> xr.Dataset:
    """Variance of ``adv`` over real turns, per ``keep`` combination (and turn position), with CIs.

    ``adv`` has dims ``keep``, ``sample_dim``, ``turn_dim`` and unit dims (all the rest, e.g. iteration
    and episode), each unit one episode. ``mask`` (same dims, optional) marks real turns; non-finite
    advantages never count. Returns ``variance``, ``ci_low``, ``ci_high``, ``n_turns`` with dims
    ``keep`` (+ ``turn_dim`` when ``by_position``).
    """
    keep = tuple(keep)
    for d in (*keep, sample_dim, turn_dim):
        if d not in adv.dims:
            raise ValueError(f"adv has no dim {d!r}; dims seen: {adv.dims}")
    real = adv.notnull() if mask is None else (mask.fillna(False).astype(bool) & adv.notnull())
    units = [d for d in adv.dims if d not in (*keep, sample_dim, turn_dim)]
    order = (*keep, sample_dim, *units, turn_dim)
    x = adv.transpose(*order).values.astype(float)
    m = real.broadcast_like(adv).transpose(*order).values
    n_keep = int(np.prod([adv.sizes[d] for d in keep])) if keep else 1
    T = adv.sizes[turn_dim]
    x = x.reshape(n_keep, adv.sizes[sample_dim], -1, T)
    m = m.reshape(n_keep, adv.sizes[sample_dim], -1, T)
    T = T if by_position else 1
    est, lo, hi, cnt = (np.full((n_keep, T), np.nan) for _ in range(4))
    for g in range(n_keep):
        per_seed = []
        for s in range(x.shape[1]):
            rows = m[g, s].any(axis=1)
            if rows.any():
                per_seed.append(_unit_moments(x[g, s][rows], m[g, s][rows], by_position))
        if not per_seed:
            continue
        est[g], rep = hierarchical_variance(per_seed, reps, np.random.default_rng([seed, g]))
        # A rarely reached position can have < 2 turns in some replicates: those replicates are skipped.
        alpha = (1 - ci) / 2
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo[g], hi[g] = np.nanquantile(rep, alpha, axis=0), np.nanquantile(rep, 1 - alpha, axis=0)
        cnt[g] = sum(mom[0].sum(0) for mom in per_seed)
    template = adv.isel({d: 0 for d in (sample_dim, *units, turn_dim)}, drop=True).transpose(*keep)
    coords = {d: template[d] for d in keep if d in template.coords}
    dims: tuple[str, ...] = keep
    shape: tuple[int, ...] = tuple(adv.sizes[d] for d in keep)
    if by_position:
        dims, shape = (*keep, turn_dim), (*shape, T)
        if turn_dim in adv.coords:
            coords[turn_dim] = adv[turn_dim]
    out = xr.Dataset(
        {
            name: (dims, v.reshape(shape))
            for name, v in (("variance", est), ("ci_low", lo), ("ci_high", hi), ("n_turns", cnt))
        },
        coords=coords,
    )
    out.attrs = {"ci": ci, "reps": reps, "seed": seed, "by_position": int(by_position)}
    return out


def variance_ratio(
    num: xr.DataArray,
    den: xr.DataArray,
    mask: xr.DataArray | None = None,
    *,
    run_dims: Sequence[str] = ("seed",),
    turn_dim: str = "turn",
    reps: int = VARIANCE_REPS,
    ci: float = CI,
    seed: int = SEED,
) -> dict[str, float]:
    """``Var(num) / Var(den)`` over real turns pooled, with a paired hierarchical bootstrap.

    ``num`` and ``den`` are two advantages on the same turns (e.g. A_low and flat GAE of the same runs),
    same dims: ``run_dims`` (stacked into the top bootstrap level), ``turn_dim`` and unit dims (episodes).
    A turn counts when ``mask`` holds and both advantages are finite; every replicate applies the same
    run and episode draws to both, so the ratio's CI reflects the pairing.
    """
    if num.dims != den.dims or num.shape != den.shape:
        raise ValueError(f"num and den must share dims and shape, saw {num.sizes} and {den.sizes}")
    run_dims = tuple(run_dims)
    for d in (*run_dims, turn_dim):
        if d not in num.dims:
            raise ValueError(f"advantages have no dim {d!r}; dims seen: {num.dims}")
    real = num.notnull() & den.notnull()
    if mask is not None:
        real = real & mask.fillna(False).astype(bool)
    units = [d for d in num.dims if d not in (*run_dims, turn_dim)]
    order = (*run_dims, *units, turn_dim)
    n_runs = int(np.prod([num.sizes[d] for d in run_dims]))
    x = np.stack(
        [
            a.transpose(*order).values.astype(float).reshape(n_runs, -1, num.sizes[turn_dim])
            for a in (num, den)
        ]
    )
    m = real.transpose(*order).values.reshape(n_runs, -1, num.sizes[turn_dim])
    per_run = []
    for r in range(n_runs):
        rows = m[r].any(axis=1)
        if rows.any():
            per_run.append(_unit_moments(x[:, r][:, rows], m[r][rows], by_position=False))
    if not per_run:
        raise ValueError("no run has a turn where both advantages exist")
    point, rep = hierarchical_variance(per_run, reps, np.random.default_rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio, ratios = point[0, 0] / point[1, 0], rep[0, :, 0] / rep[1, :, 0]
    alpha = (1 - ci) / 2
    lo, hi = np.nanquantile(ratios, alpha), np.nanquantile(ratios, 1 - alpha)
    return {"estimate": float(ratio), "ci_low": float(lo), "ci_high": float(hi), "n_runs": len(per_run)}
