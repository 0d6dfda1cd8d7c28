"""Tables: main results, results per task type, and our numbers beside the published ones.

Each table function takes ``hiper-repro stats`` tables and returns a DataFrame of display strings
(success in percent, ``mean [ci_low, ci_high]``); :func:`write_table` writes it as CSV, Markdown and LaTeX.
Published numbers are HiPER's Table of results (arXiv 2602.16165, mean of 3 seeds) as summarised in
HIPER.md section 6; :func:`study_facts` reads what our study actually ran from the merged traces, and
:func:`differences` turns both into the plain statement printed under the comparison table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.figures.style import label, order, require
from hiper_repro.io import write_atomic

# (setting, model, metric, method) -> published success or score in percent.
PUBLISHED = pd.DataFrame(
    [
        (setting, model, metric, method, value)
        for setting, model, metric, values in [
            ("ALFWorld", "Qwen2.5-1.5B-Instruct", "success", (95.3, 86.7, 71.1, 68.2)),
            ("WebShop", "Qwen2.5-1.5B-Instruct", "score", (85.7, 83.5, 75.8, 73.8)),
            ("WebShop", "Qwen2.5-1.5B-Instruct", "success", (71.4, 67.4, 56.8, 51.5)),
            ("ALFWorld", "Qwen2.5-7B-Instruct", "success", (97.4, 90.8, 85.4, 82.8)),
            ("WebShop", "Qwen2.5-7B-Instruct", "score", (92.2, 86.2, 79.3, 81.4)),
            ("WebShop", "Qwen2.5-7B-Instruct", "success", (83.3, 75.2, 66.1, 68.7)),
        ]
        for method, value in zip(("hiper", "gigpo", "grpo", "ppo"), values)
    ]
    + [("ALFWorld", "Qwen2.5-1.5B-Instruct", "success", "ppo-pe", 81.3)],  # ablation: plan-execute + flat GAE
    columns=["setting", "model", "metric", "method", "value"],
)
PUBLISHED_BUDGET = {"iterations": 150, "episodes_per_iteration": 128, "seeds": 3, "max_turns": 50}


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
    """Success (%) per environment and horizon and pooled over cells (mean and IQM), per method."""
    require(cells, ["method", "env", "horizon", "estimate", "ci_low", "ci_high"], "final_success")
    require(aggregate, ["method", "statistic", "estimate", "ci_low", "ci_high"], "aggregate")
    if "score" in cells:
        cells = cells[cells["score"] == score]
    if "score" in aggregate:
        aggregate = aggregate[aggregate["score"] == score]
    per_cell = _wide(cells, ["env", "horizon"]).astype({"horizon": str})
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
        "methods": [str(m) for m in root["method"].values],
    }
    if "model_id" in root:
        facts["models"] = sorted({str(m) for m in np.ravel(root["model_id"].values) if str(m)})
    if "episodes" in tree.children:
        ep = tree["episodes"].to_dataset()
        facts["iterations"] = int(ep["iteration"].max()) + 1
        facts["episodes_per_iteration"] = int(ep.sizes["episode"])
    if "evaluation" in tree.children:
        facts["eval_episodes"] = int(tree["evaluation"].to_dataset().sizes["eval_episode"])
    return facts


def differences(facts: dict) -> str:
    """A plain statement of how our study differs from the published one."""
    b = PUBLISHED_BUDGET
    models = ", ".join(facts.get("models", [])) or "unrecorded"
    return (
        "What differs from the paper. Environments: ours are "
        f"{', '.join(facts.get('envs', []))} at horizons {', '.join(map(str, facts.get('horizons', [])))} "
        "(text environments run offline, with a controlled number of dependent subtasks), theirs ALFWorld and "
        f"WebShop. Model scale: ours {models}; theirs Qwen2.5-1.5B/7B-Instruct with a separate critic. "
        f"Budget: ours {facts.get('iterations', '?')} iterations of {facts.get('episodes_per_iteration', '?')} "
        f"episodes and {facts.get('n_seeds', '?')} seeds per cell; theirs {b['iterations']} iterations of "
        f"{b['episodes_per_iteration']} episodes, {b['seeds']} seeds, up to {b['max_turns']} turns. Our "
        "numbers are final-policy success on a fixed evaluation split with 95% stratified bootstrap CIs; "
        "the published ones are means without intervals. Absolute levels are therefore not comparable: "
        "only the ordering of methods and the direction of the effects are."
    )


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
