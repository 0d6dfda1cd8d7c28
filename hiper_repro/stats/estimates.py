"""Every statistic one report quotes, from one merged trace tree, before any naming or decision.

:func:`estimate` returns an :class:`Estimates`: xarray objects and tidy tables with bootstrap CIs.
:func:`hiper_repro.stats.claims.decide` turns some of them into verdicts, and
:mod:`hiper_repro.stats.report` names them (``numbers.json`` keys, CSV tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.stats.bootstrap import (
    CI,
    REPS,
    SEED,
    aggregate,
    difference,
)
from hiper_repro.stats.change import change_difference, change_from_start, training_windows
from hiper_repro.stats.compare import improvement, welch_tests
from hiper_repro.stats.diagnostics import DIAGNOSTICS, critic_quality, diagnostics, phases
from hiper_repro.stats.dynamics import settling, switch_rate
from hiper_repro.stats.efficiency import env_steps_until, speedup, time_to_threshold
from hiper_repro.stats.profiles import performance_profile
from hiper_repro.stats.scores import EVAL_DIM, eval_curve, group, last_index, run_scores
from hiper_repro.stats.trend import horizon_trend, parse_contrasts
from hiper_repro.stats.variance import VARIANCE_REPS, advantage_variance, variance_ratio
from hiper_repro.traces.schema import START_EVAL

# The horizon study's contrasts: HAE vs flat GAE (same format), critic-free hierarchical vs flat, and the
# ablations of the authors' KEEP shaping and of the paper's HAE (lam_boundary 0).
CONTRASTS = (
    "hiper:ppo-pe",
    "hgigpo:gigpo",
    "hiper-keep:ppo-pe-keep",
    "hiper-keep:hiper",
    "hiper-paper:ppo-pe",
)
ESTIMATORS = {"flat": "adv_flat", "low": "adv_low", "high": "adv_high"}  # label -> /turns variable
CELL = ("method_name", "env", "horizon")  # dims of a task cell's statistics
# Tables (CSV) keep the column name `method`: the dim is `method_name` only because xarray reserves
# `method=` in `.sel`, which a table does not have.
COLUMNS = {"method_name": "method"}
TABLE_CELL = tuple(COLUMNS.get(d, d) for d in CELL)  # the cell's columns in the tables


@dataclass(frozen=True)
class Options:
    """Settings of one statistics report: the flags of `hiper-repro stats` and the pipeline's `stats`
    section, whose schema defaults a test holds to these."""

    reference: str = "hiper"  # the method every comparison is made against
    k: int = 3  # last-k evaluations in the ``last_k`` score
    threshold: float = 0.8  # success rate for sample efficiency (paper: 80%)
    reps: int = REPS  # bootstrap replicates for run-level statistics
    # Replicates per point of the learning and switch-rate curves: a curve has one CI per evaluation or
    # iteration, hundreds of points, so fewer replicates each keep the report fast.
    curve_reps: int = 500
    variance_reps: int = VARIANCE_REPS  # hierarchical bootstrap replicates (advantage variance)
    ci: float = CI
    seed: int = SEED
    efficiency_baselines: tuple[str, ...] = ("ppo", "grpo")  # the paper's sample-efficiency comparison
    # Contrasts "a:b" whose paired change difference is reported per cell and whose trend over the
    # horizons is fitted (besides the reference against every other method), where both methods ran.
    contrasts: tuple[str, ...] = CONTRASTS


@dataclass
class Estimates:
    """The statistics of one report; run-level ones carry bootstrap CIs (``estimate``/``ci_*``)."""

    reference: str
    methods: list[str]  # every method of the data, the reference included
    scores: xr.Dataset  # per run: ``final`` and ``last_k`` evaluation success
    per_cell: dict[str, xr.Dataset]  # score -> mean over seeds per (method_name, env, horizon)
    change: xr.Dataset | None  # end - start per cell, paired per task (None: no starting evaluations)
    change_vs: dict[str, xr.Dataset]  # baseline -> change of the reference - change of the baseline
    contrasts: dict[tuple[str, str], xr.Dataset]  # (a, b) -> change of a - change of b, a not the reference
    horizon_trend: dict[tuple[str, str], xr.Dataset]  # (a, b) -> slope of that difference over horizons
    invalid_change: xr.Dataset | None  # the same paired statistics for the evaluation invalid-turn rate
    secondary_change: xr.Dataset | None  # change of success at the secondary evaluation temperature
    training_windows: xr.Dataset | None  # training success per cell in windows of iterations
    pooled: dict[tuple[str, str], xr.Dataset]  # (score, "mean" | "iqm") -> per method, over cells
    by_env: xr.Dataset  # final success per (method_name, env), pooled over horizons
    task_types: xr.Dataset  # final success per cell and task type
    improvement: dict[str, dict[str, float]]  # baseline -> P(reference beats baseline)
    welch: pd.DataFrame  # Welch tests of the reference against each baseline per cell, Holm-corrected
    profile: xr.Dataset  # performance profile of final success
    curves: xr.Dataset  # mean evaluation success per cell and evaluation
    time_to_threshold: xr.Dataset  # per run (censoring visible)
    efficiency: dict[str, xr.Dataset]  # "iterations" | "env_steps" -> restricted mean time per cell
    reached: xr.Dataset  # n_reached, n_at_first (reached at the first evaluation), n_runs per cell
    speedup: dict[str, dict[str, float]]  # baseline -> restricted mean iterations baseline / reference
    switch_rate: xr.DataArray  # per run and iteration
    switch_curve: xr.Dataset  # mean switch rate per cell and iteration
    variance_by_position: pd.DataFrame  # advantage variance per turn position, method and estimator
    variance_by_horizon: pd.DataFrame  # the same, all turns pooled
    diagnostic_curves: pd.DataFrame  # per cell, diagnostic and iteration: mean over seeds with CI
    diagnostic_phases: pd.DataFrame  # per cell, diagnostic and phase (early, late): mean over seeds with CI
    critic: dict[str, dict[str, dict[str, float]]]  # method -> value head -> explained variance, pooled
    # Effects the claims are decided on; None where the data cannot give one.
    final_difference: dict[str, dict[str, float]]  # baseline -> mean final success, reference - baseline
    settling: xr.Dataset | None  # reference's switch rate, first minus last quarter of training
    variance_ratio: dict[str, float] | None  # Var(A_low) / Var(flat GAE) of the reference's turns

    @property
    def others(self) -> list[str]:
        return [m for m in self.methods if m != self.reference]


def tidy(ds: xr.Dataset) -> pd.DataFrame:
    """Dataset -> long DataFrame with one column per dim and variable (dim ``method_name`` as column
    ``method``, `COLUMNS`); rows whose first variable is NaN dropped."""
    df = ds.to_dataframe().reset_index().rename(columns=COLUMNS)
    first = next(iter(ds.data_vars))
    return df[df[first].notna()].reset_index(drop=True)


def task_type_success(tree: xr.DataTree) -> xr.DataArray:
    """Per run and task type: success on the final evaluation (dims method_name, env, horizon, seed,
    task_type)."""
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


def estimate(tree: xr.DataTree, opts: Options = Options()) -> Estimates:
    """Every statistic of the report for a merged trace tree (see :class:`Estimates`)."""
    boot = {"reps": opts.reps, "ci": opts.ci, "seed": opts.seed}
    curve_boot = boot | {"reps": opts.curve_reps}
    ref = opts.reference
    scores = run_scores(tree, opts.k)
    methods = [str(m) for m in scores["method_name"].values]
    if ref not in methods:
        raise ValueError(f"reference method {ref!r} not in the merged data; methods seen: {methods}")
    others = [m for m in methods if m != ref]
    final = scores["final"]

    # Success: per cell with bootstrap CIs over seeds; pooled over cells (stratified), mean and IQM.
    per_cell = {score: aggregate(scores[score], "mean", keep=CELL, **boot) for score in ("final", "last_k")}
    pooled = {
        (score, stat): aggregate(scores[score], stat, keep=("method_name",), **boot)
        for score in ("final", "last_k")
        for stat in ("mean", "iqm")
    }
    by_env = aggregate(final, "mean", keep=("method_name", "env"), **boot)
    task_types = aggregate(task_type_success(tree), "mean", keep=(*CELL, "task_type"), **boot)

    # Learning curves and sample efficiency (restricted mean times: censored runs count the budget).
    curve = eval_curve(tree)
    ttt = time_to_threshold(curve, opts.threshold, env_steps_until(tree, curve[EVAL_DIM]))
    efficiency = {
        label: aggregate(ttt[var], "mean", keep=CELL, **boot)
        for var, label in (("iterations_restricted", "iterations"), ("env_steps_restricted", "env_steps"))
    }
    reached = xr.Dataset(
        {
            "n_reached": ttt["reached"].where(ttt["exists"], False).sum("seed"),
            "n_at_first": ttt["at_first"].where(ttt["exists"], False).sum("seed"),
            "n_runs": ttt["exists"].sum("seed"),
        }
    )
    baselines = [b for b in opts.efficiency_baselines if b in others] or others
    rate = switch_rate(tree)
    has_start = bool((group(tree, "evaluation")[EVAL_DIM] == START_EVAL).any())
    return Estimates(
        reference=ref,
        methods=methods,
        scores=scores,
        per_cell=per_cell,
        change=change_from_start(tree, **boot) if has_start else None,
        change_vs={b: change_difference(tree, ref, b, **boot) for b in others} if has_start else {},
        **_contrasts(tree, methods, ref, opts, boot) if has_start else {"contrasts": {}, "horizon_trend": {}},
        invalid_change=change_from_start(tree, var="invalid_rate", **boot) if has_start else None,
        secondary_change=_secondary_change(tree, boot),
        training_windows=aggregate(training_windows(tree), "mean", keep=(*CELL, "window"), **curve_boot),
        pooled=pooled,
        by_env=by_env,
        task_types=task_types,
        improvement={b: improvement(final, ref, b, **boot) for b in others},
        welch=welch_tests(final, ref, **boot),
        profile=performance_profile(final, np.linspace(0, 1, 51), **boot),
        curves=aggregate(curve, "mean", keep=(*CELL, EVAL_DIM), **curve_boot),
        time_to_threshold=ttt,
        efficiency=efficiency,
        reached=reached,
        speedup={b: speedup(ttt["iterations_restricted"], ref, b, **boot) for b in baselines},
        switch_rate=rate,
        switch_curve=aggregate(rate, "mean", keep=(*CELL, "iteration"), **curve_boot),
        **_variances(group(tree, "turns"), methods, ref, opts),
        **_diagnostics(tree, opts),
        final_difference={b: difference(final, ref, b, **boot) for b in others},
        settling=_settling(rate, ref, opts),
    )


def _variances(turns: xr.Dataset, methods: list[str], ref: str, opts: Options) -> dict:
    """Advantage variance by turn position and pooled per cell, for every estimator a method logged, and
    the reference's variance ratio A_low / flat GAE (None without both)."""
    boot = {"reps": opts.variance_reps, "ci": opts.ci, "seed": opts.seed}
    by_pos, by_h = [], []
    for method in methods:
        t = turns.sel(method_name=method)
        for label, var in ESTIMATORS.items():
            if var not in t or not bool(t[var].notnull().any()):
                continue
            kw = {"keep": ("env", "horizon"), **boot}
            by_pos.append(
                tidy(advantage_variance(t[var], t["mask"], **kw)).assign(method=method, estimator=label)
            )
            pooled = tidy(advantage_variance(t[var], t["mask"], by_position=False, **kw))
            by_h.append(pooled.assign(method=method, estimator=label))
    t = turns.sel(method_name=ref)
    ratio = None
    if all(v in t and bool(t[v].notnull().any()) for v in ("adv_low", "adv_flat")):
        ratio = variance_ratio(
            t["adv_low"], t["adv_flat"], t["mask"], run_dims=("env", "horizon", "seed"), **boot
        )
    return {
        "variance_by_position": pd.concat(by_pos, ignore_index=True) if by_pos else pd.DataFrame(),
        "variance_by_horizon": pd.concat(by_h, ignore_index=True) if by_h else pd.DataFrame(),
        "variance_ratio": ratio,
    }


