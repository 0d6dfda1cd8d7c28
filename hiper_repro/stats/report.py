"""Every statistic the paper quotes, from one merged trace tree: tidy tables plus flat ``numbers``.

:func:`compute` returns ``(tables, numbers)``: :func:`hiper_repro.stats.estimates.estimate` computes the
statistics, :func:`hiper_repro.stats.claims.decide` the verdicts, and this module names them. ``tables``
maps a CSV name to a tidy DataFrame (one row per estimate). ``numbers`` maps dotted keys to plain values (success is a fraction in [0, 1]; NaN
becomes ``null`` in JSON). Keys (``{env}``, ``{method}``, ``{h}`` the horizon, ``{ref}`` the reference
method, ``{b}`` another method, ``{est}`` an advantage estimator ``flat``/``low``/``high``)::

    meta.{methods,envs,horizons,seeds,n_runs,reps,curve_reps,variance_reps,ci,bootstrap_seed,k,threshold,reference,contrasts}
    final_success.{env}.h{h}.{method}.{mean,ci_low,ci_high,n_runs}        final evaluation, per cell
    last_k_success.{env}.h{h}.{method}.{mean,ci_low,ci_high,n_runs}       mean of the last k evaluations
    aggregate.{final|last_k}.{mean|iqm}.{method}.{estimate,ci_low,ci_high,n_runs}   pooled over cells
    aggregate_by_env.final.mean.{env}.{method}.{estimate,ci_low,ci_high,n_runs}     pooled over horizons
    task_type.{env}.h{h}.{task_type}.{method}.{mean,ci_low,ci_high}      final success per task type
    change.{env}.h{h}.{method}.{start,end,change,ci_low,ci_high,n_runs,n_episodes}   end - start, paired
    change_vs.{env}.h{h}.{ref}_vs_{b}.{estimate,ci_low,ci_high}          change of ref - change of b
    change_vs.{env}.h{h}.{a}_vs_{b}.{estimate,ci_low,ci_high}            the same for Options.contrasts
    horizon_trend.{env}.{a}_vs_{b}.{estimate,ci_low,ci_high,n_horizons,h_min,h_max}   stats.trend: slope
                                                                          per unit of horizon, ref vs
                                                                          every b and Options.contrasts
    invalid_change.{env}.h{h}.{method}.{start,end,change,ci_low,ci_high}  evaluation invalid-turn rate,
                                                                          per task (episode), paired
    change_secondary.{env}.h{h}.{method}.{start,end,change,ci_low,ci_high}  at rollout.eval_temperature
    final_vs.{ref}_vs_{b}.{estimate,ci_low,ci_high,n_cells}              mean final success ref - b, pooled
    improvement.{ref}_vs_{b}.{estimate,ci_low,ci_high}                    P(ref > b) on final success
    welch.{env}.h{h}.{ref}_vs_{b}.{diff,ci_low,ci_high,t,df,p,p_holm,reject}
    sample_efficiency.{env}.h{h}.{method}.{iterations|env_steps}.{mean,ci_low,ci_high}
    sample_efficiency.{env}.h{h}.{method}.{n_reached,n_at_first,n_runs}  n_at_first: there at the start
    speedup.{ref}_over_{b}.{estimate,ci_low,ci_high}                      restricted mean iterations b / ref
    variance.{env}.h{h}.{method}.{est}.{variance,ci_low,ci_high}          all turns pooled
    diagnostics.{env}.h{h}.{method}.{name}.{early|late}.{estimate,ci_low,ci_high}   stats.diagnostics
    critic.{method}.{low|high|term}.{estimate,ci_low,ci_high,n_runs}      explained variance, pooled
    claims.{name}.{statement,verdict,ci_verdict,estimate,ci_low,ci_high,null,n,reason,...}  stats.claims
    study.{format|model}.{method}, study.models, study.setting.{key}, study.shaping   stats.study
    theory.{lams,gamma,critic_noise,replicates}, theory.lam{lam}.K{k}.{median,q25,q75,n},
    theory.trend.lam{lam}.{k_first,k_last,first,last,direction}          stats.lab (with a lab dataset)
    theory.crossover.{batch,head,lam_boundaries,ks}, theory.crossover.lb{lb}.K{k}.{ev,status,ev_low,ev_high}
                                                                          where HAE's error crosses flat
                                                                          GAE's (with the lab's sweep)
    text.{name}                                                           stats.findings: sentences

Tables: ``run_scores``, ``final_success`` (per cell, both scores), ``change_from_start``,
``change_difference`` (the reference's and the contrasts'), ``horizon_trend``, ``training_windows``, ``aggregate``, ``aggregate_by_env``, ``task_types``,
``improvement``, ``welch``, ``performance_profile``, ``learning_curves``, ``time_to_threshold``
(per run, censoring visible), ``sample_efficiency``, ``switch_rate``, ``variance_by_position``,
``variance_by_horizon``, ``diagnostics`` (per iteration), ``diagnostics_phases``, ``invalid_change``,
``change_secondary`` (where runs played the secondary evaluation),
``claims``, ``settings`` (what ran, from the runs' configs), and ``theory_ratios`` with a lab dataset
(``theory_crossover`` and ``theory_crossover_points`` when it has the critic-quality sweep).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.stats.claims import decide
from hiper_repro.stats.estimates import TABLE_CELL, Estimates, Options, estimate, tidy
from hiper_repro.stats.findings import findings
from hiper_repro.stats.lab import crossover_points, horizon_trend, lab_crossover, lab_ratios
from hiper_repro.stats.study import settings_table, study_facts
from hiper_repro.stats.trend import parse_contrasts

__all__ = ["Options", "compute", "numbers", "tables"]


def compute(
    tree: xr.DataTree, opts: Options | None = None, theory: xr.Dataset | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """All tables and numbers (see the module docstring) for a merged trace tree, and for the lab dataset
    `theory` when given; default `Options()`. The ``text.*`` sentences are decided from the numbers."""
    opts = opts or Options()
    est = estimate(tree, opts)
    verdicts = decide(est, opts.threshold)
    out_tables, out_numbers = tables(est, verdicts), numbers(est, verdicts, opts)
    facts = study_facts(tree)
    out_numbers |= {k: _clean(v) for k, v in facts.items()}
    out_tables["settings"] = settings_table(facts)
    if theory is not None:
        ratios = lab_ratios(theory)
        out_tables["theory_ratios"] = ratios
        out_numbers |= lab_numbers(ratios)
        if "sweep_bias_sq" in theory:
            sweep = lab_crossover(theory)
            points = crossover_points(sweep)
            out_tables["theory_crossover"] = sweep
            out_tables["theory_crossover_points"] = points
            out_numbers |= crossover_numbers(sweep, points)
    out_numbers |= findings(out_numbers)
    return out_tables, out_numbers


def lab_numbers(ratios: pd.DataFrame) -> dict[str, Any]:
    """``theory.*`` keys: the HAE / flat GAE variance ratio per lambda and K, and its trend with K."""
    out: dict[str, Any] = {
        "theory.lams": sorted(float(v) for v in ratios["lam"].unique()),
        "theory.gamma": float(ratios["gamma"].iloc[0]),
        "theory.critic_noise": float(ratios["critic_noise"].iloc[0]),
        "theory.replicates": int(ratios["n"].max()),
    }
    for row in ratios.to_dict("records"):
        _put(out, f"theory.lam{row['lam']:g}.K{row['K']}", _pick(row, ("median", "q25", "q75", "n")))
    for lam in out["theory.lams"]:
        _put(out, f"theory.trend.lam{lam:g}", horizon_trend(ratios, lam))
    return out


def crossover_numbers(sweep: pd.DataFrame, points: pd.DataFrame) -> dict[str, Any]:
    """``theory.crossover.*`` keys: the error's batch and the head whose explained variance is the axis,
    and per lam_boundary and K where HAE's error crosses flat GAE's (stats.lab.crossover_points)."""
    out: dict[str, Any] = {
        "theory.crossover.batch": int(sweep["batch"].iloc[0]),
        "theory.crossover.head": str(sweep["head"].iloc[0]),
        "theory.crossover.lam_boundaries": sorted(float(v) for v in points["lam_boundary"].unique()),
        "theory.crossover.ks": sorted(int(v) for v in points["K"].unique()),
    }
    for row in points.to_dict("records"):
        _put(out, f"theory.crossover.lb{row['lam_boundary']:g}.K{row['K']}",
             {"ev": row["crossover_ev"], **_pick(row, ("status", "ev_low", "ev_high"))})  # fmt: skip
    return out


def tables(est: Estimates, verdicts: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The CSV tables (module docstring), one row per estimate."""
    ttt_columns = [
        "iterations_restricted",
        "reached",
        "at_first",
        "iterations",
        "budget",
        "env_steps",
        "env_steps_restricted",
    ]
    counts = tidy(est.reached)
    counts = counts[counts["n_runs"] > 0]
    efficiency = pd.concat(
        [tidy(agg).assign(measure=label) for label, agg in est.efficiency.items()], ignore_index=True
    )
    return {
        "run_scores": tidy(est.scores),
        "final_success": pd.concat(
            [tidy(agg).assign(score=score) for score, agg in est.per_cell.items()], ignore_index=True
        ),
        "aggregate": pd.concat(
            [tidy(agg).assign(score=score, statistic=stat) for (score, stat), agg in est.pooled.items()],
            ignore_index=True,
        ),
        "aggregate_by_env": tidy(est.by_env),
        **_change_tables(est),
        "task_types": tidy(est.task_types),
        "improvement": pd.DataFrame(
            [{"method_a": est.reference, "method_b": b, **r} for b, r in est.improvement.items()]
        ),
        "welch": est.welch,
        "performance_profile": tidy(est.profile),
        "learning_curves": tidy(est.curves),
        "time_to_threshold": tidy(est.time_to_threshold[ttt_columns]),
        "sample_efficiency": efficiency.merge(
            counts[[*TABLE_CELL, "n_reached", "n_at_first"]], on=list(TABLE_CELL)
        ),
        "switch_rate": tidy(est.switch_curve),
        "variance_by_position": est.variance_by_position,
        "variance_by_horizon": est.variance_by_horizon,
        "diagnostics": est.diagnostic_curves,
        "diagnostics_phases": est.diagnostic_phases,
        "claims": pd.DataFrame(
            [{"claim": name, **{k: v.get(k) for k in CLAIM_COLUMNS}} for name, v in verdicts.items()]
        ),
    }


