"""The HiPER authors' runs, re-analysed: the paper's claims tested on imported veRL logs.

Input: the merged dataset of ``hiper-repro import-verl`` (dims ``run``, ``step``). Arms: ``baseline``
(runs of ``Options.baseline``, flat PPO), ``main`` (runs of ``Options.reference`` with the headline
variant: ``Options.variant``, else the variant with the most runs) and ``all`` (every reference run);
the sensitivity analysis also takes every reference run alone.

Uncertainty (see :mod:`hiper_repro.stats.noise`). Each validation point is a success rate over
``val_episodes`` (128) episodes and the flat arm is a single run, so a bootstrap over runs alone would
give the flat arm no uncertainty at all and the HiPER arm a spread from two runs. One replicate therefore
draws an arm's runs with replacement (when it has several) and then redraws every validation point of each
drawn run as ``Binomial(n, p_hat) / n``; every statistic (final, last-k and best success, steps to a
threshold, a curve's mean) is recomputed on the replicate curves, and intervals are percentile intervals.
Each set of runs has its own random stream, seeded by ``Options.seed`` and the runs' names (so the
input order does not matter and one run gets the same replicates wherever it appears); arms are thus
independent, and differences and ratios combine both arms' noise. What this leaves out:
the flat arm's seed-to-seed spread, which one run cannot show (the intervals of flat PPO are evaluation
noise only), and the validation tasks themselves, which depend on ``env.seed`` in these runs.
A redraw around the observed rate adds noise on top of the noise already in the observed curve, so the
replicate first-crossing steps lean early; the point estimates are those of the observed curves.

Steps to a threshold (:func:`hiper_repro.stats.efficiency.time_to_threshold` over ``step``): the first
validation step whose success is at least the threshold; a run that never gets there is censored at its
last validation step, which then stands in as a lower bound of its time. Sample-efficiency ratio:
``mean T(baseline) / mean T(subset)``; with a censored baseline it is a lower bound of the true ratio, with
a censored subset an upper bound, with both no bound (column ``bound``).

Per task type, the logs hold rates but not how many of the 128 episodes were of each type (it changes
from one validation to the next), so their bands resample runs only and flat PPO's curve has no band.

Switching (``episode/switch_count/mean`` over ``episode/length/mean``, switches per turn, per training
step): ``settle = early - late``, the mean over the first minus the last ``Options.window`` of the
training steps (:func:`hiper_repro.stats.dynamics.settling`); replicates draw runs and moving blocks of
steps within each window. The per-step time breakdown (``timing_s/*``) is descriptive.
"""

from __future__ import annotations

import json
import math
import re
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.stats import claims as cl
from hiper_repro.stats.bootstrap import percentile_ci
from hiper_repro.stats.dynamics import settling
from hiper_repro.stats.efficiency import time_to_threshold
from hiper_repro.stats.noise import block_means, run_draws, two_stage_curves
from hiper_repro.stats.scores import final_score, last_k_score

VAL = "val/success_rate"
SWITCHES, LENGTH = "episode/switch_count/mean", "episode/length/mean"
TASK_RATE = re.compile(r"val/(?!success_rate$)(.+)_success_rate")
PHASES = ("gen", "reward", "old_log_prob", "ref", "values", "adv", "update_critic", "update_actor")
# The paper (arXiv 2602.16165), ALFWorld with Qwen2.5-7B: about 50 iterations for HiPER to pass 80% against
# about 140 for PPO/GRPO. The authors' logs are 1.5B runs: the comparison is of direction and size only.
PUBLISHED_SPEEDUP = (2.5, 2.8)
DIM = "step"


