"""`hiper-repro figures` end to end: every figure as PDF and PNG, every table in three formats."""

import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from hiper_repro.figures import cli
from hiper_repro.io import write_atomic
from hiper_repro.traces.store import write_tree


@pytest.fixture(scope="module")
def inputs(merged, stats, tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    write_tree(merged, root / "merged.nc")
    for name, df in stats.items():
        write_atomic(root / "stats" / f"{name}.csv", df.to_csv(index=False))
    return root


def test_all_figures_and_tables(inputs, monkeypatch):
    import hiper_repro.figures.theory as theory

    drawn = []

    def fake_plot_theory(ds):  # the theory engineer tests plot_theory itself; here only the wiring
        drawn.append(float(ds["x"].sum()))
        fig = Figure()
        fig.add_subplot().plot([0, 1])
        return fig

    monkeypatch.setattr(theory, "plot_theory", fake_plot_theory)
    xr.Dataset({"x": ("k", np.arange(3.0))}).to_netcdf(inputs / "theory.nc", engine="h5netcdf")
    argv = ["--merged", str(inputs / "merged.nc"), "--stats", str(inputs / "stats"), "--out", str(inputs / "fig"),
            "--tables", str(inputs / "tab"), "--theory", str(inputs / "theory.nc")]  # fmt: skip
    assert cli.main(argv) == 0
    assert drawn == [3.0]
    names = ["final_success", "learning_curves", "change_from_start", "success_vs_horizon", "sample_efficiency",
             "performance_profiles", "probability_of_improvement", "variance_by_position", "variance_by_horizon",
             "segments", "switch_rate", "diagnostics", "theory"]  # fmt: skip
    for name in names:
        for ext in ("pdf", "png"):
            assert (inputs / "fig" / f"{name}.{ext}").stat().st_size > 1000, name
    for name in ("main_results", "change_from_start", "change_difference", "diagnostics", "sample_efficiency",
                 "variance", "task_types", "published_comparison"):  # fmt: skip
        for ext in ("csv", "md", "tex"):
            assert (inputs / "tab" / f"{name}.{ext}").stat().st_size > 100, name
    # No lab dataset reached the stats, and synthetic runs store no training config and play no secondary
    # evaluation: those tables are skipped with the reason, for the paper to print.
    skipped = json.loads((inputs / "tab" / "index.json").read_text())["skipped_tables"]
    assert sorted(skipped) == ["change_secondary", "lab_ratios", "settings"]
    assert "theory_ratios.csv not written" in skipped["lab_ratios"]
    assert "hold none of the training settings" in skipped["settings"]
    figures = json.loads((inputs / "fig" / "index.json").read_text())["skipped"]
    assert "no critic-quality sweep" in figures["theory_crossover"]  # this lab dataset has none
    assert not list((inputs / "fig").glob(".*"))  # no temporary files left behind


def test_missing_stats_table(inputs, tmp_path):
    with pytest.raises(ValueError, match="missing run_scores.csv"):
        cli.main(["--merged", str(inputs / "merged.nc"), "--stats", str(tmp_path), "--out", str(tmp_path)])