CLAIM_COLUMNS = ("verdict", "ci_verdict", "estimate", "ci_low", "ci_high", "n", "reason", "statement")
TREND_VARS = ("estimate", "ci_low", "ci_high", "n_horizons", "h_min", "h_max")
CHANGE_VARS = ("change", "ci_low", "ci_high", "start", "end", "n_runs", "n_episodes")


def _change_tables(est: Estimates) -> dict[str, pd.DataFrame]:
    """``training_windows``; ``change_from_start``, ``change_difference`` and ``invalid_change`` when the
    runs evaluated their starting policy; ``change_secondary`` when they also played the secondary
    evaluation."""
    out = {"training_windows": tidy(est.training_windows)}
    if est.change is not None:
        out["change_from_start"] = tidy(est.change[list(CHANGE_VARS)])
        out["invalid_change"] = tidy(est.invalid_change[list(CHANGE_VARS)])
        pairs = {(est.reference, b): diff for b, diff in est.change_vs.items()} | est.contrasts
        out["change_difference"] = pd.DataFrame(
            [
                {"method_a": a, "method_b": b, **row}
                for (a, b), diff in pairs.items()
                for row in tidy(diff).to_dict("records")
            ]
        )
        out["horizon_trend"] = pd.DataFrame(
            [
                {"method_a": a, "method_b": b, **row}
                for (a, b), trend in est.horizon_trend.items()
                for row in tidy(trend).to_dict("records")
            ],
            columns=["method_a", "method_b", "env", *TREND_VARS],
        )
    if est.secondary_change is not None:
        out["change_secondary"] = tidy(est.secondary_change[list(CHANGE_VARS)])
    return out


