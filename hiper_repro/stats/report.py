"""Every statistic the paper quotes, from one merged trace tree: tidy tables plus flat ``numbers``.

:func:`compute` returns ``(tables, numbers)``. ``tables`` maps a CSV name to a tidy DataFrame (one row
per estimate). ``numbers`` maps dotted keys to plain values (success is a fraction in [0, 1]; NaN
becomes ``null`` in JSON). Keys (``{env}``, ``{method}``, ``{h}`` the horizon, ``{ref}`` the reference
method, ``{b}`` another method, ``{est}`` an advantage estimator ``flat``/``low``/``high``)::

    meta.{methods,envs,horizons,seeds,n_runs,reps,ci,k,threshold,reference}
    final_success.{env}.h{h}.{method}.{mean,ci_low,ci_high,n_runs}        final evaluation, per cell
    last_k_success.{env}.h{h}.{method}.{mean,ci_low,ci_high,n_runs}       mean of the last k evaluations
    aggregate.{final|last_k}.{mean|iqm}.{method}.{estimate,ci_low,ci_high,n_runs}   pooled over cells
    aggregate_by_env.final.mean.{env}.{method}.{estimate,ci_low,ci_high,n_runs}     pooled over horizons
    task_type.{env}.h{h}.{task_type}.{method}.{mean,ci_low,ci_high}      final success per task type
    change.{env}.h{h}.{method}.{start,end,change,ci_low,ci_high,n_runs,n_episodes}   end - start, paired
    change_vs.{env}.h{h}.{ref}_vs_{b}.{estimate,ci_low,ci_high}          change of ref - change of b
    improvement.{ref}_vs_{b}.{estimate,ci_low,ci_high}                    P(ref > b) on final success
    welch.{env}.h{h}.{ref}_vs_{b}.{diff,ci_low,ci_high,t,df,p,p_holm,reject}
    sample_efficiency.{env}.h{h}.{method}.{iterations|env_steps}.{mean,ci_low,ci_high}
    sample_efficiency.{env}.h{h}.{method}.{n_reached,n_runs}
    speedup.{ref}_over_{b}.{estimate,ci_low,ci_high}                      restricted mean iterations b / ref
    variance.{env}.h{h}.{method}.{est}.{variance,ci_low,ci_high}          all turns pooled
    claims.{name}.{statement,verdict,estimate,ci_low,ci_high,null,...}    see hiper_repro.stats.claims

Tables: ``run_scores``, ``final_success`` (per cell, both scores), ``change_from_start``,
``change_difference``, ``training_windows``, ``aggregate``, ``aggregate_by_env``,
``task_types``,
``improvement``, ``welch``, ``performance_profile``, ``learning_curves``, ``time_to_threshold``
(per run, censoring visible), ``sample_efficiency``, ``switch_rate``, ``variance_by_position``,
``variance_by_horizon``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.stats import claims as cl
from hiper_repro.stats.bootstrap import aggregate, difference, difference_replicates, percentile_ci
from hiper_repro.stats.change import change_difference, change_from_start, training_windows
from hiper_repro.stats.compare import improvement, welch_tests
from hiper_repro.stats.dynamics import settling, switch_rate
from hiper_repro.stats.efficiency import env_steps_until, speedup, time_to_threshold
from hiper_repro.stats.profiles import performance_profile
from hiper_repro.stats.scores import EVAL_DIM, eval_curve, group, last_index, run_scores
from hiper_repro.stats.variance import advantage_variance, variance_ratio

ESTIMATORS = {"flat": "adv_flat", "low": "adv_low", "high": "adv_high"}  # label -> /turns variable
CELL = ("method", "env", "horizon")


@dataclass(frozen=True)
class Options:
    """Settings of one statistics report."""

    reference: str = "hiper"  # the method every comparison is made against
    k: int = 3  # last-k evaluations in the ``last_k`` score
    threshold: float = 0.8  # success rate for sample efficiency (paper: 80%)
    reps: int = 2000  # bootstrap replicates for run-level statistics
    variance_reps: int = 500  # hierarchical bootstrap replicates (advantage variance)
    ci: float = 0.95
    seed: int = 0
    efficiency_baselines: tuple[str, ...] = ("ppo", "grpo")  # the paper's sample-efficiency comparison


def tidy(ds: xr.Dataset) -> pd.DataFrame:
    """Dataset -> long DataFrame with one column per variable; rows whose estimate is NaN dropped."""
    df = ds.to_dataframe().reset_index()
    first = next(iter(ds.data_vars))
    return df[df[first].notna()].reset_index(drop=True)


def _key(x: Any) -> str:
    return str(x.item() if hasattr(x, "item") else x)


def _clean(v: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN as None, containers cleaned recursively."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _put(numbers: dict[str, Any], prefix: str, values: dict[str, Any]) -> None:
    for k, v in values.items():
        numbers[f"{prefix}.{k}"] = _clean(v)


def _cells(ds: xr.Dataset, dims: tuple[str, ...] = CELL):
    """Yield (coords dict, row dict) for every non-NaN cell of a per-cell aggregate."""
    for row in tidy(ds).to_dict("records"):
        yield {d: row[d] for d in dims}, row


def task_type_success(tree: xr.DataTree) -> xr.DataArray:
    """Per run and task type: success on the final evaluation (dims method, env, horizon, seed, task_type)."""
    ev = group(tree, "evaluation")
    curve = eval_curve(ev)
    last = last_index(curve)
    final = ev[["success", "task_type"]].isel({EVAL_DIM: last}).drop_vars(EVAL_DIM, errors="ignore")
    types = sorted({str(t) for t in np.unique(final["task_type"].values) if str(t)})
    if not types:
        raise ValueError("evaluation group has no task_type labels")
    per_type = [
        final["success"].astype(float).where(final["task_type"] == t).mean("eval_episode") for t in types
    ]
    return xr.concat(per_type, pd.Index(types, name="task_type")).rename("success")


def _decide(
    name: str, results: dict[str, dict[str, float]], null: float, better: str, **details: Any
) -> dict:
    """Claim decided by the least favourable comparison (see the rule in hiper_repro.stats.claims)."""
    ok = {b: r for b, r in results.items() if np.isfinite(r["ci_low"])}
    if not ok:
        return cl.undecided(name, "no comparison could be computed")
    if better == "above":
        against = [b for b, r in ok.items() if r["ci_high"] < null]
        pick = (
            min(against, key=lambda b: ok[b]["ci_high"])
            if against
            else min(ok, key=lambda b: ok[b]["ci_low"])
        )
    else:
        against = [b for b, r in ok.items() if r["ci_low"] > null]
        pick = (
            max(against, key=lambda b: ok[b]["ci_low"])
            if against
            else max(ok, key=lambda b: ok[b]["ci_high"])
        )
    r = ok[pick]
    return cl.claim(
        name, r["estimate"], r["ci_low"], r["ci_high"], null=null, better=better, deciding=pick, **details
    )


def _change_section(
    tree: xr.DataTree,
    ref: str,
    others: list[str],
    boot: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    numbers: dict[str, Any],
) -> None:
    """Tables ``change_from_start`` and ``change_difference`` and their numbers (see the docstring); a
    tree without starting evaluations gets neither."""
    if not (group(tree, "evaluation")[EVAL_DIM] < 0).any():
        return
    change = change_from_start(tree, **boot)
    tables["change_from_start"] = tidy(
        change[["change", "ci_low", "ci_high", "start", "end", "n_runs", "n_episodes"]]
    )
    for c, row in _cells(change[["change", "ci_low", "ci_high", "start", "end", "n_runs", "n_episodes"]]):
        values = {k: row[k] for k in ("start", "end", "change", "ci_low", "ci_high")}
        values |= {"n_runs": int(row["n_runs"]), "n_episodes": int(row["n_episodes"])}
        _put(numbers, f"change.{c['env']}.h{c['horizon']}.{c['method']}", values)
    rows = []
    for b in others:
        diff = change_difference(tree, ref, b, **boot)
        for c, row in _cells(diff, ("env", "horizon")):
            rows.append({"method_a": ref, "method_b": b, **c, **row})
            _put(
                numbers,
                f"change_vs.{c['env']}.h{c['horizon']}.{ref}_vs_{b}",
                {k: row[k] for k in ("estimate", "ci_low", "ci_high")},
            )
    tables["change_difference"] = pd.DataFrame(rows)
    windows = training_windows(tree)
    tables["training_windows"] = tidy(aggregate(windows, "mean", keep=(*CELL, "window"), **boot))


def compute(tree: xr.DataTree, opts: Options = Options()) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """All tables and numbers (see the module docstring) for a merged trace tree."""
    boot = {"reps": opts.reps, "ci": opts.ci, "seed": opts.seed}
    ref = opts.reference
    scores = run_scores(tree, opts.k)
    methods = [str(m) for m in scores["method"].values]
    if ref not in methods:
        raise ValueError(f"reference method {ref!r} not in the merged data; methods seen: {methods}")
    others = [m for m in methods if m != ref]
    final = scores["final"]
    tables: dict[str, pd.DataFrame] = {}
    numbers: dict[str, Any] = {}
    _put(
        numbers,
        "meta",
        {
            "methods": methods,
            "envs": [str(e) for e in scores["env"].values],
            "horizons": [int(h) for h in scores["horizon"].values],
            "seeds": [int(s) for s in scores["seed"].values],
            "n_runs": int(final.notnull().sum()),
            "reps": opts.reps,
            "ci": opts.ci,
            "k": opts.k,
            "threshold": opts.threshold,
            "reference": ref,
        },
    )

    # Per-run scores and per-cell means with bootstrap CIs over seeds.
    tables["run_scores"] = tidy(scores)
    per_cell = []
    for score in ("final", "last_k"):
        agg = aggregate(scores[score], "mean", keep=CELL, **boot)
        per_cell.append(tidy(agg).assign(score=score))
        for c, row in _cells(agg):
            key = (
                f"{score if score == 'final' else 'last_k'}_success.{c['env']}.h{c['horizon']}.{c['method']}"
            )
            _put(
                numbers,
                key,
                {
                    "mean": row["estimate"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                    "n_runs": int(row["n_runs"]),
                },
            )
    tables["final_success"] = pd.concat(per_cell, ignore_index=True)

    # Aggregates pooled over task cells (stratified bootstrap), mean and IQM.
    rows = []
    for score in ("final", "last_k"):
        for stat in ("mean", "iqm"):
            agg = aggregate(scores[score], stat, keep=("method",), **boot)
            rows.append(tidy(agg).assign(score=score, statistic=stat))
            for c, row in _cells(agg, ("method",)):
                _put(
                    numbers,
                    f"aggregate.{score}.{stat}.{c['method']}",
                    {k: row[k] for k in ("estimate", "ci_low", "ci_high")} | {"n_runs": int(row["n_runs"])},
                )
    tables["aggregate"] = pd.concat(rows, ignore_index=True)
    by_env = aggregate(final, "mean", keep=("method", "env"), **boot)
    tables["aggregate_by_env"] = tidy(by_env)
    for c, row in _cells(by_env, ("method", "env")):
        _put(
            numbers,
            f"aggregate_by_env.final.mean.{c['env']}.{c['method']}",
            {k: row[k] for k in ("estimate", "ci_low", "ci_high")} | {"n_runs": int(row["n_runs"])},
        )

    # Per task type (final evaluation), per cell.
    tt = task_type_success(tree)
    by_type = aggregate(tt, "mean", keep=(*CELL, "task_type"), **boot)
    tables["task_types"] = tidy(by_type)
    for c, row in _cells(by_type, (*CELL, "task_type")):
        _put(numbers, f"task_type.{c['env']}.h{c['horizon']}.{c['task_type']}.{c['method']}",
             {"mean": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]})  # fmt: skip

    # Pairwise: probability of improvement, Welch + Holm, performance profiles.
    poi = {b: improvement(final, ref, b, **boot) for b in others}
    tables["improvement"] = pd.DataFrame([{"method_a": ref, "method_b": b, **r} for b, r in poi.items()])
    for b, r in poi.items():
        _put(numbers, f"improvement.{ref}_vs_{b}", {k: r[k] for k in ("estimate", "ci_low", "ci_high")})
    welch = welch_tests(final, ref, **boot)
    tables["welch"] = welch
    for row in welch.to_dict("records"):
        _put(
            numbers,
            f"welch.{row['env']}.h{row['horizon']}.{ref}_vs_{row['method_b']}",
            {k: row[k] for k in ("diff", "ci_low", "ci_high", "t", "df", "p", "p_holm", "reject")},
        )
    tables["performance_profile"] = tidy(performance_profile(final, np.linspace(0, 1, 51), **boot))

    # What RL changed: each run against its own starting policy, paired per task.
    _change_section(tree, ref, others, boot, tables, numbers)

    # Learning curves and sample efficiency.
    curve = eval_curve(tree)
    tables["learning_curves"] = tidy(aggregate(curve, "mean", keep=(*CELL, EVAL_DIM), **boot | {"reps": 500}))
    steps = env_steps_until(tree, curve[EVAL_DIM])
    ttt = time_to_threshold(curve, opts.threshold, steps)
    tables["time_to_threshold"] = tidy(
        ttt[["iterations_restricted", "reached", "iterations", "budget", "env_steps", "env_steps_restricted"]]
    )
    eff = []
    for var, label in (("iterations_restricted", "iterations"), ("env_steps_restricted", "env_steps")):
        agg = aggregate(ttt[var], "mean", keep=CELL, **boot)
        eff.append(tidy(agg).assign(measure=label))
        for c, row in _cells(agg):
            _put(
                numbers,
                f"sample_efficiency.{c['env']}.h{c['horizon']}.{c['method']}.{label}",
                {"mean": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]},
            )
    n_reached = ttt["reached"].where(ttt["exists"], False).sum("seed")
    n_runs = ttt["exists"].sum("seed")
    counts = xr.Dataset({"n_reached": n_reached, "n_runs": n_runs}).to_dataframe().reset_index()
    counts = counts[counts["n_runs"] > 0]
    tables["sample_efficiency"] = pd.concat(eff, ignore_index=True).merge(
        counts[[*CELL, "n_reached"]], on=list(CELL)
    )
    for row in counts.to_dict("records"):
        _put(
            numbers,
            f"sample_efficiency.{row['env']}.h{row['horizon']}.{row['method']}",
            {"n_reached": int(row["n_reached"]), "n_runs": int(row["n_runs"])},
        )
    base = [b for b in opts.efficiency_baselines if b in others] or others
    sp = {b: speedup(ttt["iterations_restricted"], ref, b, **boot) for b in base}
    for b, r in sp.items():
        _put(numbers, f"speedup.{ref}_over_{b}", {k: r[k] for k in ("estimate", "ci_low", "ci_high")})

    # Switch-rate dynamics (plan-execute methods only).
    rate = switch_rate(tree)
    tables["switch_rate"] = tidy(aggregate(rate, "mean", keep=(*CELL, "iteration"), **boot | {"reps": 500}))

    # Advantage variance by turn position and pooled per cell, for every estimator a method logged.
    turns = group(tree, "turns")
    by_pos, by_h = [], []
    for method in methods:
        t = turns.sel({"method": method})
        for label, var in ESTIMATORS.items():
            if var not in t or not bool(t[var].notnull().any()):
                continue
            kw = {"keep": ("env", "horizon"), "reps": opts.variance_reps, "ci": opts.ci, "seed": opts.seed}
            by_pos.append(
                tidy(advantage_variance(t[var], t["mask"], **kw)).assign(method=method, estimator=label)
            )
            pooled = tidy(advantage_variance(t[var], t["mask"], by_position=False, **kw))
            by_h.append(pooled.assign(method=method, estimator=label))
            for row in pooled.to_dict("records"):
                _put(
                    numbers,
                    f"variance.{row['env']}.h{row['horizon']}.{method}.{label}",
                    {k: row[k] for k in ("variance", "ci_low", "ci_high")},
                )
    tables["variance_by_position"] = pd.concat(by_pos, ignore_index=True) if by_pos else pd.DataFrame()
    tables["variance_by_horizon"] = pd.concat(by_h, ignore_index=True) if by_h else pd.DataFrame()

    # Claims.
    verdicts = {
        "higher_final_success": _decide(
            "higher_final_success",
            {b: difference(final, ref, b, **boot) for b in others},
            0.0,
            "above",
            measure="difference in mean final success, pooled over cells",
        ),
        "larger_gains_at_longer_horizons": _horizon_claim(final, scores, ref, others, opts),
        "sample_efficiency": _decide(
            "sample_efficiency",
            sp,
            1.0,
            "above",
            threshold=opts.threshold,
            measure="restricted mean iterations to threshold, baseline / reference",
            n_censored={m: int((n_runs - n_reached).sel({"method": m}).sum()) for m in [ref, *sp]},
            consistent_with_2_5x=bool(sp) and any(r["ci_low"] <= 2.5 <= r["ci_high"] for r in sp.values()),
        ),
        "switching_settles": _switch_claim(rate, ref, opts),
        "hae_lower_variance": _variance_claim(turns, ref, opts),
    }
    for name, v in verdicts.items():
        _put(numbers, f"claims.{name}", v)
    tables["claims"] = pd.DataFrame(
        [
            {"claim": n, **{k: v[k] for k in ("verdict", "estimate", "ci_low", "ci_high", "statement")}}
            for n, v in verdicts.items()
        ]
    )
    return tables, numbers


def _horizon_claim(
    final: xr.DataArray, scores: xr.Dataset, ref: str, others: list[str], opts: Options
) -> dict:
    """Gain over the strongest baseline at the longest horizon minus the gain at the shortest."""
    name = "larger_gains_at_longer_horizons"
    horizons = sorted(int(h) for h in final["horizon"].values if final.sel(horizon=h).notnull().any())
    if len(horizons) < 2 or not others:
        return cl.undecided(name, "needs two horizons and a baseline")
    means = final.mean(("env", "horizon", "seed"))
    strongest = max(others, key=lambda b: float(means.sel({"method": b})))
    rng = np.random.default_rng(opts.seed)
    lo_h, hi_h = horizons[0], horizons[-1]
    e_hi, r_hi, _ = difference_replicates(final.sel(horizon=hi_h), ref, strongest, reps=opts.reps, rng=rng)
    e_lo, r_lo, _ = difference_replicates(final.sel(horizon=lo_h), ref, strongest, reps=opts.reps, rng=rng)
    lo, hi = percentile_ci(r_hi - r_lo, opts.ci)
    return cl.claim(
        name,
        e_hi - e_lo,
        float(lo),
        float(hi),
        null=0.0,
        better="above",
        deciding=strongest,
        horizons=[lo_h, hi_h],
        gain_short=e_lo,
        gain_long=e_hi,
        measure="(ref - strongest baseline) at the longest minus at the shortest horizon",
    )


def _switch_claim(rate: xr.DataArray, ref: str, opts: Options) -> dict:
    name = "switching_settles"
    r = rate.sel({"method": ref})
    if not bool(r.notnull().any()) or r.sizes["iteration"] < 2:
        return cl.undecided(name, f"{ref!r} has no switch decisions over two or more iterations")
    settle = settling(r).expand_dims(method=[ref])
    agg = aggregate(settle, "mean", keep=("method",), reps=opts.reps, ci=opts.ci, seed=opts.seed).isel(
        method=0
    )
    return cl.claim(
        name,
        float(agg["estimate"]),
        float(agg["ci_low"]),
        float(agg["ci_high"]),
        null=0.0,
        better="above",
        measure="switch rate, first quarter minus last quarter of training",
    )


def _variance_claim(turns: xr.Dataset, ref: str, opts: Options) -> dict:
    name = "hae_lower_variance"
    t = turns.sel({"method": ref})
    if not all(v in t and bool(t[v].notnull().any()) for v in ("adv_low", "adv_flat")):
        return cl.undecided(name, f"{ref!r} runs lack adv_low or adv_flat")
    r = variance_ratio(
        t["adv_low"],
        t["adv_flat"],
        t["mask"],
        run_dims=("env", "horizon", "seed"),
        reps=opts.variance_reps,
        ci=opts.ci,
        seed=opts.seed,
    )
    return cl.claim(
        name,
        r["estimate"],
        r["ci_low"],
        r["ci_high"],
        null=1.0,
        better="below",
        measure="Var(A_low) / Var(flat GAE) on the same turns, all turns pooled",
    )
