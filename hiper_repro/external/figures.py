"""Figures of the HiPER authors' runs re-analysed: learning curves, per-task-type curves, the
sample-efficiency ratio's sensitivity, switching dynamics and the per-step time breakdown.

Every function takes a table of :func:`hiper_repro.external.analysis.analyse` and returns a Figure.
Arms: ``baseline`` (flat PPO), ``main`` (the headline HiPER variant), ``all`` (every HiPER run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hiper_repro.external.analysis import PHASES, PUBLISHED_SPEEDUP
from hiper_repro.figures.results import grid
from hiper_repro.figures.style import COLOURS, require, styled

ARM_STYLE = {
    "baseline": (COLOURS["ppo"], "flat PPO (GAE)"),
    "main": (COLOURS["hiper"], "HiPER, headline variant"),
    "all": ("#56b4e9", "HiPER, every variant"),
}


REASONS = {
    "efficiency": "no sample-efficiency ratio: the runs lack a flat PPO arm or a HiPER arm",
    "switching": "no run logs episode/switch_count",
    "timing": "no run logs timing_s/step",
}


def _exists(df: pd.DataFrame, name: str) -> None:
    """A ValueError saying why a table of the analysis is empty (what the logs lack)."""
    if df.empty:
        raise ValueError(f"{name}: {REASONS.get(name, 'the table is empty')}")


def _arm_band(ax, d: pd.DataFrame, arm: str, x: str = "step") -> None:
    colour, name = ARM_STYLE.get(arm, ("black", arm))
    d = d.sort_values(x)
    n = int(d["n_runs"].iloc[0])
    runs = "run" if n == 1 else "runs"
    ax.plot(d[x], 100 * d["estimate"], color=colour, marker="o", markersize=2.5, label=f"{name} ({n} {runs})")
    if d["ci_low"].notna().any():
        ax.fill_between(d[x], 100 * d["ci_low"], 100 * d["ci_high"], color=colour, alpha=0.2, linewidth=0)


@styled
def learning_curves(curves: pd.DataFrame, thresholds: tuple[float, ...] = ()) -> Figure:
    """Validation success per arm, mean over runs with the two-stage 95% band (runs, then binomial
    evaluation noise); dotted lines at the thresholds. ``curves`` is the ``curves`` table."""
    require(curves, ["arm", "step", "estimate", "ci_low", "ci_high", "n_runs"], "curves")
    fig, axes = grid(1, 1, width=5.6, height=3.4)
    ax = axes[0, 0]
    for arm in [a for a in ARM_STYLE if a in set(curves["arm"])]:
        _arm_band(ax, curves[curves["arm"] == arm], arm)
    for t in thresholds:
        ax.axhline(100 * t, color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="training step (128 episodes each)", ylabel="validation success (%)", ylim=(0, 100))
    ax.legend(loc="upper left")
    return fig


@styled
def task_type_curves(types: pd.DataFrame) -> Figure:
    """Validation success per task type and arm; bands resample runs only (no band for a single run)."""
    require(types, ["task_type", "arm", "step", "estimate", "ci_low", "ci_high", "n_runs"], "task_types")
    names = sorted(types["task_type"].unique())
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = grid(rows, cols, width=2.9, height=2.3, sharex=True, sharey=True)
    for ax, name in zip(axes.ravel(), names):
        sub = types[types["task_type"] == name]
        for arm in [a for a in ARM_STYLE if a in set(sub["arm"])]:
            _arm_band(ax, sub[sub["arm"] == arm].dropna(subset=["estimate"]), arm)
        ax.set(title=name.replace("_", " "), ylim=(0, 105))
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    for ax in axes[:, 0]:
        ax.set_ylabel("success (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return fig


@styled
def efficiency_sensitivity(eff: pd.DataFrame) -> Figure:
    """Sample-efficiency ratio (steps of flat PPO / steps of HiPER to each threshold) with 95% CIs, per
    HiPER subset (headline variant, every run, each run alone); hollow markers are bounds, not values (a
    side never reached the threshold); the grey band is the paper's 2.5-2.8x (ALFWorld, 7B)."""
    _exists(eff, "efficiency")
    require(eff, ["threshold", "subset", "estimate", "ci_low", "ci_high", "bound"], "efficiency")
    thresholds = sorted(eff["threshold"].unique())
    subsets = list(dict.fromkeys(eff["subset"]))
    fig, axes = grid(1, len(thresholds), width=2.9, height=0.9 + 0.32 * len(subsets), sharey=True)
    y = np.arange(len(subsets))
    colours = [ARM_STYLE.get(s, (COLOURS["hiper"], s))[0] for s in subsets]
    for ax, t in zip(axes[0], thresholds):
        d = eff[eff["threshold"] == t].set_index("subset").reindex(subsets)
        ax.axvspan(*PUBLISHED_SPEEDUP, color="grey", alpha=0.15, linewidth=0)
        ax.axvline(1.0, color="black", linewidth=0.8)
        for i, (_, row) in enumerate(d.iterrows()):
            ax.plot([row["ci_low"], row["ci_high"]], [y[i], y[i]], color=colours[i], linewidth=2)
            face = colours[i] if row["bound"] == "exact" else "none"  # "lower", "upper", "none": bounds
            ax.plot(row["estimate"], y[i], "o", markerfacecolor=face, markeredgecolor=colours[i])
        ax.set(title=f"threshold {100 * t:.0f}%", xlabel="flat / HiPER steps")
    axes[0, 0].set_yticks(y, [ARM_STYLE[s][1] if s in ARM_STYLE else s for s in subsets])
    axes[0, 0].invert_yaxis()
    return fig


