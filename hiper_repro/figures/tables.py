"""Tables: main results, change from the start, diagnostics, sample efficiency, advantage variance, the
lab's ratios, settings, results per task type, and our numbers beside the published ones.

Each table function takes ``hiper-repro stats`` tables and returns a DataFrame of display strings
(success in percent, ``mean [ci_low, ci_high]``); :func:`write_table` writes it as CSV, Markdown and LaTeX.
Published numbers are HiPER's table of results (:mod:`hiper_repro.published`); :func:`study_facts` reads
what our study actually ran from the merged traces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.figures.style import ESTIMATOR_LABELS, label, order, require
from hiper_repro.io import write_atomic
from hiper_repro.published import PUBLISHED
from hiper_repro.stats.study import describe_model


def fmt(est: float, lo: float, hi: float, scale: float = 100.0, digits: int = 1) -> str:
    """``mean [lo, hi]`` in percent; an empty string when the estimate does not exist."""
    if not np.isfinite(est):
        return ""
    return f"{scale * est:.{digits}f} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def _wide(df: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    df = df.assign(cell=[fmt(e, lo, hi) for e, lo, hi in zip(df["estimate"], df["ci_low"], df["ci_high"])])
    wide = df.pivot_table(index=index, columns="method", values="cell", aggfunc="first").reset_index()
    methods = order([c for c in wide.columns if c not in index])
    wide = wide[[*index, *methods]].fillna("")
    wide.columns.name = None
    return wide.rename(columns={m: label(m) for m in methods})


def main_results(cells: pd.DataFrame, aggregate: pd.DataFrame, score: str = "final") -> pd.DataFrame:
    """Success (%) per environment and horizon and pooled over cells (mean and IQM), per method; with a
    single cell the pooled rows would repeat it and are left out."""
    require(cells, ["method", "env", "horizon", "estimate", "ci_low", "ci_high"], "final_success")
    require(aggregate, ["method", "statistic", "estimate", "ci_low", "ci_high"], "aggregate")
    if "score" in cells:
        cells = cells[cells["score"] == score]
    if "score" in aggregate:
        aggregate = aggregate[aggregate["score"] == score]
    per_cell = _wide(cells, ["env", "horizon"]).astype({"horizon": str})
    if len(per_cell) < 2:
        return per_cell
    pooled = _wide(
        aggregate.assign(env="all cells", horizon=aggregate["statistic"].map({"mean": "mean", "iqm": "IQM"})),
        ["env", "horizon"],
    )
    return pd.concat([per_cell, pooled], ignore_index=True)


def task_type_results(task_types: pd.DataFrame) -> pd.DataFrame:
    """Final success (%) per environment, horizon and task type, per method."""
    require(
        task_types, ["method", "env", "horizon", "task_type", "estimate", "ci_low", "ci_high"], "task_types"
    )
    return _wide(task_types, ["env", "horizon", "task_type"])


def published_comparison(aggregate_by_env: pd.DataFrame, facts: dict) -> pd.DataFrame:
    """Published success (%) beside ours (pooled over horizons per environment, with CI), per method.

    ``aggregate_by_env``: columns method, env, estimate, ci_low, ci_high (mean final success per env).
    """
    require(aggregate_by_env, ["method", "env", "estimate", "ci_low", "ci_high"], "aggregate_by_env")
    pub = PUBLISHED.assign(source="paper (3 seeds)", cell=PUBLISHED["value"].map(lambda v: f"{v:.1f}"))
    pub = pub.assign(setting=pub["setting"] + " (" + pub["metric"] + ")")
    models = ", ".join(facts.get("models", [])) or "see traces"
    ours = aggregate_by_env.assign(
        source=f"this study ({facts.get('n_seeds', '?')} seeds)",
        setting=aggregate_by_env["env"] + " (success, all horizons)",
        model=models,
        cell=[
            fmt(e, lo, hi)
            for e, lo, hi in zip(
                aggregate_by_env["estimate"], aggregate_by_env["ci_low"], aggregate_by_env["ci_high"]
            )
        ],
    )
    both = pd.concat([pub, ours], ignore_index=True)
    wide = both.pivot_table(
        index=["source", "setting", "model"], columns="method", values="cell", aggfunc="first", sort=False
    )
    methods = order(wide.columns)
    wide = wide[methods].fillna("").reset_index()
    wide.columns.name = None
    return wide.rename(columns={m: label(m) for m in methods})


def study_facts(tree: xr.DataTree) -> dict:
    """What our study ran, read from the merged traces: envs, horizons, seeds, models, budget."""
    root = tree.to_dataset()
    facts: dict = {
        "envs": [str(e) for e in root["env"].values],
        "horizons": [int(h) for h in root["horizon"].values],
        "n_seeds": int(root.sizes.get("seed", 0)),
        "methods": [str(m) for m in root["method_name"].values],
    }
    if "model_id" in root:  # names, never the folders the runs read them from
        ids = {str(m) for m in np.ravel(root["model_id"].values) if str(m)}
        facts["models"] = sorted({describe_model(m)["name"] for m in ids})
    if "episodes" in tree.children:
        ep = tree["episodes"].to_dataset()
        facts["iterations"] = int(ep["iteration"].max()) + 1
        facts["episodes_per_iteration"] = int(ep.sizes["episode"])
    if "evaluation" in tree.children:
        facts["eval_episodes"] = int(tree["evaluation"].to_dataset().sizes["eval_episode"])
    return facts


def settings_display(settings: pd.DataFrame) -> pd.DataFrame:
    """The ``settings`` table of ``hiper-repro stats`` (what the runs were configured with), for display."""
    if len(settings) == 0 and "setting" in settings:
        raise ValueError("the runs' stored configs hold none of the training settings the paper reports")
    require(settings, ["setting", "meaning", "value"], "settings")
    return settings[["meaning", "value", "setting"]].rename(columns={"setting": "config key"})


def _escape_tex(s: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
    ):
        s = s.replace(a, b)
    return s


def to_markdown(df: pd.DataFrame, caption: str = "") -> str:
    """A GitHub-flavoured Markdown table, with the caption as a paragraph below."""
    cells = [[str(c) for c in df.columns]] + [[str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(r).replace("\n", " ") + " |" for r in cells]
    lines.insert(1, "| " + " | ".join("---" for _ in df.columns) + " |")
    return "\n".join(lines) + (f"\n\n{caption}\n" if caption else "\n")


def to_latex(df: pd.DataFrame, caption: str = "", label_: str = "") -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    head = " & ".join(_escape_tex(str(c)) for c in df.columns) + r" \\"
    body = [" & ".join(_escape_tex(str(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{" + "l" * len(df.columns) + "}",
        r"\toprule",
        head,
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
    ]
    if caption:
        lines.append(r"\caption{" + _escape_tex(caption) + "}")
    if label_:
        lines.append(r"\label{" + label_ + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, caption: str = "") -> list[Path]:
    """Write ``name.csv``, ``name.md`` and ``name.tex`` into ``out_dir`` atomically; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{ext}" for ext in ("csv", "md", "tex")]
    texts = [df.to_csv(index=False), to_markdown(df, caption), to_latex(df, caption, f"tab:{name}")]
    for p, t in zip(paths, texts):
        write_atomic(p, t)
    return paths


