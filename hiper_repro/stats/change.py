"""What RL changed: each run's evaluation at the end against its own starting policy, paired per task.

Every run evaluates its starting policy before the first update (``eval_iteration`` 0) and again later on
the same fixed tasks with common random numbers (each task's sampling noise is fixed by the evaluation
seed and its id). So the change of run r on task e is a paired difference::

    d[r, e] = success_end[r, e] - success_start[r, e]

and a method's change in a cell (env, horizon) is the mean of d over its runs (seeds) and tasks. Its
uncertainty has two sources: which seeds were trained and which tasks were drawn, so the bootstrap
resamples both, two-level: seeds with replacement, and task indices with replacement, the same task
draw for every run of the cell (the tasks are shared, and a task's difficulty is common to all runs).

Comparing two methods in a cell (``change_difference``: change_a - change_b, e.g. hiper against the
ppo-pe ablation, which starts from the same warm start) resamples each method's seeds independently and
the tasks jointly. Training success is summarised in windows of iterations (``training_windows``); it is
noisier and at another temperature than nothing, but it is what the policy actually did while learning.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hiper_repro.stats.bootstrap import CI, REPS, SEED, percentile_ci
from hiper_repro.stats.scores import EVAL_DIM, group
from hiper_repro.traces.schema import START_EVAL as START  # eval_iteration of the starting policy


def paired_success(tree: xr.DataTree | xr.Dataset, var: str = "success") -> tuple[xr.DataArray, xr.DataArray]:
    """Per run and evaluation episode: ``var`` at the start (eval_iteration 0) and at the run's last
    evaluation after it. Dims (method_name, env, horizon, seed, eval_episode); NaN where a run lacks either."""
    ev = group(tree, "evaluation")
    if START not in ev[EVAL_DIM].values:
        raise ValueError(
            "no evaluation of the starting policy (eval_iteration 0) in these traces: they were written "
            "before runs evaluated their start; rerun training to get paired changes"
        )
    values = ev[var].astype(float)
    start = values.sel({EVAL_DIM: START}, drop=True)
    later = values.where(values[EVAL_DIM] > START)
    has = later.notnull().any("eval_episode")
    last = has.cumsum(EVAL_DIM).argmax(EVAL_DIM)  # position of each run's last evaluation
    end = later.isel({EVAL_DIM: last}).drop_vars(EVAL_DIM, errors="ignore")
    end = end.where(has.any(EVAL_DIM))
    return start.rename("start"), end.rename("end")


def _resampled_means(d: np.ndarray, tasks: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """(reps,) means of a (seeds, tasks) difference table under drawn task indices (reps, tasks) and seed
    indices (reps, seeds)."""
    same_tasks = tasks[:, None, :].repeat(d.shape[0], 1)  # (reps, S, T): one task draw for every seed
    per_seed = np.take_along_axis(d[None], same_tasks, axis=2).mean(2)  # (reps, S)
    return np.take_along_axis(per_seed, seeds, axis=1).mean(1)


def _cell_replicates(d: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps,) bootstrap means of a (seeds, tasks) difference table: seeds and tasks resampled."""
    n_seeds, n_tasks = d.shape
    seeds = rng.integers(0, n_seeds, size=(reps, n_seeds))
    tasks = rng.integers(0, n_tasks, size=(reps, n_tasks))
    return _resampled_means(d, tasks, seeds)


def _table(start: xr.DataArray, end: xr.DataArray) -> tuple[np.ndarray, np.ndarray] | None:
    """(seeds, tasks) differences of one cell and the (seeds,) mask of the runs kept (None: no run).

    Tasks that no run of the cell played are the merged grid's padding (another cell evaluated more
    episodes) and are dropped first; then every run that lacks one of the remaining tasks, or either
    evaluation, is dropped.
    """
    d = (end - start).transpose("seed", "eval_episode").values
    d = d[:, np.isfinite(d).any(0)]
    ok = np.isfinite(d).all(1)
    if d.shape[1] == 0 or not ok.any():
        return None
    return d[ok], ok