@styled
def switching(curve: pd.DataFrame, window_steps: int | None = None) -> Figure:
    """Switches per turn (``episode/switch_count/mean`` / ``episode/length/mean``) over training, one line
    per HiPER run; the shaded spans are the early and late windows the settling statistic compares."""
    _exists(curve, "switching")
    require(curve, ["run", "step", "switches_per_turn"], "switching")
    fig, axes = grid(1, 1, width=5.6, height=3.0)
    ax = axes[0, 0]
    for run, d in curve.groupby("run", sort=False):
        ax.plot(d["step"], d["switches_per_turn"], linewidth=1, label=str(run))
    if window_steps:
        steps = np.sort(curve["step"].unique())
        for lo, hi in ((steps[0], steps[window_steps - 1]), (steps[-window_steps], steps[-1])):
            ax.axvspan(lo, hi, color="grey", alpha=0.12, linewidth=0)
    ax.set(xlabel="training step", ylabel="switches per turn", ylim=(0, 1.05))
    ax.legend(loc="upper right")
    return fig


@styled
def timing_breakdown(timing: pd.DataFrame) -> Figure:
    """Mean seconds per training step in each phase (``timing_s/*``), one bar per run."""
    _exists(timing, "timing")
    require(timing, ["run", "step_s", *PHASES], "timing")
    fig, axes = grid(1, 1, width=6.0, height=0.8 + 0.4 * len(timing))
    ax = axes[0, 0]
    left = np.zeros(len(timing))
    y = np.arange(len(timing))
    colours = dict(zip([*PHASES, "other"], [f"C{i}" for i in range(len(PHASES) + 1)]))
    for phase in [*PHASES, "other"]:
        width = timing[phase].fillna(0).to_numpy()
        ax.barh(y, width, left=left, color=colours[phase], label=phase.replace("_", " "))
        left += width
    ax.set_yticks(y, timing["run"])
    ax.invert_yaxis()
    ax.set(xlabel="seconds per training step (validation excluded)")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=5)
    return fig


# Tables: display strings (success in percent) for the paper; :func:`hiper_repro.figures.tables.write_table`
# writes them as CSV, Markdown and LaTeX.


def _pct(est: float, lo: float = np.nan, hi: float = np.nan) -> str:
    if not np.isfinite(est):
        return ""
    return f"{100 * est:.1f}" + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if np.isfinite(lo) else "")


def _steps(row: pd.Series, key: str, last_step: int) -> str:
    if not row[f"{key}_reached"]:
        return f"not by {last_step}"
    return f"{row[f'{key}_step']:.0f} [{row[f'{key}_ci_low']:.0f}, {row[f'{key}_ci_high']:.0f}]"


def runs_table(runs: pd.DataFrame, thresholds: tuple[float, ...], k: int, last_step: int) -> pd.DataFrame:
    """Per run: final, last-k and best validation success (%) and the first step at each threshold."""
    require(runs, ["run", "method", "seed", "final", "last_k", "best"], "runs")
    out = pd.DataFrame(
        {
            "run": runs["run"],
            "method": runs["method"],
            "seed": runs["seed"],
            "final (%)": [_pct(r.final, r.final_ci_low, r.final_ci_high) for r in runs.itertuples()],
            f"last {k} (%)": [_pct(r.last_k, r.last_k_ci_low, r.last_k_ci_high) for r in runs.itertuples()],
            "best (%)": [_pct(v) for v in runs["best"]],
        }
    )
    for t in thresholds:
        key = f"t{round(100 * t)}"
        out[f"first step >= {100 * t:.0f}%"] = [_steps(r, key, last_step) for _, r in runs.iterrows()]
    return out


