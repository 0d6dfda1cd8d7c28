"""Figures of credit assignment: advantage variance by turn position and by horizon (flat GAE vs HAE low
and high), per-segment advantage and segment-length distributions, and switch-rate dynamics.

Variance and switch-rate figures take tables from ``hiper-repro stats``; the segment figure reads the
``/segments`` group of the merged traces directly (it shows raw distributions, not a statistic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from hiper_repro.figures.results import grid, require_horizons
from hiper_repro.figures.style import ESTIMATOR_LABELS, label, order, palette, require, styled

# Colour means the method in every figure (style.COLOURS); an estimator is told by its marker and line.
ESTIMATOR_STYLE = {
    "flat": ("o", ":"),
    "low": ("s", "-"),
    "high": ("^", "--"),
}


def _estimator_style(est: str) -> tuple[str, str]:
    return ESTIMATOR_STYLE.get(est, ("x", "-."))


def log_band(low: np.ndarray, high: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """A CI band drawable on a log axis: lower ends at or below 0 (a bootstrap that drew a single turn)
    raised to ``floor``, the axis' bottom, so the band stays on the axis instead of falling off it."""
    return np.maximum(np.asarray(low, float), floor), np.maximum(np.asarray(high, float), floor)


@styled
def variance_by_position(variance: pd.DataFrame, method: str = "hiper") -> Figure:
    """Variance of the advantage at each turn position for ``method``'s estimators (flat GAE on the same
    turns, HAE low, HAE high: markers and line styles, in the method's colour), with hierarchical bootstrap
    CIs; rows environments, columns horizons.
    On the log axis a band's lower end at 0 is drawn at the axis' bottom (a fifth of the smallest positive
    value shown). ``variance`` is the ``variance_by_position`` table."""
    require(
        variance,
        ["method", "estimator", "env", "horizon", "turn", "variance", "ci_low", "ci_high"],
        "variance_by_position",
    )
    v = variance[variance["method"] == method]
    if v.empty:
        raise ValueError(
            f"variance_by_position: no rows for method {method!r}; methods seen: {sorted(variance['method'].unique())}"
        )
    envs, horizons = sorted(v["env"].unique()), sorted(v["horizon"].unique())
    fig, axes = grid(len(envs), len(horizons))
    colour = palette([method])[method]
    positive = v.loc[v["variance"] > 0, "variance"]
    floor = float(positive.min()) / 5 if len(positive) else 1e-6
    for (r, env), (c, h) in ((a, b) for a in enumerate(envs) for b in enumerate(horizons)):
        ax = axes[r, c]
        for est in [e for e in ESTIMATOR_STYLE if e in set(v["estimator"])]:
            d = v[(v["env"] == env) & (v["horizon"] == h) & (v["estimator"] == est)].sort_values("turn")
            marker, ls = _estimator_style(est)
            ax.plot(
                d["turn"],
                d["variance"],
                marker=marker,
                linestyle=ls,
                color=colour,
                label=ESTIMATOR_LABELS.get(est, est),
            )
            ax.fill_between(d["turn"], *log_band(d["ci_low"], d["ci_high"], floor), color=colour, alpha=0.12)
        ax.set(title=f"{env}, h={h}", yscale="log")
        ax.set_ylim(bottom=floor)
        if r == len(envs) - 1:
            ax.set_xlabel("turn position")
        if c == 0:
            ax.set_ylabel("advantage variance")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3)
    fig.suptitle(f"{label(method)}: advantage variance by turn position")
    return fig


