"""Tables: formatted cells, Markdown and LaTeX rendering, the comparison with published numbers."""

import pandas as pd
import pytest

from hiper_repro.figures import tables


def test_main_results_cells_and_pooled_rows(stats):
    t = tables.main_results(stats["final_success"], stats["aggregate"])
    row = (
        stats["final_success"]
        .query("score == 'final' and method == 'hiper' and env == 'shop' and horizon == 3")
        .iloc[0]
    )
    cell = t[(t["env"] == "shop") & (t["horizon"] == "3")]["HiPER (HAE)"].item()
    assert cell == tables.fmt(row["estimate"], row["ci_low"], row["ci_high"])
    assert set(t.loc[t["env"] == "all cells", "horizon"]) == {"mean", "IQM"}
    assert list(t.columns[2:]) == ["HiPER (HAE)", "PPO (flat GAE)", "GRPO"]
    one = stats["final_success"].query("env == 'shop' and horizon == 3")
    single = tables.main_results(one, stats["aggregate"])  # pooled rows would repeat the one cell
    assert list(single["env"]) == ["shop"] and single.iloc[0]["HiPER (HAE)"] == cell


def test_task_types(stats):
    t = tables.task_type_results(stats["task_types"])
    assert {"env", "horizon", "task_type"} <= set(t.columns) and len(t) > 0


def test_published_comparison_and_statement(merged, stats):
    facts = tables.study_facts(merged)
    assert facts["n_seeds"] == 3 and facts["iterations"] == 8 and facts["episodes_per_iteration"] == 12
    t = tables.published_comparison(stats["aggregate_by_env"], facts)
    paper = t[t["source"].str.startswith("paper")]
    assert "95.3" in set(paper["HiPER (HAE)"]) and "68.2" in set(paper["PPO (flat GAE)"])
    assert len(t[t["source"].str.startswith("this study")]) == 2
    assert facts["models"] == ["synthetic"]  # names, never folders


def test_renderers_and_writer(tmp_path):
    df = pd.DataFrame({"a_b": ["50%", "x & y"], "c": [1, 2]})
    md = tables.to_markdown(df, "caption")
    assert md.splitlines()[:2] == ["| a_b | c |", "| --- | --- |"] and md.strip().endswith("caption")
    tex = tables.to_latex(df, "50% done", "tab:x")
    assert r"a\_b & c \\" in tex and r"50\% & 1 \\" in tex and r"x \& y" in tex and r"\label{tab:x}" in tex
    paths = tables.write_table(df, tmp_path, "t", "cap")
    assert [p.name for p in paths] == ["t.csv", "t.md", "t.tex"]
    assert pd.read_csv(paths[0]).equals(df)
    assert tables.fmt(float("nan"), 0, 1) == ""


def test_horizon_trend_table_reads_points_per_subtask():
    trend = pd.DataFrame(
        [{"method_a": "hiper", "method_b": "ppo-pe", "env": "household", "estimate": 0.05, "ci_low": 0.01,
          "ci_high": 0.09, "n_horizons": 3, "h_min": 1, "h_max": 3}]
    )  # fmt: skip
    table = tables.horizon_trend_table(trend)
    assert table.iloc[0]["horizons"] == "1-3"
    assert table.iloc[0]["slope per subtask (points)"] == "+5.0 [+1.0, +9.0]"
    with pytest.raises(ValueError, match="two or more horizons"):
        tables.horizon_trend_table(trend.iloc[:0])