@dataclass(frozen=True)
class Options:
    """Settings of the re-analysis."""

    thresholds: tuple[float, ...] = (0.5, 0.7, 0.8)  # success rates for steps-to-threshold
    claim_threshold: float = 0.8  # the paper's sample-efficiency threshold
    k: int = 3  # last-k validations averaged in the last_k score
    reps: int = 2000  # bootstrap replicates
    ci: float = 0.95
    seed: int = 0
    baseline: str = "ppo"  # the flat arm
    reference: str = "hiper"
    variant: str | None = None  # HiPER variant of the headline arm; None: the variant with the most runs
    window: float = 0.25  # switching: early and late fraction of training steps
    block: int = 5  # moving-block length (steps) for per-step training metrics


@dataclass
class Arms:
    """Run labels of each arm and the subsets of the sensitivity analysis."""

    baseline: list[str]
    main: list[str]
    variant: str
    subsets: dict[str, list[str]] = field(default_factory=dict)  # name -> runs (main, all, one per run)


def arms(ds: xr.Dataset, opts: Options = Options()) -> Arms:
    """Split the runs into the baseline arm, the headline HiPER arm and the sensitivity subsets."""
    runs = [str(r) for r in ds["run"].values]
    method = dict(zip(runs, map(str, ds["method_name"].values)))
    variant = dict(zip(runs, map(str, ds["variant"].values)))
    ref = [r for r in runs if method[r] == opts.reference]
    base = [r for r in runs if method[r] == opts.baseline]
    if not ref:
        return Arms(base, [], "")
    counts = pd.Series([variant[r] for r in ref]).value_counts(sort=False)
    chosen = opts.variant if opts.variant is not None else str(counts.idxmax())
    if chosen not in counts.index:
        raise ValueError(f"variant {chosen!r} has no {opts.reference} run; variants: {sorted(counts.index)}")
    main = [r for r in ref if variant[r] == chosen]
    subsets = {"main": main, "all": ref, **{r: [r] for r in ref}}
    return Arms(base, main, chosen, subsets)


def validation(ds: xr.Dataset, var: str = VAL) -> xr.DataArray:
    """``var`` (run, step) on the steps where some run was validated."""
    if var not in ds:
        raise ValueError(f"the runs have no {var!r}; metrics seen include {sorted(ds.data_vars)[:8]}")
    rates = ds[var]
    return rates.sel({DIM: rates.notnull().any("run")})


def episodes(ds: xr.Dataset, runs: list[str]) -> np.ndarray:
    """Episodes behind each validation point of ``runs`` (coordinate ``val_episodes``)."""
    n = ds["val_episodes"].sel(run=runs).values.astype(float)
    if not (np.isfinite(n) & (n >= 1)).all():
        bad = [r for r, v in zip(runs, n) if not (np.isfinite(v) and v >= 1)]
        raise ValueError(
            f"runs {bad} do not say how many episodes a validation has: import them with --val-episodes"
        )
    return n


def rng_for(opts: Options, purpose: str, runs: list[str]) -> np.random.Generator:
    """The random stream of one statistic of a set of runs: fixed by the seed, the purpose and the names."""
    return np.random.default_rng([opts.seed, zlib.crc32(f"{purpose}:{','.join(sorted(runs))}".encode())])


def replicates(ds: xr.Dataset, runs: list[str], opts: Options, var: str = VAL) -> xr.DataArray:
    """(rep, draw, step) two-stage replicate curves of ``runs`` (see the module docstring)."""
    runs = sorted(runs)  # the draws must not depend on the order the runs were given in
    rates = validation(ds, var).sel(run=runs)
    rng = rng_for(opts, var, runs)
    curves = two_stage_curves(rates.values, episodes(ds, runs), opts.reps, rng)
    return xr.DataArray(curves, dims=("rep", "draw", DIM), coords={DIM: rates[DIM].values})


def _summary(observed: float, reps: np.ndarray | None, ci: float) -> dict[str, float]:
    """Estimate and percentile interval; no interval without replicates (``reps=None``)."""
    if reps is None:
        return {"estimate": float(observed), "ci_low": np.nan, "ci_high": np.nan}
    finite = reps[np.isfinite(reps)]
    lo, hi = percentile_ci(finite, ci) if finite.size else (np.nan, np.nan)
    return {"estimate": float(observed), "ci_low": float(lo), "ci_high": float(hi)}