def _ci(
    row: pd.Series | dict, est: str = "estimate", scale: float = 100.0, digits: int = 1, sign: bool = False
) -> str:
    """``est [lo, hi]`` of one row; signed (``+3.0``) for changes and differences."""
    e, lo, hi = row[est], row["ci_low"], row["ci_high"]
    if not np.isfinite(e):
        return ""
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{f.format(scale * e)} [{f.format(scale * lo)}, {f.format(scale * hi)}]"


def by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by environment, horizon, then method in the canonical order (reference first)."""
    rank = {m: i for i, m in enumerate(order(df["method"]))}
    return df.assign(_o=df["method"].map(rank)).sort_values(["env", "horizon", "_o"]).drop(columns="_o")


def change_table(change: pd.DataFrame) -> pd.DataFrame:
    """Per cell and method: evaluation success (%) at the start and the end, and the paired change in
    points with its 95% CI; runs and tasks it rests on."""
    require(change, ["method", "env", "horizon", "start", "end", "change", "ci_low", "ci_high", "n_runs",
                     "n_episodes"], "change_from_start")  # fmt: skip
    rows = by_cell(change)
    return pd.DataFrame(
        {
            "env": rows["env"],
            "horizon": rows["horizon"],
            "method": rows["method"].map(label),
            "start (%)": [f"{100 * v:.1f}" for v in rows["start"]],
            "end (%)": [f"{100 * v:.1f}" for v in rows["end"]],
            "change (points)": [_ci(r, "change", sign=True) for _, r in rows.iterrows()],
            "runs x tasks": [f"{int(a)} x {int(b)}" for a, b in zip(rows["n_runs"], rows["n_episodes"])],
        }
    ).reset_index(drop=True)


def change_difference_table(diff: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the reference's change minus each other method's change (points, 95% CI)."""
    require(
        diff, ["method_a", "method_b", "env", "horizon", "estimate", "ci_low", "ci_high"], "change_difference"
    )
    rows = diff.assign(
        comparison=[f"{label(a)} minus {label(b)}" for a, b in zip(diff["method_a"], diff["method_b"])],
        cell=[_ci(r, sign=True) for _, r in diff.iterrows()],
    )
    wide = rows.pivot_table(index=["env", "horizon"], columns="comparison", values="cell", aggfunc="first")
    wide.columns.name = None
    return wide.reset_index()