def _secondary_change(tree: xr.DataTree, boot: dict) -> xr.Dataset | None:
    """Change from the start at the secondary evaluation temperature; None where runs did not play it."""
    if "evaluation_secondary" not in tree.children:
        return None
    secondary = tree["evaluation_secondary"].to_dataset()
    if EVAL_DIM not in secondary.dims or not bool((secondary[EVAL_DIM] == START_EVAL).any()):
        return None
    if not bool(secondary["success"].notnull().any()):
        return None
    return change_from_start(secondary, **boot)


def _diagnostics(tree: xr.DataTree, opts: Options) -> dict:
    """Training diagnostics over iterations and in the early and late phases of training, per cell, and
    each method's critic quality pooled over cells; empty without an /iterations group."""
    try:
        diag = diagnostics(tree)
    except ValueError:  # traces written before per-iteration diagnostics
        return {"diagnostic_curves": pd.DataFrame(), "diagnostic_phases": pd.DataFrame(), "critic": {}}
    boot = {"reps": opts.reps, "ci": opts.ci, "seed": opts.seed}
    curve_boot = boot | {"reps": opts.curve_reps}
    phase = phases(diag)
    curves, by_phase = [], []
    for name in diag.data_vars:
        label = {"diagnostic": name, "long_name": DIAGNOSTICS[name]}
        curves.append(
            tidy(aggregate(diag[name], "mean", keep=(*CELL, "iteration"), **curve_boot)).assign(**label)
        )
        by_phase.append(tidy(aggregate(phase[name], "mean", keep=(*CELL, "phase"), **boot)).assign(**label))
    quality = critic_quality(diag)
    critic: dict[str, dict[str, dict[str, float]]] = {}
    for head in quality.data_vars:
        pooled = aggregate(quality[head], "mean", keep=("method_name",), **boot)
        for m in pooled["method_name"].values:
            row = pooled.sel(method_name=m)
            if int(row["n_runs"]) > 0:
                critic.setdefault(str(m), {})[str(head)] = {
                    k: float(row[k]) for k in ("estimate", "ci_low", "ci_high", "n_runs")
                }
    return {
        "diagnostic_curves": pd.concat(curves, ignore_index=True),
        "diagnostic_phases": pd.concat(by_phase, ignore_index=True),
        "critic": critic,
    }