SCORES = {
    "start": lambda c, o: c.isel({DIM: c.notnull().argmax(DIM)}).drop_vars(DIM, errors="ignore"),
    "final": lambda c, o: final_score(c, DIM),
    "last_k": lambda c, o: last_k_score(c, o.k, DIM),
    "best": lambda c, o: c.max(DIM),
}
# The best validation (what a best-of-many report quotes) is shown for comparison only: the maximum of
# redrawn curves sits above the observed one, so a percentile interval around it would mislead.
NO_INTERVAL = {"best"}


def _restricted_time(curve: xr.DataArray, threshold: float) -> xr.DataArray:
    return time_to_threshold(curve, threshold, dim=DIM)["iterations_restricted"]


def _observed(ds: xr.Dataset, runs: list[str]) -> xr.DataArray:
    return validation(ds).sel(run=runs).rename(run="draw")


def run_table(ds: xr.Dataset, opts: Options) -> pd.DataFrame:
    """Per run: final, last-k and best success and the first step at each threshold, with CIs from
    evaluation noise alone (a single run)."""
    rows = []
    for run in map(str, ds["run"].values):
        rep = replicates(ds, [run], opts)
        obs = _observed(ds, [run])
        row: dict[str, Any] = {
            "run": run,
            "method": ds["method_name"].sel(run=run).item(),  # the table's column keeps the name `method`
            **{c: ds[c].sel(run=run).item() for c in ("seed", "variant")},
        }
        for name, fn in SCORES.items():
            spread = None if name in NO_INTERVAL else fn(rep, opts).values.ravel()
            s = _summary(float(fn(obs, opts).item()), spread, opts.ci)
            row.update({f"{name}{'' if k == 'estimate' else '_' + k}": v for k, v in s.items()})
        for t in opts.thresholds:
            tt = time_to_threshold(obs, t, dim=DIM)
            s = _summary(
                float(tt["iterations_restricted"].item()), _restricted_time(rep, t).values.ravel(), opts.ci
            )
            key = f"t{round(100 * t)}"
            row[f"{key}_step"] = float(tt["iterations"].item())
            row[f"{key}_reached"] = bool(tt["reached"].item())
            row[f"{key}_restricted"] = s["estimate"]
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = s["ci_low"], s["ci_high"]
        rows.append(row)
    return pd.DataFrame(rows)


def arm_curves(ds: xr.Dataset, groups: dict[str, list[str]], opts: Options, var: str = VAL) -> pd.DataFrame:
    """Per arm and validation step: the mean curve and its band (two-stage replicates)."""
    rows = []
    for arm, runs in groups.items():
        if not runs:
            continue
        obs = _observed(ds, runs).mean("draw")
        rep = replicates(ds, runs, opts, var).mean("draw")
        lo, hi = percentile_ci(rep.values, opts.ci)
        for j, step in enumerate(obs[DIM].values):
            rows.append({"arm": arm, "step": int(step), "estimate": float(obs[j]), "ci_low": float(lo[j]),
                         "ci_high": float(hi[j]), "n_runs": len(runs)})  # fmt: skip
    return pd.DataFrame(rows)