@styled
def variance_by_horizon(variance: pd.DataFrame, methods: tuple[str, ...] | None = None) -> Figure:
    """Advantage variance over all turns against horizon, with hierarchical bootstrap CIs; colour marks the
    method (``methods`` present in the table, default every one, as in the variance table), marker and line
    style the estimator (flat GAE, HAE low, HAE high); one panel per environment. Skipped (ValueError) with a
    single horizon. ``variance`` is the ``variance_by_horizon`` table."""
    require(
        variance,
        ["method", "estimator", "env", "horizon", "variance", "ci_low", "ci_high"],
        "variance_by_horizon",
    )
    require_horizons(variance, "variance_by_horizon")
    shown = (
        order(variance["method"]) if methods is None else [m for m in methods if m in set(variance["method"])]
    )
    if not shown:
        raise ValueError(
            f"variance_by_horizon: none of {list(methods)} in methods {sorted(variance['method'].unique())}"
        )
    envs = sorted(variance["env"].unique())
    fig, axes = grid(1, len(envs), width=3.6)
    colours = palette(shown)
    for ax, env in zip(axes[0], envs):
        v = variance[variance["env"] == env]
        for m in shown:
            for est in [e for e in ESTIMATOR_STYLE if e in set(v.loc[v["method"] == m, "estimator"])]:
                d = v[(v["method"] == m) & (v["estimator"] == est)].sort_values("horizon")
                marker, ls = _estimator_style(est)
                low, high = log_band(d["ci_low"], d["ci_high"], float(d["variance"].min()) / 5)
                yerr = [d["variance"] - low, high - d["variance"]]
                ax.errorbar(d["horizon"], d["variance"], yerr=yerr, marker=marker, linestyle=ls, capsize=2,
                            color=colours[m], label=f"{label(m)}: {ESTIMATOR_LABELS.get(est, est)}")  # fmt: skip
        ax.set(title=env, xlabel="horizon (subtasks)", yscale="log", xticks=sorted(v["horizon"].unique()))
    axes[0, 0].set_ylabel("advantage variance (all turns)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)))
    return fig


def _segments_frame(tree: xr.DataTree, method: str) -> pd.DataFrame:
    """Tidy real segments of ``method``: env, horizon, adv_high, length."""
    if "segments" not in tree.children:
        raise ValueError(f"merged tree has no group 'segments'; groups seen: {sorted(tree.children)}")
    seg = tree["segments"].to_dataset()
    if method not in seg["method_name"].values:
        raise ValueError(f"segments: no method {method!r}; methods seen: {list(seg['method_name'].values)}")
    s = seg[["adv_high", "length"]].sel(method_name=method)
    real = (seg["start_turn"].sel(method_name=method) >= 0).transpose(*s["length"].dims).values
    env, horizon, _ = xr.broadcast(s["env"], s["horizon"], s["length"])
    return pd.DataFrame(
        {
            "env": env.transpose(*s["length"].dims).values[real],
            "horizon": horizon.transpose(*s["length"].dims).values[real],
            "adv_high": s["adv_high"].values[real],
            "length": s["length"].values[real],
        }
    )


def horizon_colours(horizons: list[int]) -> dict[int, tuple[float, float, float]]:
    """A grey ramp, light (shortest) to black (longest): horizons never take a method's colour."""
    shades = np.linspace(0.65, 0.0, len(horizons)) if len(horizons) > 1 else [0.3]
    return {h: (float(g), float(g), float(g)) for h, g in zip(horizons, shades)}


@styled
def segment_distributions(tree: xr.DataTree, method: str = "hiper") -> Figure:
    """Per-option (segment) high-level advantages A_high and segment lengths d_k of ``method``, by horizon
    (violins for A_high, histograms of lengths), pooled over seeds and iterations; one row per env."""
    df = _segments_frame(tree, method)
    if df.empty:
        raise ValueError(f"segments: {method!r} has no real segment (a flat-format method has none)")
    envs, horizons = sorted(df["env"].unique()), sorted(df["horizon"].unique())
    fig, axes = grid(len(envs), 2, width=3.6)
    colours = horizon_colours(horizons)
    for r, env in enumerate(envs):
        d = df[df["env"] == env]
        adv = [d.loc[(d["horizon"] == h) & d["adv_high"].notna(), "adv_high"].to_numpy() for h in horizons]
        pos = [i for i, a in enumerate(adv) if a.size > 1]
        if pos:
            parts = axes[r, 0].violinplot([adv[i] for i in pos], positions=pos, showmedians=True)
            for body, i in zip(parts["bodies"], pos):
                body.set_facecolor(colours[horizons[i]])
        axes[r, 0].set_xticks(range(len(horizons)), [f"h={h}" for h in horizons])
        axes[r, 0].set(title=f"{env}: segment advantage A_high", ylabel="A_high")
        top = int(np.nanmax(d["length"])) if len(d) else 1
        bins = np.arange(0.5, top + 1.5)
        for h in horizons:
            lengths = d.loc[d["horizon"] == h, "length"].dropna()
            axes[r, 1].hist(lengths, bins=bins, density=True, histtype="step", linewidth=1.5, color=colours[h],
                            label=f"h={h} (mean {lengths.mean():.1f})")  # fmt: skip
        axes[r, 1].set(
            title=f"{env}: segment length", xlabel="turns per segment", ylabel="fraction of segments"
        )
        axes[r, 1].legend()
    fig.suptitle(f"{label(method)}: segments (options)")
    return fig


@styled
def switch_rate_dynamics(rates: pd.DataFrame) -> Figure:
    """Fraction of turns (after the first) that SWITCH, over training, mean over seeds with CI band, for
    every plan-execute method; one panel per (env, horizon). ``rates`` is the ``switch_rate`` table."""
    require(rates, ["method", "env", "horizon", "iteration", "estimate", "ci_low", "ci_high"], "switch_rate")
    envs, horizons = sorted(rates["env"].unique()), sorted(rates["horizon"].unique())
    fig, axes = grid(len(envs), len(horizons), sharey=True)
    colours = palette(rates["method"])
    for (r, env), (c, h) in ((a, b) for a in enumerate(envs) for b in enumerate(horizons)):
        ax = axes[r, c]
        sub = rates[(rates["env"] == env) & (rates["horizon"] == h)]
        for m in order(sub["method"]):
            d = sub[sub["method"] == m].sort_values("iteration")
            ax.plot(d["iteration"], d["estimate"], color=colours[m], label=label(m))
            ax.fill_between(d["iteration"], d["ci_low"], d["ci_high"], color=colours[m], alpha=0.2)
        ax.set(title=f"{env}, h={h}", ylim=(0, 1))
        if r == len(envs) - 1:
            ax.set_xlabel("training iteration")
        if c == 0:
            ax.set_ylabel("switch rate")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=max(1, len(labels)))
    return fig