def numbers(est: Estimates, verdicts: dict[str, dict], opts: Options) -> dict[str, Any]:
    """The flat dotted keys of ``numbers.json`` (module docstring); NaN becomes None."""
    ref, scores = est.reference, est.scores
    out: dict[str, Any] = {}
    _put(
        out,
        "meta",
        {
            "methods": est.methods,
            "envs": [str(e) for e in scores["env"].values],
            "horizons": [int(h) for h in scores["horizon"].values],
            "seeds": [int(s) for s in scores["seed"].values],
            "n_runs": int(scores["final"].notnull().sum()),
            "reps": opts.reps,
            "curve_reps": opts.curve_reps,
            "variance_reps": opts.variance_reps,
            "ci": opts.ci,
            "bootstrap_seed": opts.seed,
            "k": opts.k,
            "threshold": opts.threshold,
            "reference": ref,
            "contrasts": [c for c in opts.contrasts if set(parse_contrasts([c])[0]) <= set(est.methods)],
        },
    )
    ci = ("ci_low", "ci_high")
    for score, agg in est.per_cell.items():
        for c, row in _cells(agg):
            _put(out, f"{score}_success.{c['env']}.h{c['horizon']}.{c['method']}",
                 {"mean": row["estimate"], **_pick(row, ci), "n_runs": int(row["n_runs"])})  # fmt: skip
    for (score, stat), agg in est.pooled.items():
        for c, row in _cells(agg, ("method",)):
            _put(out, f"aggregate.{score}.{stat}.{c['method']}",
                 {**_pick(row, ("estimate", *ci)), "n_runs": int(row["n_runs"])})  # fmt: skip
    for c, row in _cells(est.by_env, ("method", "env")):
        _put(out, f"aggregate_by_env.final.mean.{c['env']}.{c['method']}",
             {**_pick(row, ("estimate", *ci)), "n_runs": int(row["n_runs"])})  # fmt: skip
    for c, row in _cells(est.task_types, (*TABLE_CELL, "task_type")):
        _put(out, f"task_type.{c['env']}.h{c['horizon']}.{c['task_type']}.{c['method']}",
             {"mean": row["estimate"], **_pick(row, ci)})  # fmt: skip
    if est.change is not None:
        for c, row in _cells(est.change[list(CHANGE_VARS)]):
            _put(out, f"change.{c['env']}.h{c['horizon']}.{c['method']}",
                 {**_pick(row, ("start", "end", "change", *ci)),
                  "n_runs": int(row["n_runs"]), "n_episodes": int(row["n_episodes"])})  # fmt: skip
        for b, diff in est.change_vs.items():
            for c, row in _cells(diff, ("env", "horizon")):
                _put(out, f"change_vs.{c['env']}.h{c['horizon']}.{ref}_vs_{b}", _pick(row, ("estimate", *ci)))
        for (a, b), diff in est.contrasts.items():
            for c, row in _cells(diff, ("env", "horizon")):
                _put(out, f"change_vs.{c['env']}.h{c['horizon']}.{a}_vs_{b}", _pick(row, ("estimate", *ci)))
        for (a, b), trend in est.horizon_trend.items():
            for c, row in _cells(trend, ("env",)):
                values = _pick(row, TREND_VARS)
                _put(out, f"horizon_trend.{c['env']}.{a}_vs_{b}",
                     values | {k: int(values[k]) for k in ("n_horizons", "h_min", "h_max")})  # fmt: skip
        for c, row in _cells(est.invalid_change[list(CHANGE_VARS)]):
            _put(out, f"invalid_change.{c['env']}.h{c['horizon']}.{c['method']}",
                 _pick(row, ("start", "end", "change", *ci)))  # fmt: skip
    if est.secondary_change is not None:
        for c, row in _cells(est.secondary_change[list(CHANGE_VARS)]):
            _put(out, f"change_secondary.{c['env']}.h{c['horizon']}.{c['method']}",
                 _pick(row, ("start", "end", "change", *ci)))  # fmt: skip
    for b, r in est.final_difference.items():
        _put(out, f"final_vs.{ref}_vs_{b}", _pick(r, ("estimate", *ci, "n_cells")))
    for b, r in est.improvement.items():
        _put(out, f"improvement.{ref}_vs_{b}", _pick(r, ("estimate", *ci)))
    for row in est.welch.to_dict("records"):
        _put(out, f"welch.{row['env']}.h{row['horizon']}.{ref}_vs_{row['method_b']}",
             _pick(row, ("diff", *ci, "t", "df", "p", "p_holm", "reject")))  # fmt: skip
    for label, agg in est.efficiency.items():
        for c, row in _cells(agg):
            _put(out, f"sample_efficiency.{c['env']}.h{c['horizon']}.{c['method']}.{label}",
                 {"mean": row["estimate"], **_pick(row, ci)})  # fmt: skip
    counts = tidy(est.reached)
    for row in counts[counts["n_runs"] > 0].to_dict("records"):
        _put(out, f"sample_efficiency.{row['env']}.h{row['horizon']}.{row['method']}",
             {k: int(row[k]) for k in ("n_reached", "n_at_first", "n_runs")})  # fmt: skip
    for b, r in est.speedup.items():
        _put(out, f"speedup.{ref}_over_{b}", _pick(r, ("estimate", *ci)))
    for row in est.variance_by_horizon.to_dict("records"):
        _put(out, f"variance.{row['env']}.h{row['horizon']}.{row['method']}.{row['estimator']}",
             _pick(row, ("variance", *ci)))  # fmt: skip
    for row in est.diagnostic_phases.to_dict("records"):
        _put(out, f"diagnostics.{row['env']}.h{row['horizon']}.{row['method']}.{row['diagnostic']}.{row['phase']}",
             _pick(row, ("estimate", *ci)))  # fmt: skip
    for method, heads in est.critic.items():
        for head, values in heads.items():
            _put(out, f"critic.{method}.{head}", values)
    for name, v in verdicts.items():
        _put(out, f"claims.{name}", v)
    return out


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: row[k] for k in keys}


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


def _cells(ds: xr.Dataset, columns: tuple[str, ...] = TABLE_CELL):
    """Yield (coords dict, row dict) for every non-NaN cell of a per-cell aggregate; the coords keyed by
    their table column (`tidy`: dim ``method_name`` is ``method``)."""
    for row in tidy(ds).to_dict("records"):
        yield {c: row[c] for c in columns}, row