def ratio_text(row: pd.Series) -> str:
    """``2.40x [2.00, 3.00]``, prefixed ``>=`` when the ratio is a lower bound."""
    if not np.isfinite(row["estimate"]):
        return ""
    bound = {"lower": ">= ", "upper": "<= ", "none": "~ "}.get(row["bound"], "")
    return f"{bound}{row['estimate']:.2f}x [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def efficiency_table(eff: pd.DataFrame) -> pd.DataFrame:
    """Ratio of steps to each threshold, flat PPO over HiPER, per HiPER subset (rows) and threshold."""
    _exists(eff, "efficiency")
    require(eff, ["threshold", "subset", "n_runs", "estimate", "ci_low", "ci_high", "bound"], "efficiency")
    cells = eff.assign(cell=[ratio_text(r) for _, r in eff.iterrows()])
    wide = cells.pivot_table(index=["subset", "n_runs"], columns="threshold", values="cell", aggfunc="first",
                             sort=False).reset_index()  # fmt: skip
    wide.columns = ["HiPER runs counted", "runs", *[f"{100 * t:.0f}%" for t in wide.columns[2:]]]
    wide["HiPER runs counted"] = [
        ARM_STYLE[s][1] if s in ARM_STYLE else s for s in wide["HiPER runs counted"]
    ]
    return wide


def claims_table(claims: pd.DataFrame, published: dict[str, str]) -> pd.DataFrame:
    """Each claim: statement, what the paper reports, the log-derived estimate with CI, and the verdict."""
    require(claims, ["claim", "statement", "verdict", "estimate", "ci_low", "ci_high"], "claims")
    rows = []
    for r in claims.to_dict("records"):
        est = (
            ""
            if not np.isfinite(r["estimate"])
            else f"{r['estimate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        )
        note = r.get("measure") if isinstance(r.get("measure"), str) else r.get("reason", "")
        rows.append({"claim": r["statement"], "published": published.get(r["claim"], ""), "on the logs": est,
                     "verdict": r["verdict"], "what decides it": note or ""})  # fmt: skip
    return pd.DataFrame(rows)


def published_table(arms: pd.DataFrame, published: dict[str, float], k: int) -> pd.DataFrame:
    """Published ALFWorld 1.5B success beside the logs' final, last-k and best validation success (%)."""
    require(arms, ["arm", "score", "estimate", "ci_low", "ci_high", "n_runs"], "arms")
    rows = []
    for arm, method in (("main", "hiper"), ("all", "hiper"), ("baseline", "ppo")):
        a = arms[arms["arm"] == arm].set_index("score")
        if a.empty or method not in published:
            continue
        final, last = a.loc["final"], a.loc["last_k"]
        inside = final["ci_low"] <= published[method] / 100 <= final["ci_high"]
        n = int(final["n_runs"])
        rows.append(
            {
                "arm": f"{ARM_STYLE[arm][1]} ({n} run{'' if n == 1 else 's'})",
                "published (3 seeds)": f"{published[method]:.1f}",
                "logs: final": _pct(final["estimate"], final["ci_low"], final["ci_high"]),
                f"logs: last {k}": _pct(last["estimate"], last["ci_low"], last["ci_high"]),
                "logs: best validation": _pct(a.loc["best", "estimate"]),
                "published inside the final's CI": "yes" if inside else "no",
            }
        )
    return pd.DataFrame(rows)


def timing_table(timing: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per training step by phase, validation cost and GPU budget, per run."""
    _exists(timing, "timing")
    require(
        timing,
        ["run", "step_s", "validation_s", "gpus", "gpu_s_per_episode", "run_gpu_hours", *PHASES],
        "timing",
    )
    out = timing[["run", "method"]].copy()
    out["generation (s)"] = timing["gen"].round(1)
    out["actor update (s)"] = timing["update_actor"].round(1)
    out["critic update (s)"] = timing["update_critic"].round(1)
    rest = [p for p in PHASES if p not in ("gen", "update_actor", "update_critic")]
    out["other phases (s)"] = (timing[rest].sum(axis=1) + timing["other"]).round(1)
    out["step (s)"] = timing["step_s"].round(1)
    out["validation (s)"] = timing["validation_s"].round(1)
    out["GPUs"] = timing["gpus"]
    out["GPU-s per episode"] = timing["gpu_s_per_episode"].round(2)
    out["GPU-hours per run"] = timing["run_gpu_hours"].round(1)
    return out
