"""Resampling the noise inside runs, for logs that hold rates and per-step summaries instead of episodes.

Two sources of uncertainty sit inside one training run and a bootstrap over runs alone ignores both; with
a single run per method (the HiPER authors' flat PPO arm) it would report no uncertainty at all:

- evaluation noise: a validation point is a success rate over ``n`` episodes, ``p_hat = k / n``. Evaluated
  again, the same policy would score ``K / n`` with ``K ~ Binomial(n, p)``. :func:`two_stage_curves`
  redraws every point that way around the observed rate (a parametric bootstrap), after drawing the runs
  themselves with replacement when the arm has more than one. Each drawn run gets its own redraw, as in a
  hierarchical bootstrap (runs, then episodes within runs). With one run the interval is evaluation noise
  only and says nothing about seed-to-seed spread; with two runs the between-run part is crude.
- step-to-step noise of training metrics (a per-step mean over one batch of episodes), autocorrelated
  along training: :func:`block_means` resamples steps in moving blocks, which keeps short-range
  correlation that an i.i.d. resample of steps would break (Kuensch 1989).

Every function takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np


def run_draws(n_runs: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, n_runs) indices of runs drawn with replacement; the identity when there is only one run."""
    if n_runs < 1:
        raise ValueError(f"need at least one run, saw {n_runs}")
    if n_runs == 1:
        return np.zeros((reps, 1), dtype=np.int64)
    return rng.integers(0, n_runs, size=(reps, n_runs))


def two_stage_curves(
    rates: np.ndarray, episodes: np.ndarray, reps: int, rng: np.random.Generator
) -> np.ndarray:
    """(reps, n_runs, n_points) replicate curves: runs drawn with replacement, then each validation point
    redrawn as ``Binomial(n, p_hat) / n``.

    ``rates`` (n_runs, n_points) holds observed success rates in [0, 1] (NaN where a run has no point);
    ``episodes`` (n_runs,) the episodes behind each point of a run. NaN stays NaN.
    """
    rates = np.asarray(rates, dtype=float)
    n = np.asarray(episodes, dtype=float)
    if rates.ndim != 2 or n.shape != rates.shape[:1]:
        raise ValueError(
            f"rates must be (runs, points) and episodes (runs,), saw {rates.shape} and {n.shape}"
        )
    if not (np.isfinite(n).all() and (n >= 1).all()):
        raise ValueError(f"episodes per validation must be known and >= 1, saw {n.tolist()}")
    draws = run_draws(rates.shape[0], reps, rng)
    p = rates[draws]  # (reps, runs, points)
    size = np.broadcast_to(n[draws][..., None], p.shape)
    counts = rng.binomial(size.astype(np.int64), np.clip(np.nan_to_num(p), 0.0, 1.0))
    return np.where(np.isnan(p), np.nan, counts / size)


def block_means(x: np.ndarray, reps: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """(reps,) means of moving-block resamples of the 1-D series ``x`` (NaN dropped first).

    Blocks of ``block`` consecutive values start uniformly at random; enough of them are concatenated to
    cover the series' length, and the excess is cut. ``block = 1`` is the i.i.d. bootstrap of the mean.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.full(reps, np.nan)
    b = int(min(max(block, 1), x.size))
    n_blocks = -(-x.size // b)
    starts = rng.integers(0, x.size - b + 1, size=(reps, n_blocks))
    index = (starts[..., None] + np.arange(b)).reshape(reps, -1)[:, : x.size]
    return x[index].mean(axis=1)