def change_from_start(
    tree: xr.DataTree | xr.Dataset,
    *,
    var: str = "success",
    reps: int = REPS,
    ci: float = CI,
    seed: int = SEED,
) -> xr.Dataset:
    """Per (method_name, env, horizon): start, end and change (end - start) of evaluation ``var`` (success,
    or e.g. invalid_rate), the change's two-level bootstrap CI (seeds and tasks), n_runs and n_episodes
    (tasks per run)."""
    start, end = paired_success(tree, var)
    cells = start.isel(seed=0, eval_episode=0, drop=True)
    out = {
        k: xr.full_like(cells, np.nan, dtype=float) for k in ("start", "end", "change", "ci_low", "ci_high")
    }
    out |= {k: xr.full_like(cells, 0, dtype=int) for k in ("n_runs", "n_episodes")}
    for i, index in enumerate(np.ndindex(cells.shape)):
        where = dict(zip(cells.dims, index))
        table = _table(start[where], end[where])
        if table is None:
            continue
        d, ok = table
        rep = _cell_replicates(d, reps, np.random.default_rng([seed, i]))
        lo, hi = percentile_ci(rep, ci)
        values = {
            "start": float(np.nanmean(start[where].values[ok])),
            "end": float(np.nanmean(end[where].values[ok])),
            "change": float(d.mean()),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "n_runs": d.shape[0],
            "n_episodes": d.shape[1],
        }
        for k, v in values.items():
            out[k][where] = v
    ds = xr.Dataset(out)
    ds.attrs = {"ci": ci, "reps": reps, "seed": seed, "bootstrap": "two-level: seeds, then tasks"}
    return ds


def change_difference_replicates(
    tree: xr.DataTree | xr.Dataset, a: str, b: str, *, reps: int = REPS, seed: int = SEED
) -> dict[tuple[str, int], tuple[float, np.ndarray]]:
    """Per cell (env, horizon) where both methods have paired runs on the same tasks: change_a - change_b
    and its (reps,) bootstrap replicates (each method's seeds resampled on their own, the shared tasks
    jointly; cell i of the (env, horizon) grid draws from ``default_rng([seed, i])``)."""
    start, end = paired_success(tree)
    for name in (a, b):
        if name not in start["method_name"].values:
            raise ValueError(
                f"method {name!r} not in the traces; methods: {start['method_name'].values.tolist()}"
            )
    cells = start.isel(method_name=0, seed=0, eval_episode=0, drop=True).transpose("env", "horizon")
    out = {}
    for i, index in enumerate(np.ndindex(cells.shape)):
        where = dict(zip(cells.dims, index))
        pair = [_table(start.sel(method_name=m)[where], end.sel(method_name=m)[where]) for m in (a, b)]
        if any(t is None for t in pair):
            continue
        (ta, _), (tb, _) = pair
        if ta.shape[1] != tb.shape[1]:
            continue
        rng = np.random.default_rng([seed, i])
        tasks = rng.integers(0, ta.shape[1], size=(reps, ta.shape[1]))  # shared; then each method's seeds
        rep_a, rep_b = (
            _resampled_means(t, tasks, rng.integers(0, len(t), size=(reps, len(t)))) for t in (ta, tb)
        )
        key = (str(cells["env"].values[index[0]]), int(cells["horizon"].values[index[1]]))
        out[key] = (float(ta.mean() - tb.mean()), rep_a - rep_b)
    return out


def change_difference(
    tree: xr.DataTree | xr.Dataset, a: str, b: str, *, reps: int = REPS, ci: float = CI, seed: int = SEED
) -> xr.Dataset:
    """Per (env, horizon): change_a - change_b with a bootstrap CI (each method's seeds resampled on their
    own, the shared tasks jointly); NaN where either method has no paired run."""
    start, _ = paired_success(tree)
    cells = start.isel(method_name=0, seed=0, eval_episode=0, drop=True).transpose("env", "horizon")
    out = {k: xr.full_like(cells, np.nan, dtype=float) for k in ("estimate", "ci_low", "ci_high")}
    for (env, h), (est, rep) in change_difference_replicates(tree, a, b, reps=reps, seed=seed).items():
        where = {"env": env, "horizon": h}
        lo, hi = percentile_ci(rep, ci)
        out["estimate"].loc[where] = est
        out["ci_low"].loc[where], out["ci_high"].loc[where] = float(lo), float(hi)
    ds = xr.Dataset(out)
    ds.attrs = {"a": a, "b": b, "ci": ci, "reps": reps, "seed": seed}
    return ds


def training_windows(tree: xr.DataTree | xr.Dataset, window: int = 5) -> xr.DataArray:
    """Training success per run in consecutive windows of ``window`` iterations: dims (..., window),
    coordinate = the window's first iteration. Episodes of a window are pooled (NaN-skipping)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    success = group(tree, "episodes")["success"].astype(float)
    first = (success["iteration"] // window) * window
    pooled = success.groupby(first.rename("window")).mean(dim=["iteration", "episode"], skipna=True)
    pooled["window"].attrs = {"long_name": "first iteration of the window"}
    return pooled.rename("training_success")
