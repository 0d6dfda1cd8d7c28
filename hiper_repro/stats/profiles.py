"""Performance profiles (Agarwal et al. 2021): the fraction of runs whose score exceeds each threshold.

    F(tau) = (1/n) sum_i [x_i > tau]      over the runs pooled across task cells

with a stratified bootstrap percentile band (see :mod:`hiper_repro.stats.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from hiper_repro.stats.bootstrap import CI, REPS, SEED, blocks, percentile_ci, resample


def performance_profile(
    scores: xr.DataArray,
    taus: Sequence[float] | np.ndarray | None = None,
    *,
    keep: Sequence[str] = ("method_name",),
    sample_dim: str = "seed",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> xr.Dataset:
    """Fraction of runs with score > tau, per ``keep`` combination and tau, with bootstrap bands.

    ``taus`` defaults to 101 points on [0, 1]. Returns a Dataset with dims ``keep + ("tau",)`` and variables
    ``estimate``, ``ci_low``, ``ci_high``.
    """
    taus = np.linspace(0.0, 1.0, 101) if taus is None else np.asarray(taus, float)
    if taus.ndim != 1 or taus.size == 0:
        raise ValueError(f"taus must be a non-empty 1-D sequence, saw shape {taus.shape}")
    groups, template = blocks(scores, keep, sample_dim)

    def frac(x: np.ndarray) -> np.ndarray:  # (reps, n) -> (reps, n_tau)
        return (x[:, :, None] > taus).mean(axis=1)

    est, lo, hi = (np.full((len(groups), taus.size), np.nan) for _ in range(3))
    for g, cells in enumerate(groups):
        if not cells:
            continue
        est[g] = frac(np.concatenate(cells)[None])[0]
        lo[g], hi[g] = percentile_ci(frac(resample(cells, reps, np.random.default_rng([seed, g]))), ci)
    base = template.expand_dims(tau=taus, axis=-1)
    out = xr.Dataset(
        {
            n: base.copy(data=v.reshape(base.shape))
            for n, v in (("estimate", est), ("ci_low", lo), ("ci_high", hi))
        }
    )
    out.attrs = {"ci": ci, "reps": reps, "seed": seed}
    return out