def task_type_curves(ds: xr.Dataset, groups: dict[str, list[str]], opts: Options) -> pd.DataFrame:
    """Per task type, arm and step: mean rate over the arm's runs; the band resamples runs only (NaN for
    an arm of one run: per-type episode counts are not logged)."""
    rows = []
    types = [(m.group(1), str(v)) for v in ds.data_vars if (m := TASK_RATE.fullmatch(str(v)))]
    for task, var in types:
        rates = validation(ds, var)
        for arm, runs in groups.items():
            if not runs:
                continue
            x = rates.sel(run=sorted(runs)).values
            mean = x.mean(axis=0)
            lo = hi = np.full(x.shape[1], np.nan)
            if len(runs) > 1:
                draws = run_draws(len(runs), opts.reps, rng_for(opts, var, runs))
                with warnings.catch_warnings():  # a step where no drawn run has the type: NaN, not a warning
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, hi = percentile_ci(np.nanmean(x[draws], axis=1), opts.ci)
            for j, step in enumerate(rates[DIM].values):
                rows.append({"task_type": task, "arm": arm, "step": int(step), "estimate": mean[j],
                             "ci_low": lo[j], "ci_high": hi[j], "n_runs": len(runs)})  # fmt: skip
    return pd.DataFrame(rows)


def arm_scores(
    ds: xr.Dataset, groups: dict[str, list[str]], opts: Options
) -> tuple[pd.DataFrame, dict[str, xr.DataArray]]:
    """Per arm: final, last-k and best success (mean over runs, two-stage CI); also the replicate curves,
    for the comparisons built on them."""
    rows, reps = [], {}
    for arm, runs in groups.items():
        if not runs:
            continue
        reps[arm] = replicates(ds, runs, opts)
        obs = _observed(ds, runs)
        for name, fn in SCORES.items():
            spread = None if name in NO_INTERVAL else fn(reps[arm], opts).mean("draw").values
            s = _summary(float(fn(obs, opts).mean("draw")), spread, opts.ci)
            rows.append({"arm": arm, "score": name, **s, "n_runs": len(runs)})
    return pd.DataFrame(rows), reps


