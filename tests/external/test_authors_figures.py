"""Figures and display tables of the authors' runs, from the analysis of synthetic logs."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from hiper_repro.external import figures as fig
from hiper_repro.external.analysis import Options, analyse

from .test_authors_analysis import FAST_RATES, FLAT_RATES, SLOW_RATES, build

OPTS = Options(reps=200)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    ds = build(tmp_path_factory.mktemp("logs"), [
        ("flat", "gae", 0, FLAT_RATES, "", None),
        ("h5", "hgae", 5, FAST_RATES, "", (0.8, 0.4)),
        ("h6", "hgae", 6, FAST_RATES, "", (0.8, 0.4)),
        ("h2", "hgae", 2, SLOW_RATES, "algorithm.hgae.keep_penalty=-0.1", (0.6, 0.5)),
    ])  # fmt: skip
    return analyse(ds, OPTS)[0]


def test_learning_curves(tables):
    f = fig.learning_curves(tables["curves"], OPTS.thresholds)
    assert isinstance(f, Figure)
    ax = f.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "flat PPO (GAE) (1 run)", "HiPER, headline variant (2 runs)", "HiPER, every variant (3 runs)"
    ]  # fmt: skip
    assert len(ax.collections) == 3  # one band per arm


def test_task_types_have_a_panel_per_type(tables):
    f = fig.task_type_curves(tables["task_types"])
    assert [a.get_title() for a in f.axes if a.get_visible()] == ["pick"]


def test_efficiency_sensitivity(tables):
    f = fig.efficiency_sensitivity(tables["efficiency"])
    assert [a.get_title() for a in f.axes] == ["threshold 50%", "threshold 70%", "threshold 80%"]
    assert [t.get_text() for t in f.axes[0].get_yticklabels()] == [
        "HiPER, headline variant", "HiPER, every variant", "h5", "h6", "h2"
    ]  # fmt: skip
    # Filled markers are exact ratios, hollow ones bounds (a side never reached the threshold).
    for ax, (_, d) in zip(f.axes, tables["efficiency"].groupby("threshold", sort=True)):
        markers = [line for line in ax.lines if line.get_marker() == "o"]
        hollow = [line.get_markerfacecolor() == "none" for line in markers]
        assert hollow == [b != "exact" for b in d.set_index("subset").reindex(
            list(dict.fromkeys(tables["efficiency"]["subset"])))["bound"]]  # fmt: skip


def test_switching_and_timing(tables):
    f = fig.switching(tables["switching"], 25)
    assert len(f.axes[0].lines) == 3 and len(f.axes[0].patches) == 2  # three runs, two windows
    t = fig.timing_breakdown(tables["timing"])
    assert len(t.axes[0].patches) == 4 * 9  # four runs, eight phases and "other"


def test_figures_name_missing_data():
    with pytest.raises(ValueError, match="curves: the table is empty"):
        fig.learning_curves(pd.DataFrame(columns=["arm", "step", "estimate", "ci_low", "ci_high", "n_runs"]))


class TestTables:
    def test_runs_table(self, tables):
        t = fig.runs_table(tables["runs"], OPTS.thresholds, OPTS.k, 100).set_index("run")
        assert t.loc["flat", "first step >= 70%"].startswith("100 [")
        assert t.loc["flat", "first step >= 80%"] == "not by 100"
        assert t.loc["h5", "final (%)"].startswith("85.0 [")
        assert t.loc["h5", "best (%)"] == "85.0"

    @pytest.mark.parametrize(
        ("bound", "text"), [("exact", "2.00x [1.50, 2.50]"), ("lower", ">= 2.00x [1.50, 2.50]"),
                            ("upper", "<= 2.00x [1.50, 2.50]"), ("none", "~ 2.00x [1.50, 2.50]")],
    )  # fmt: skip
    def test_ratio_text(self, bound, text):
        row = pd.Series({"estimate": 2.0, "ci_low": 1.5, "ci_high": 2.5, "bound": bound})
        assert fig.ratio_text(row) == text

    def test_efficiency_claims_published_timing(self, tables):
        eff = fig.efficiency_table(tables["efficiency"])
        assert list(eff.columns) == ["HiPER runs counted", "runs", "50%", "70%", "80%"]
        assert eff.iloc[0]["80%"].startswith(">= 1.33x")
        claims = fig.claims_table(tables["claims"], {"sample_efficiency": "2.5x"})
        assert claims.set_index("verdict").loc["supported"].shape[0] == 3
        assert "2.5x" in set(claims["published"])
        pub = fig.published_table(tables["arms"], {"hiper": 95.3, "ppo": 68.2}, 3).set_index(
            "published (3 seeds)"
        )
        assert pub.loc["95.3"].iloc[0]["published inside the final's CI"] == "no"  # 85% [.., ..] misses 95.3
        assert pub.loc["68.2", "published inside the final's CI"] == "yes"  # 71% +- 8 holds 68.2
        timing = fig.timing_table(tables["timing"]).set_index("run")
        assert timing.loc["flat", "generation (s)"] == 100.0 and timing.loc["flat", "step (s)"] == 130.0
