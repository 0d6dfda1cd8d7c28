"""Figures of the exact-gradient lab: variance and bias of each estimator against the horizon K, and where
HAE's gradient error crosses flat GAE's as the critic's explained variance falls.

Input: the dataset of `hiper_repro.theory.lab.run_grid` (``theory.nc``). Three panels at one (lambda,
gamma, critic noise) cell, defaulting to lambda = max, gamma = max, noise = min (the unbiased setting):
variance per estimator against K, relative bias against K (with the sampling floor bias_se / ||g*|| dashed),
and the paired variance ratio HAE / flat GAE against K for every lambda. Lines are medians over
replicates, bands span the replicates' min-max. Saving is the caller's job.

`plot_crossover` draws the tables of `hiper_repro.stats.lab.lab_crossover` and `crossover_points`: one
panel per lam_boundary, the median error ratio HAE / flat GAE (band: interquartile range over replicates)
against the critic's measured explained variance, one line per K, the crossings marked, and the explained
variances the runs' critics reached as vertical lines (their CIs shaded).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from hiper_repro import methods_registry

# The lab's own estimators by their lab names; a group method's estimator (named as the method) takes the
# method's registry label.
LABELS = {
    "reinforce": "REINFORCE",
    "gae": "flat GAE",
    "hae": "HAE (paper switch)",
    "hae_code": "HAE (code switch)",
} | {s.estimator: s.label for s in methods_registry.specs() if s.is_group and not s.is_variant}


def _pick(ds: xr.Dataset, lam, gamma, critic_noise) -> dict[str, float]:
    sel = {
        "lam": float(ds["lam"].max()) if lam is None else lam,
        "gamma": float(ds["gamma"].max()) if gamma is None else gamma,
        "critic_noise": float(ds["critic_noise"].min()) if critic_noise is None else critic_noise,
    }
    for dim, value in sel.items():
        if not np.isclose(ds[dim].values, value).any():
            raise ValueError(
                f"{dim}={value!r} is not in the dataset's {dim} values {ds[dim].values.tolist()}"
            )
    return sel


def _band(ax, x, da: xr.DataArray, label: str, **kw) -> None:
    med, lo, hi = (da.reduce(f, dim="replicate") for f in (np.nanmedian, np.nanmin, np.nanmax))
    (line,) = ax.plot(x, med, marker="o", label=label, **kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)


def plot_theory(
    ds: xr.Dataset, *, lam: float | None = None, gamma: float | None = None, critic_noise: float | None = None
) -> Figure:
    """Variance, relative bias and HAE / GAE variance ratio against K (module docstring)."""
    missing = {"variance", "relative_bias", "bias_se", "grad_norm"} - set(ds.data_vars)
    if missing:
        raise ValueError(f"ds is not a theory dataset: missing variables {sorted(missing)}")
    sel = _pick(ds, lam, gamma, critic_noise)
    cell = ds.sel(sel, method="nearest")
    k = ds["K"].values
    fig, (ax_var, ax_bias, ax_ratio) = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")

    for name in ds["estimator"].values:
        c = cell.sel(estimator=name)
        _band(ax_var, k, c["variance"], LABELS.get(str(name), str(name)))
        _band(ax_bias, k, c["relative_bias"], LABELS.get(str(name), str(name)))
    floor = (cell["bias_se"].sel(estimator="hae") / cell["grad_norm"]).median("replicate")
    ax_bias.plot(k, floor, "k--", linewidth=1, label="sampling floor (HAE)")
    ax_var.set(yscale="log", xlabel="subtasks K", ylabel="tr Cov (per episode)", title="variance")
    ax_bias.set(yscale="log", xlabel="subtasks K", ylabel="||E g - g*|| / ||g*||", title="relative bias")
    ax_var.legend(fontsize=7)

    at = {d: sel[d] for d in ("gamma", "critic_noise")}
    v = ds["variance"].sel(at, method="nearest")
    for lam_value in ds["lam"].values:
        ratio = v.sel(estimator="hae", lam=lam_value) / v.sel(estimator="gae", lam=lam_value)
        _band(ax_ratio, k, ratio, f"lambda={lam_value:g}")
    ax_ratio.axhline(1.0, color="k", linewidth=0.8)
    ax_ratio.set(xlabel="subtasks K", ylabel="var HAE / var flat GAE", title="variance ratio")
    ax_ratio.legend(fontsize=7)
    for ax in (ax_var, ax_bias, ax_ratio):
        ax.set_xticks(k)
    lams = ", ".join(f"{v:g}" for v in ds["lam"].values)
    fig.suptitle(
        f"exact-gradient lab at gamma={sel['gamma']:g}, critic noise={sel['critic_noise']:g}: variance and bias "
        f"at lambda={sel['lam']:g}; variance ratio at every lambda ({lams})",
        fontsize=10,
    )
    return fig


def plot_crossover(
    sweep: pd.DataFrame,
    points: pd.DataFrame,
    marks: dict[str, tuple[float, float, float]] | None = None,
) -> Figure:
    """Error ratio HAE / flat GAE against the critic's explained variance (module docstring); ``marks``:
    label -> (estimate, ci_low, ci_high) of a run critic's explained variance."""
    need = {"lam_boundary", "K", "explained_variance", "ratio", "ratio_q25", "ratio_q75", "batch", "head"}
    missing = need - set(sweep.columns)
    if missing:
        raise ValueError(f"sweep is not a theory_crossover table: missing columns {sorted(missing)}")
    if sweep.empty:
        raise ValueError("the theory_crossover table is empty")
    lbs = sorted(sweep["lam_boundary"].unique())
    fig, axes = plt.subplots(1, len(lbs), figsize=(5.2 * len(lbs), 3.8), layout="constrained", squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, lb in zip(axes[0], lbs):
        for i, (k, g) in enumerate(sweep[sweep["lam_boundary"] == lb].groupby("K")):
            g = g.sort_values("explained_variance")
            colour = colours[i % len(colours)]
            ax.plot(g["explained_variance"], g["ratio"], marker="o", color=colour, label=f"K={k}")
            ax.fill_between(
                g["explained_variance"], g["ratio_q25"], g["ratio_q75"], color=colour, alpha=0.15, linewidth=0
            )
            at = points[(points["lam_boundary"] == lb) & (points["K"] == k)]
            for ev in at["crossover_ev"].dropna():
                ax.plot([ev], [1.0], marker="x", markersize=9, color=colour)
        for j, (label, (est, lo, hi)) in enumerate((marks or {}).items()):
            if not np.isfinite(est):
                continue
            ax.axvline(est, color="0.3", linestyle=(0, (1 + j, 2)), linewidth=1, label=f"run: {label}")
            if np.isfinite(lo) and np.isfinite(hi):
                ax.axvspan(lo, hi, color="0.5", alpha=0.08, linewidth=0)
        ax.axhline(1.0, color="k", linewidth=0.8)
        title = "paper's HAE" if lb == 0 else "HAE"
        ax.set(
            yscale="log",
            xlabel=f"critic explained variance (V_{sweep['head'].iloc[0]}, measured)",
            ylabel="error HAE / error flat GAE",
            title=f"{title}, lam_boundary={lb:g}",
        )
        ax.invert_xaxis()  # the critic gets worse from left to right
        ax.legend(fontsize=7)
    fig.suptitle(
        f"exact-gradient lab: gradient error (bias^2 + variance / {int(sweep['batch'].iloc[0])} episodes) of HAE "
        "over flat GAE as the critic worsens\nbelow 1 HAE is the more accurate; x marks the crossing",
        fontsize=10,
    )
    return fig


def critic_marks(
    numbers: dict, methods: tuple[str, ...] | None = None
) -> dict[str, tuple[float, float, float]]:
    """``{"hiper V_low": (estimate, ci_low, ci_high), ...}`` from numbers.json's ``critic.{method}.{head}``
    keys (the runs' explained variance pooled over training), for ``methods`` (default: every one)."""
    out = {}
    for key, value in sorted(numbers.items()):
        parts = key.split(".")
        if len(parts) != 4 or parts[0] != "critic" or parts[3] != "estimate" or parts[2] == "term":
            continue
        method, head = parts[1], parts[2]
        if methods is not None and method not in methods:
            continue
        lo, hi = numbers.get(f"critic.{method}.{head}.ci_low"), numbers.get(f"critic.{method}.{head}.ci_high")
        nan = float("nan")
        out[f"{method} V_{head}"] = (
            float(value) if value is not None else nan,
            float(lo) if lo is not None else nan,
            float(hi) if hi is not None else nan,
        )
    return out