def horizon_trend_table(trend: pd.DataFrame) -> pd.DataFrame:
    """Per contrast and environment: the slope of its change difference per extra subtask (points, 95% CI)
    over the horizons both methods ran; ValueError when no contrast ran at two or more horizons."""
    if trend.empty and "estimate" in trend.columns:  # stats wrote it: no pair ran at two or more horizons
        raise ValueError("no two methods were compared at two or more horizons")
    require(
        trend,
        ["method_a", "method_b", "env", "estimate", "ci_low", "ci_high", "h_min", "h_max"],
        "horizon_trend",
    )
    return pd.DataFrame(
        {
            "comparison": [
                f"{label(a)} minus {label(b)}" for a, b in zip(trend["method_a"], trend["method_b"])
            ],
            "env": trend["env"],
            "horizons": [f"{int(lo)}-{int(hi)}" for lo, hi in zip(trend["h_min"], trend["h_max"])],
            "slope per subtask (points)": [_ci(r, sign=True) for _, r in trend.iterrows()],
        }
    )


DIAGNOSTIC_COLUMNS = {  # diagnostic -> (column, format of one value)
    "invalid_turn_rate": ("invalid turns, training (%)", lambda v: f"{100 * v:.1f}"),
    "explained_variance_low": ("expl. var. V_low", lambda v: f"{v:.2f}"),
    "explained_variance_high": ("expl. var. V_high", lambda v: f"{v:.2f}"),
    "explained_variance_term": ("expl. var. V_term", lambda v: f"{v:.2f}"),
    "adv_switch_abs": ("mean abs. A_switch", lambda v: f"{v:.3f}"),
    "approx_kl": ("KL after update (nats)", lambda v: f"{v:.4f}"),
    "clip_fraction": ("clip fraction", lambda v: f"{v:.3f}"),
}