def efficiency(ds: xr.Dataset, a: Arms, reps: dict[str, xr.DataArray], opts: Options) -> pd.DataFrame:
    """Sample-efficiency ratio ``mean T(baseline) / mean T(subset)`` per threshold and HiPER subset."""
    rows = []
    if not a.baseline:
        return pd.DataFrame(rows)
    base_obs = _observed(ds, a.baseline)
    for t in opts.thresholds:
        tb = time_to_threshold(base_obs, t, dim=DIM)
        tb_reps = time_to_threshold(reps["baseline"], t, dim=DIM)
        tb_rep = tb_reps["iterations_restricted"]
        for subset, runs in a.subsets.items():
            ts = time_to_threshold(_observed(ds, runs), t, dim=DIM)
            ts_rep = _restricted_time(reps[subset], t)
            with np.errstate(divide="ignore", invalid="ignore"):
                obs = float(tb["iterations_restricted"].mean() / ts["iterations_restricted"].mean())
                rep = (tb_rep.mean("draw") / ts_rep.mean("draw")).values
            rows.append({
                "threshold": t, "subset": subset, "n_runs": len(runs), **_summary(obs, rep, opts.ci),
                "baseline_step": float(tb["iterations_restricted"].mean()),
                "subset_step": float(ts["iterations_restricted"].mean()),
                "baseline_reached": bool(tb["reached"].all()), "subset_reached": int(ts["reached"].sum()),
                "baseline_censored_share": float(1 - tb_reps["reached"].mean()),
                "bound": _bound(bool(tb["reached"].all()), bool(ts["reached"].all())),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _bound(baseline_reached: bool, subset_reached: bool) -> str:
    """What a ratio of restricted times is: exact, a lower bound (the baseline is censored), an upper bound
    (the subset is), or no bound at all (both are)."""
    return {(True, True): "exact", (False, True): "lower", (True, False): "upper"}.get(
        (baseline_reached, subset_reached), "none"
    )


def switch_rates(ds: xr.Dataset, runs: list[str]) -> xr.DataArray:
    """Switches per turn (run, step) of those ``runs`` that log switch counts, on the steps that have any."""
    if SWITCHES not in ds or LENGTH not in ds:
        return xr.DataArray(np.empty((0, 0)), dims=("run", DIM))
    have = [r for r in runs if bool(ds[SWITCHES].sel(run=r).notnull().any())]
    rate = (ds[SWITCHES] / ds[LENGTH]).sel(run=have)
    return rate.sel({DIM: rate.notnull().any("run")})


def switch_curves(ds: xr.Dataset, runs: list[str]) -> pd.DataFrame:
    """Per run and training step: switches per turn and switches per episode."""
    rate = switch_rates(ds, runs)
    if rate.size == 0:
        return pd.DataFrame(columns=["run", "step", "switches_per_turn", "switch_count"])
    counts = ds[SWITCHES].sel(run=rate["run"], step=rate[DIM])
    table = rate.rename("switches_per_turn").to_dataframe()[["switches_per_turn"]]
    table["switch_count"] = counts.values.ravel()
    return table.reset_index()[["run", "step", "switches_per_turn", "switch_count"]]


def switch_settling(ds: xr.Dataset, runs: list[str], opts: Options) -> dict[str, float]:
    """``settle`` = early minus late switches per turn, mean over ``runs``, with CI (runs, then moving
    blocks of steps within each window); also the early, late and peak rates. Empty without switch data."""
    rate = switch_rates(ds, runs)
    if rate.size == 0:
        return {}
    rate = rate.sortby("run")
    have = [str(r) for r in rate["run"].values]
    w = max(1, int(round(opts.window * rate.sizes[DIM])))
    early, late = rate.isel({DIM: slice(0, w)}), rate.isel({DIM: slice(-w, None)})
    rng = rng_for(opts, SWITCHES, have)
    draws = run_draws(len(have), opts.reps, rng)
    # (positions, runs, reps): each drawn position gets its own block resample, even of a repeated run
    per = np.empty((draws.shape[1], len(have), opts.reps))
    for j in range(draws.shape[1]):
        for i, r in enumerate(have):
            e = block_means(early.sel(run=r).values, opts.reps, opts.block, rng)
            per[j, i] = e - block_means(late.sel(run=r).values, opts.reps, opts.block, rng)
    rep = per[np.arange(draws.shape[1])[None, :], draws, np.arange(opts.reps)[:, None]].mean(axis=1)
    mean = rate.mean("run")
    return {
        **_summary(float(settling(rate, opts.window, dim=DIM).mean()), rep, opts.ci),
        "early": float(early.mean()),
        "late": float(late.mean()),
        "late_segment_turns": float(1 / late.mean()),
        "peak": float(mean.max()),
        "peak_step": int(mean.idxmax(DIM)),
        "window_steps": w,
        "n_runs": len(have),
    }


def timing(ds: xr.Dataset) -> pd.DataFrame:
    """Per run: mean seconds per training step in each phase (``timing_s/*``), validation cost, GPUs."""
    rows = []
    for run in map(str, ds["run"].values):
        r = ds.sel(run=run)
        if "timing_s/step" not in r or not bool(r["timing_s/step"].notnull().any()):
            continue
        overrides = json.loads(str(r["overrides"].item()) or "{}")
        testing = (
            r["timing_s/testing"] if "timing_s/testing" in r else xr.full_like(r["timing_s/step"], np.nan)
        )
        train = r["timing_s/step"].where(testing.isnull())  # validation steps also carry the test's time
        row: dict[str, Any] = {"run": run, "method": str(r["method_name"].item())}
        for phase in PHASES:
            var = f"timing_s/{phase}"
            row[phase] = float(r[var].where(testing.isnull()).mean()) if var in r else np.nan
        row["other"] = float(train.mean()) - np.nansum([row[p] for p in PHASES])
        row["step_s"] = float(train.mean())
        row["validation_s"] = float(testing.mean())
        gpus = int(overrides.get("trainer.n_gpus_per_node", 0) or 0) * int(
            overrides.get("trainer.nnodes", 1) or 1
        )
        batch = int(overrides.get("data.train_batch_size", 0) or 0)
        row["gpus"] = gpus or np.nan
        row["episodes_per_step"] = batch or np.nan
        row["gpu_s_per_episode"] = row["step_s"] * gpus / batch if gpus and batch else np.nan
        row["run_gpu_hours"] = float(r["timing_s/step"].sum()) * gpus / 3600 if gpus else np.nan
        row["tokens_per_step"] = (
            float(r["perf/total_num_tokens"].mean()) if "perf/total_num_tokens" in r else np.nan
        )
        rows.append(row)
    return pd.DataFrame(rows)


def claims(
    a: Arms,
    scores: dict[str, xr.DataArray],
    eff: pd.DataFrame,
    switch: dict[str, float],
    opts: Options,
    obs_final: dict[str, float],
) -> dict[str, dict]:
    """The paper's claims decided on the logs (:mod:`hiper_repro.stats.claims` rules)."""
    out: dict[str, dict] = {}
    if a.baseline and a.main:
        diff = (scores["main"] - scores["baseline"]).values
        s = _summary(obs_final["main"] - obs_final["baseline"], diff, opts.ci)
        out["higher_final_success"] = cl.claim(
            "higher_final_success", s["estimate"], s["ci_low"], s["ci_high"], null=0.0, better="above",
            measure="final validation success, headline HiPER variant minus flat PPO",
        )  # fmt: skip
        row = eff[(eff["threshold"] == opts.claim_threshold) & (eff["subset"] == "main")]
        if len(row):
            r = row.iloc[0]
            out["sample_efficiency"] = cl.claim(
                "sample_efficiency", r["estimate"], r["ci_low"], r["ci_high"], null=1.0, better="above",
                measure=f"steps to {opts.claim_threshold:.0%} validation success, flat PPO / HiPER"
                + {"lower": " (flat PPO never reached it: a lower bound)", "upper": " (an upper bound)",
                   "none": " (both sides censored: no bound)"}.get(r["bound"], ""),
            )  # fmt: skip
    else:
        for name in ("higher_final_success", "sample_efficiency"):
            out[name] = cl.undecided(name, f"needs runs of both {opts.reference!r} and {opts.baseline!r}")
    if switch:
        out["switching_settles"] = cl.claim(
            "switching_settles", switch["estimate"], switch["ci_low"], switch["ci_high"], null=0.0,
            better="above", measure="switches per turn, first minus last quarter of training",
        )  # fmt: skip
    else:
        out["switching_settles"] = cl.undecided("switching_settles", "no run logs episode/switch_count")
    out["larger_gains_at_longer_horizons"] = cl.undecided(
        "larger_gains_at_longer_horizons", "the logs hold one environment and no control of the horizon"
    )
    out["hae_lower_variance"] = cl.undecided(
        "hae_lower_variance",
        "the logs hold only the mean, max and min of each advantage per step, not variances on matched turns",
    )
    return out


def _plain(v: Any) -> Any:
    """JSON-ready: numpy scalars unwrapped, non-finite floats as None."""
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return [_plain(x) for x in v] if isinstance(v, list | tuple) else v


def run_ends(ds: xr.Dataset) -> dict[str, int]:
    """Per run, the last step at which it logged any metric."""
    present = xr.concat([ds[v].notnull() for v in ds.data_vars], "metric").any("metric")
    last = ds[DIM].where(present).max(DIM)
    return {str(r): int(v) for r, v in zip(ds["run"].values, last.values)}


def common_steps(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, int]]:
    """``ds`` on the steps every run reached, and each run's last step.

    Runs that end at different steps (a log cut short, a run stopped early) are never compared at
    "their last step": a baseline cut at step 54 would put its final success against HiPER's at step
    150. Every statistic is computed on the steps up to the earliest end instead.
    """
    ends = run_ends(ds)
    return ds.sel({DIM: ds[DIM] <= min(ends.values())}), ends


def steps_note(numbers: dict[str, Any]) -> str | None:
    """What the comparison left out, in words: runs that end early, logs whose text was cut; None when
    every run reached the same step from an intact log."""
    prefix = "authors.meta.run_last_step."
    ends = {k.removeprefix(prefix): v for k, v in numbers.items() if k.startswith(prefix)}
    cut = numbers["authors.meta.truncated_runs"]
    common = numbers["authors.meta.last_step"]
    parts = []
    short = {r: s for r, s in ends.items() if s < max(ends.values())}
    if short:
        listed = ", ".join(f"{r} at step {s}" for r, s in short.items())
        parts.append(
            f"runs end at different steps ({listed}; the others at step {max(ends.values())}): every "
            f"comparison, claims included, uses steps 0-{common}, the steps all runs reached"
        )
    if cut:
        parts.append(f"the logs of {', '.join(cut)} are truncated (text lost after their last step)")
    return "; ".join(parts) or None


def analyse(ds: xr.Dataset, opts: Options = Options()) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every table and number of the re-analysis, on the steps every run reached (:func:`common_steps`);
    numbers are flat ``authors.*`` keys (see numbers_from)."""
    ds, ends = common_steps(ds)
    a = arms(ds, opts)
    groups = {"baseline": a.baseline, **a.subsets}
    runs = run_table(ds, opts)
    scores, reps = arm_scores(ds, groups, opts)
    eff = efficiency(ds, a, reps, opts)
    obs_final = {arm: float(final_score(_observed(ds, r), DIM).mean()) for arm, r in groups.items() if r}
    final_reps = {arm: final_score(c, DIM).mean("draw") for arm, c in reps.items()}
    switch = switch_settling(ds, a.main, opts)
    verdicts = claims(a, final_reps, eff, switch, opts, obs_final)
    tables = {
        "runs": runs,
        "arms": scores,
        "curves": arm_curves(
            ds, {"baseline": a.baseline, "main": a.main, "all": a.subsets.get("all", [])}, opts
        ),
        "task_types": task_type_curves(ds, {"baseline": a.baseline, "main": a.main}, opts),
        "efficiency": eff,
        "switching": switch_curves(ds, a.subsets.get("all", [])),
        "timing": timing(ds),
        "claims": pd.DataFrame(
            [
                {"claim": n, **{k: v for k, v in c.items() if not isinstance(v, list)}}
                for n, c in verdicts.items()
            ]
        ),  # fmt: skip
    }
    numbers = numbers_from(ds, a, tables, switch, verdicts, opts)
    numbers.update({f"authors.meta.run_last_step.{r}": s for r, s in ends.items()})
    cut = ds["truncated"].values if "truncated" in ds.coords else np.zeros(ds.sizes["run"])
    numbers["authors.meta.truncated_runs"] = [str(r) for r, t in zip(ds["run"].values, cut) if int(t)]
    return tables, numbers


ARM_NAMES = ("baseline", "main", "all")
RATIO_FIELDS = ("estimate", "ci_low", "ci_high", "n_runs", "baseline_step", "subset_step", "bound")
COST_FIELDS = ("step_s", "gen", "validation_s", "gpus", "gpu_s_per_episode", "run_gpu_hours")
SWITCH_FIELDS = (
    "estimate",
    "ci_low",
    "ci_high",
    "early",
    "late",
    "peak",
    "peak_step",
    "late_segment_turns",
    "n_runs",
)


def numbers_from(
    ds: xr.Dataset, a: Arms, tables: dict[str, pd.DataFrame], switch: dict, verdicts: dict, opts: Options
) -> dict[str, Any]:
    """Flat ``authors.*`` keys for the paper. Keys the manuscript reads whatever the logs are (arms,
    the claim threshold's ratios, switching, cost per arm) always exist, null where the logs lack them::

        authors.meta.*                               runs, arms, variant, settings
        authors.run.{run}.{score|score_ci_*|tNN_*}   per run (see run_table)
        authors.arm.{arm}.{start|final|last_k|best}.{estimate,ci_low,ci_high,n_runs}
        authors.ratio.{tNN|claim}.{subset}.{estimate,ci_low,ci_high,bound,...}
        authors.switch.{estimate,ci_low,ci_high,early,late,peak,peak_step,...}
        authors.timing.{run}.*, authors.cost.{arm}.*  (mean over the arm's runs)
        authors.claims.{name}.*                      see hiper_repro.stats.claims
    """
    n: dict[str, Any] = {
        "authors.meta.runs": [str(r) for r in ds["run"].values],
        "authors.meta.n_runs": int(ds.sizes["run"]),
        "authors.meta.baseline_runs": a.baseline,
        "authors.meta.n_baseline": len(a.baseline),
        "authors.meta.main_runs": a.main,
        "authors.meta.n_main": len(a.main),
        "authors.meta.main_variant": a.variant,
        "authors.meta.n_reference": len(a.subsets.get("all", [])),
        "authors.meta.seeds": sorted({int(s) for s in ds["seed"].values}),
        "authors.meta.baseline_seeds": sorted({int(ds["seed"].sel(run=r)) for r in a.baseline}),
        "authors.meta.reference_seeds": sorted(
            {int(ds["seed"].sel(run=r)) for r in a.subsets.get("all", [])}
        ),
        "authors.meta.val_episodes": sorted({int(v) for v in ds["val_episodes"].values if v > 0}),
        "authors.meta.thresholds": list(opts.thresholds),
        "authors.meta.claim_threshold": opts.claim_threshold,
        "authors.meta.reps": opts.reps,
        "authors.meta.ci": opts.ci,
        "authors.meta.k": opts.k,
        "authors.meta.last_step": int(ds[DIM].max()),
    }
    fields = ("estimate", "ci_low", "ci_high", "n_runs")
    n.update({f"authors.arm.{arm}.{sc}.{f}": None for arm in ARM_NAMES for sc in SCORES for f in fields})
    n.update({f"authors.ratio.claim.{sub}.{f}": None for sub in ("main", "all") for f in RATIO_FIELDS})
    n.update({f"authors.switch.{f}": None for f in SWITCH_FIELDS})
    n.update({f"authors.cost.{arm}.{f}": None for arm in ("baseline", "main") for f in COST_FIELDS})
    for row in tables["runs"].to_dict("records"):
        for key, v in row.items():
            if key not in ("run", "method", "variant"):
                n[f"authors.run.{row['run']}.{key}"] = v
    for row in tables["arms"].to_dict("records"):
        for key in ("estimate", "ci_low", "ci_high", "n_runs"):
            n[f"authors.arm.{row['arm']}.{row['score']}.{key}"] = row[key]
    for row in tables["efficiency"].to_dict("records"):
        names = [f"t{round(100 * row['threshold'])}"] + (
            ["claim"] if row["threshold"] == opts.claim_threshold else []
        )
        for name in names:
            for key, v in row.items():
                if key not in ("threshold", "subset"):
                    n[f"authors.ratio.{name}.{row['subset']}.{key}"] = v
    for key, v in switch.items():
        n[f"authors.switch.{key}"] = v
    timing_rows = tables["timing"]
    for row in timing_rows.to_dict("records"):
        for key, v in row.items():
            if key not in ("run", "method"):
                n[f"authors.timing.{row['run']}.{key}"] = v
    for arm, runs in (("baseline", a.baseline), ("main", a.main)):
        sub = timing_rows[timing_rows["run"].isin(runs)] if len(timing_rows) else timing_rows
        for f in COST_FIELDS if len(sub) else ():
            n[f"authors.cost.{arm}.{f}"] = float(sub[f].mean())
    for name, c in verdicts.items():
        for key, v in c.items():
            n[f"authors.claims.{name}.{key}"] = v
    return {k: _plain(v) for k, v in n.items()}