def _contrasts(tree: xr.DataTree, methods: list[str], ref: str, opts: Options, boot: dict) -> dict:
    """Per-cell change differences of the configured contrasts whose methods both ran (those against the
    reference are ``change_vs`` already), and the horizon trend of each of them and of the reference
    against every other method (NaN where the two share fewer than two horizons)."""
    pairs = [(a, b) for a, b in parse_contrasts(opts.contrasts) if a in methods and b in methods]
    trended = dict.fromkeys([(ref, b) for b in methods if b != ref] + pairs)
    return {
        "contrasts": {(a, b): change_difference(tree, a, b, **boot) for a, b in pairs if a != ref},
        "horizon_trend": {(a, b): horizon_trend(tree, a, b, **boot) for a, b in trended},
    }


def _settling(rate: xr.DataArray, ref: str, opts: Options) -> xr.Dataset | None:
    """The reference's switch rate, first quarter minus last quarter of training, pooled over its runs;
    None without switch decisions over two or more iterations."""
    r = rate.sel(method_name=ref)
    if not bool(r.notnull().any()) or r.sizes["iteration"] < 2:
        return None
    settle = settling(r).expand_dims(method_name=[ref])
    return aggregate(settle, "mean", keep=("method_name",), reps=opts.reps, ci=opts.ci, seed=opts.seed).isel(
        method_name=0
    )