def diagnostics_table(phases: pd.DataFrame, invalid_change: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per cell and method: each diagnostic's mean over seeds in the first and the last quarter of training
    ("early -> late"), and the evaluation invalid-turn rate at the start and the end."""
    require(phases, ["method", "env", "horizon", "phase", "diagnostic", "estimate"], "diagnostics_phases")
    keys = ["env", "horizon", "method"]
    wide = phases.pivot_table(index=keys, columns=["diagnostic", "phase"], values="estimate", aggfunc="first")
    out = wide.index.to_frame(index=False)
    for name, (column, f) in DIAGNOSTIC_COLUMNS.items():
        if (name, "early") in wide.columns:
            early, late = wide[(name, "early")].to_numpy(), wide[(name, "late")].to_numpy()
            out[column] = [f"{f(a)} -> {f(b)}" if np.isfinite(a) else "" for a, b in zip(early, late)]
    if invalid_change is not None and len(invalid_change):
        ev = invalid_change.set_index(keys)
        out["invalid turns, evaluation (%)"] = [
            f"{100 * ev.loc[k, 'start']:.1f} -> {100 * ev.loc[k, 'end']:.1f}" if k in ev.index else ""
            for k in map(tuple, out[keys].to_numpy())
        ]
    out = by_cell(out)
    out["method"] = out["method"].map(label)
    return out.reset_index(drop=True)


def efficiency_table(eff: pd.DataFrame, measure: str = "iterations") -> pd.DataFrame:
    """Per cell and method: runs that reached the threshold (and how many at their first evaluation) and
    the restricted mean time to it with its 95% CI (censored runs counted at their budget)."""
    require(eff, ["method", "env", "horizon", "measure", "estimate", "ci_low", "ci_high", "n_runs", "n_reached",
                  "n_at_first"], "sample_efficiency")  # fmt: skip
    rows = by_cell(eff[eff["measure"] == measure])
    return pd.DataFrame(
        {
            "env": rows["env"],
            "horizon": rows["horizon"],
            "method": rows["method"].map(label),
            "reached / runs": [f"{int(a)} / {int(b)}" for a, b in zip(rows["n_reached"], rows["n_runs"])],
            "at first evaluation": rows["n_at_first"].astype(int),
            "never (censored)": (rows["n_runs"] - rows["n_reached"]).astype(int),
            f"{measure.replace('_', ' ')} to threshold": [_ci(r, scale=1.0) for _, r in rows.iterrows()],
        }
    ).reset_index(drop=True)


def variance_table(variance: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the variance of each method's advantages over all turns (95% hierarchical bootstrap CI),
    one column per method and estimator."""
    require(
        variance,
        ["method", "estimator", "env", "horizon", "variance", "ci_low", "ci_high"],
        "variance_by_horizon",
    )
    columns = {  # methods in their order, then flat GAE, HAE low, HAE high
        (m, e): f"{label(m)}: {ESTIMATOR_LABELS.get(e, e)}"
        for m in order(variance["method"])
        for e in [*ESTIMATOR_LABELS, *sorted(set(variance["estimator"]) - set(ESTIMATOR_LABELS))]
        if ((variance["method"] == m) & (variance["estimator"] == e)).any()
    }
    rows = variance.assign(
        column=[columns[(m, e)] for m, e in zip(variance["method"], variance["estimator"])],
        cell=[_ci(r, "variance", scale=1.0, digits=4) for _, r in variance.iterrows()],
    )
    wide = rows.pivot_table(index=["env", "horizon"], columns="column", values="cell", aggfunc="first")
    wide = wide[list(columns.values())]
    wide.columns.name = None
    return wide.reset_index()


def lab_table(ratios: pd.DataFrame) -> pd.DataFrame:
    """The lab's HAE / flat GAE variance ratio per K (rows) and lambda (columns): median (interquartile
    range) over random MDPs."""
    require(ratios, ["lam", "K", "median", "q25", "q75"], "theory_ratios")
    cells = ratios.assign(
        column=[f"lambda = {v:g}" for v in ratios["lam"]],
        cell=[
            f"{m:.2f} ({a:.2f}-{b:.2f})" for m, a, b in zip(ratios["median"], ratios["q25"], ratios["q75"])
        ],
    )
    wide = cells.pivot_table(index="K", columns="column", values="cell", aggfunc="first")
    wide.columns.name = None
    return wide.reset_index()
