"""Figures of task success: headline bars, learning curves, success against horizon, sample efficiency,
performance profiles and probability of improvement.

Every function takes tables written by ``hiper-repro stats`` (as DataFrames, see
:mod:`hiper_repro.stats.report`) and returns a Figure; success is plotted in percent. With few seeds
the figures show every run as a point next to the mean and its 95% bootstrap CI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hiper_repro.figures.style import label, order, palette, require, styled
from hiper_repro.traces.schema import START_EVAL as START  # eval_iteration of the starting policy

CELL = ["method", "env", "horizon"]


def grid(
    n_rows: int, n_cols: int, width: float = 3.2, height: float = 2.6, **kw
) -> tuple[Figure, np.ndarray]:
    """A bare Figure with an (n_rows, n_cols) array of axes."""
    fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, **kw))
    return fig, axes


def _legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))


def _jitter(n: int, width: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-width, width, n)


def _grouped_points(ax: Axes, cells: pd.DataFrame, runs: pd.DataFrame, score: str, kind: str) -> None:
    """Per horizon group, one slot per method: a bar or marker at the mean, CI whiskers, runs as dots."""
    methods = order(cells["method"])
    colours = palette(methods)
    horizons = sorted(cells["horizon"].unique())
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        c = cells[cells["method"] == m].set_index("horizon").reindex(horizons)
        x = np.arange(len(horizons)) - 0.4 + width * (i + 0.5)
        est, lo, hi = (100 * c[k].to_numpy() for k in ("estimate", "ci_low", "ci_high"))
        if kind == "bar":
            ax.bar(x, est, width * 0.9, color=colours[m], alpha=0.55, label=label(m))
        else:
            ax.plot(x, est, "D", color=colours[m], label=label(m))
        ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="none", ecolor="black", elinewidth=1, capsize=2)
        r = runs[runs["method"] == m]
        xs = np.array([x[horizons.index(h)] for h in r["horizon"]]) + _jitter(len(r), width * 0.25, i)
        ax.scatter(xs, 100 * r[score], s=9, color=colours[m], edgecolor="black", linewidth=0.4, zorder=3)
    ax.set_xticks(np.arange(len(horizons)), [f"h={h}" for h in horizons])


@styled
def final_success_bars(cells: pd.DataFrame, runs: pd.DataFrame, score: str = "final") -> Figure:
    """Headline chart: success by method per environment and horizon, mean with CI and every run.

    ``cells`` is the ``final_success`` table (filtered to ``score``), ``runs`` the ``run_scores`` table.
    """
    require(cells, [*CELL, "estimate", "ci_low", "ci_high"], "final_success")
    require(runs, [*CELL, score], "run_scores")
    if "score" in cells:
        cells = cells[cells["score"] == score]
    envs = sorted(cells["env"].unique())
    fig, axes = grid(1, len(envs), width=max(3.2, 1.1 * cells["horizon"].nunique() + 1.5))
    for ax, env in zip(axes[0], envs):
        _grouped_points(ax, cells[cells["env"] == env], runs[runs["env"] == env], score, "bar")
        ax.set(title=env, ylabel="success (%)" if ax is axes[0, 0] else None, ylim=(0, 105))
    _legend(fig, axes[0, 0])
    fig.suptitle("final evaluation success" if score == "final" else "success, mean of the last evaluations")
    return fig


@styled
def learning_curves(curves: pd.DataFrame) -> Figure:
    """Evaluation success over training against the updates completed (``eval_iteration``), mean over seeds
    with its CI band, per environment (rows) and horizon (columns), from the starting policy (0 updates, a
    square, its tick labelled "start") on. ``curves`` is the ``learning_curves`` table."""
    require(curves, [*CELL, "eval_iteration", "estimate", "ci_low", "ci_high"], "learning_curves")
    envs, horizons = sorted(curves["env"].unique()), sorted(curves["horizon"].unique())
    fig, axes = grid(len(envs), len(horizons), sharey=True)
    colours = palette(curves["method"])
    has_start = bool((curves["eval_iteration"] == START).any())
    for (r, env), (c, h) in ((a, b) for a in enumerate(envs) for b in enumerate(horizons)):
        ax = axes[r, c]
        sub = curves[(curves["env"] == env) & (curves["horizon"] == h)]
        for m in order(sub["method"]):
            d = sub[sub["method"] == m].sort_values("eval_iteration")
            ax.plot(d["eval_iteration"], 100 * d["estimate"], marker="o", color=colours[m], label=label(m))
            ax.fill_between(
                d["eval_iteration"], 100 * d["ci_low"], 100 * d["ci_high"], color=colours[m], alpha=0.2
            )
            start = d[d["eval_iteration"] == START]
            ax.plot(
                start["eval_iteration"], 100 * start["estimate"], "s", ms=7, mfc="white", color=colours[m]
            )
        if has_start:
            # the starting policy sits at 0 updates: its tick reads "start" instead of "0"
            last = sub["eval_iteration"].max()
            ticks = [t for t in ax.get_xticks() if START < t <= last and float(t).is_integer()]
            ax.set_xticks([START, *ticks], ["start", *(f"{t:g}" for t in ticks)])
        ax.set(title=f"{env}, h={h}", ylim=(0, 105))
        if r == len(envs) - 1:
            ax.set_xlabel("updates completed (training iterations)")
        if c == 0:
            ax.set_ylabel("success (%)")
    _legend(fig, axes[0, 0])
    return fig


def require_horizons(df: pd.DataFrame, name: str) -> None:
    """ValueError (the figure is skipped, saying why) when ``df`` holds a single horizon: a figure against
    the horizon would show one cell, which the per-cell figures and tables already show."""
    horizons = sorted(df["horizon"].unique())
    if len(horizons) < 2:
        raise ValueError(
            f"{name}: this study has a single horizon ({horizons[0]}); the per-cell figures show it"
        )


@styled
def success_vs_horizon(cells: pd.DataFrame, runs: pd.DataFrame, score: str = "final") -> Figure:
    """Success against the task horizon per method (mean, CI, every run), one panel per environment."""
    require(cells, [*CELL, "estimate", "ci_low", "ci_high"], "final_success")
    require(runs, [*CELL, score], "run_scores")
    if "score" in cells:
        cells = cells[cells["score"] == score]
    require_horizons(cells, "success_vs_horizon")
    envs = sorted(cells["env"].unique())
    fig, axes = grid(1, len(envs), sharey=True)
    methods = order(cells["method"])
    colours = palette(methods)
    offsets = np.linspace(-0.12, 0.12, len(methods)) if len(methods) > 1 else [0.0]
    for ax, env in zip(axes[0], envs):
        for m, dx in zip(methods, offsets):
            c = cells[(cells["env"] == env) & (cells["method"] == m)].sort_values("horizon")
            x = c["horizon"].to_numpy() + dx
            est = 100 * c["estimate"].to_numpy()
            yerr = [est - 100 * c["ci_low"].to_numpy(), 100 * c["ci_high"].to_numpy() - est]
            ax.errorbar(x, est, yerr=yerr, marker="o", capsize=2, color=colours[m], label=label(m))
            r = runs[(runs["env"] == env) & (runs["method"] == m)]
            ax.scatter(
                r["horizon"] + dx,
                100 * r[score],
                s=10,
                color=colours[m],
                edgecolor="black",
                linewidth=0.3,
                zorder=3,
            )
        ax.set(title=env, xlabel="horizon (subtasks)", ylim=(0, 105))
        ax.set_xticks(sorted(cells["horizon"].unique()))
    axes[0, 0].set_ylabel("success (%)")
    _legend(fig, axes[0, 0])
    return fig


@styled
def sample_efficiency(eff: pd.DataFrame, runs: pd.DataFrame, measure: str = "iterations") -> Figure:
    """Iterations (or env steps) to reach the success threshold: restricted mean with CI per method and
    cell (diamond), every run beside it (filled: reached, hollow: censored at its budget), spread apart
    so that equal times stay visible, and ``reached/runs`` under each slot.

    ``eff`` is the ``sample_efficiency`` table, ``runs`` the ``time_to_threshold`` table.
    """
    from matplotlib.lines import Line2D

    require(eff, [*CELL, "measure", "estimate", "ci_low", "ci_high"], "sample_efficiency")
    require(runs, [*CELL, "reached", f"{measure}_restricted"], "time_to_threshold")
    eff = eff[eff["measure"] == measure]
    envs = sorted(eff["env"].unique())
    horizons = sorted(eff["horizon"].unique())
    fig, axes = grid(1, len(envs), width=max(3.4, 1.3 * len(horizons) + 1.5), height=3.0)
    methods = order(eff["method"])
    colours = palette(methods)
    width = 0.8 / len(methods)
    for ax, env in zip(axes[0], envs):
        for i, m in enumerate(methods):
            c = eff[(eff["env"] == env) & (eff["method"] == m)].set_index("horizon").reindex(horizons)
            x = np.arange(len(horizons)) - 0.4 + width * (i + 0.5)
            est = c["estimate"].to_numpy()
            ax.errorbar(x - width * 0.2, est, yerr=[est - c["ci_low"], c["ci_high"] - est], fmt="D", capsize=2,
                        color=colours[m], label=label(m))  # fmt: skip
            r = runs[(runs["env"] == env) & (runs["method"] == m)]
            for j, h in enumerate(horizons):
                cell = r[r["horizon"] == h]
                if cell.empty:
                    continue
                # runs side by side to the right of the mean, never on top of each other
                xs = x[j] + np.linspace(0.0, width * 0.35, len(cell)) + width * 0.05
                hit = cell["reached"].astype(bool).to_numpy()
                y = cell[f"{measure}_restricted"].to_numpy()
                ax.scatter(xs[hit], y[hit], s=14, color=colours[m], zorder=3)
                ax.scatter(xs[~hit], y[~hit], s=16, facecolor="white", edgecolor=colours[m], zorder=3)
                ax.annotate(f"{int(hit.sum())}/{len(cell)}", (x[j], 0), xycoords=("data", "axes fraction"),
                            xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7,
                            color=colours[m])  # fmt: skip
        ax.set_xticks(np.arange(len(horizons)), [f"h={h}" for h in horizons])
        ax.set(title=env, ylabel=f"{measure.replace('_', ' ')} to threshold" if ax is axes[0, 0] else None)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # iterations and steps are counts
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [
        Line2D([], [], marker="o", linestyle="", color="grey", label="run that reached it"),
        Line2D([], [], marker="o", linestyle="", mfc="white", color="grey", label="censored run (at budget)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=7)
    return fig


@styled
def performance_profiles(profile: pd.DataFrame) -> Figure:
    """Fraction of runs whose final success exceeds tau, with stratified bootstrap bands."""
    require(profile, ["method", "tau", "estimate", "ci_low", "ci_high"], "performance_profile")
    fig, axes = grid(1, 1, width=4.2, height=3.0)
    ax = axes[0, 0]
    colours = palette(profile["method"])
    for m in order(profile["method"]):
        d = profile[profile["method"] == m].sort_values("tau")
        ax.plot(100 * d["tau"], d["estimate"], color=colours[m], label=label(m), drawstyle="steps-post")
        ax.fill_between(100 * d["tau"], d["ci_low"], d["ci_high"], color=colours[m], alpha=0.2, step="post")
    ax.set(xlabel="success threshold tau (%)", ylabel="fraction of runs with success > tau", ylim=(0, 1.02))
    ax.legend()
    return fig


@styled
def improvement_intervals(improvement: pd.DataFrame) -> Figure:
    """Probability that a run of the reference beats a run of each baseline, with its CI and the numbers
    printed beside it (0.5: no edge)."""
    require(improvement, ["method_a", "method_b", "estimate", "ci_low", "ci_high"], "improvement")
    rows = improvement.set_index("method_b").loc[order(improvement["method_b"])].reset_index()
    fig, axes = grid(1, 1, width=5.0, height=1.2 + 0.55 * len(rows))
    ax = axes[0, 0]
    colours = palette(rows["method_b"])
    y = np.arange(len(rows))
    for i, r in rows.iterrows():
        lo, hi, est = r["ci_low"], r["ci_high"], r["estimate"]
        ax.errorbar(est, y[i], xerr=[[est - lo], [hi - est]], fmt="o", ms=7, capsize=4, elinewidth=2,
                    color=colours[r["method_b"]])  # fmt: skip
        ax.annotate(f"{est:.2f} [{lo:.2f}, {hi:.2f}]", (est, y[i]), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize=8)  # fmt: skip
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, [f"{label(a)} > {label(b)}" for a, b in zip(rows["method_a"], rows["method_b"])])
    ax.set(
        xlim=(-0.02, 1.02), ylim=(len(rows) - 0.4, -0.7), xlabel="probability of improvement (0.5: no edge)"
    )
    ax.grid(axis="x", alpha=0.3)
    return fig


@styled
def change_from_start(change: pd.DataFrame) -> Figure:
    """What RL changed: each method's evaluation success at the end minus at its start (paired over tasks),
    with its 95% CI, per environment and horizon; start and end printed under each bar.

    ``change`` is the ``change_from_start`` table."""
    require(change, [*CELL, "change", "ci_low", "ci_high", "start", "end"], "change_from_start")
    envs = sorted(change["env"].unique())
    horizons = sorted(change["horizon"].unique())
    fig, axes = grid(1, len(envs), width=max(3.4, 1.4 * len(horizons) + 1.5), height=3.0, sharey=True)
    methods = order(change["method"])
    colours = palette(methods)
    width = 0.8 / len(methods)
    for ax, env in zip(axes[0], envs):
        for i, m in enumerate(methods):
            c = (
                change[(change["env"] == env) & (change["method"] == m)]
                .set_index("horizon")
                .reindex(horizons)
            )
            x = np.arange(len(horizons)) - 0.4 + width * (i + 0.5)
            est, lo, hi = (100 * c[k].to_numpy() for k in ("change", "ci_low", "ci_high"))
            ax.bar(x, est, width * 0.9, color=colours[m], alpha=0.55, label=label(m))
            ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="none", ecolor="black", capsize=2)
            for xj, s0, s1 in zip(x, c["start"], c["end"]):
                if np.isfinite(s0):
                    ax.annotate(f"{100 * s0:.0f}→{100 * s1:.0f}", (xj, 0), xycoords=("data", "axes fraction"),
                                xytext=(0, 2), textcoords="offset points", ha="center", fontsize=6)  # fmt: skip
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(horizons)), [f"h={h}" for h in horizons])
        ax.set(title=env, ylabel="change in success (points)" if ax is axes[0, 0] else None)
    _legend(fig, axes[0, 0])
    return fig
