"""Every figure function on a small synthetic merged dataset: it draws the data it is given."""

import io

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from hiper_repro.figures import credit, results


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_final_success_bars_heights_are_the_cell_means(stats):
    fig = results.final_success_bars(stats["final_success"], stats["run_scores"])
    assert len(fig.axes) == 2 and _png(fig).startswith(b"\x89PNG")
    cells = stats["final_success"].query("score == 'final' and env == 'household'")
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    np.testing.assert_allclose(heights, sorted(100 * cells["estimate"]))
    assert (
        sum(len(c.get_offsets()) for c in fig.axes[0].collections if hasattr(c, "get_offsets")) >= 18
    )  # runs


def test_learning_curves_grid_and_bands(stats):
    fig = results.learning_curves(stats["learning_curves"])
    assert len(fig.axes) == 4  # 2 envs x 2 horizons
    ax = fig.axes[0]
    # one line and one CI band per method, and each method's start (before the first update) marked
    assert len(ax.lines) == 6 and len(ax.collections) == 3
    starts = [line for line in ax.lines if line.get_marker() == "s"]
    assert len(starts) == 3 and all(list(line.get_xdata()) == [0] for line in starts)
    # the start is 0 updates: one tick there, reading "start" (no "0" beside it), then integers
    labels = {t.get_position()[0]: t.get_text() for t in ax.get_xticklabels()}
    assert labels[0] == "start" and "0" not in labels.values() and len(labels) > 2
    _png(fig)


def test_change_from_start_bars_are_the_paired_changes(stats):
    fig = results.change_from_start(stats["change_from_start"])
    assert len(fig.axes) == 2  # one panel per env
    cells = stats["change_from_start"].query("env == 'household'")
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    np.testing.assert_allclose(heights, sorted(100 * cells["change"]))
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert len(labels) >= 1 and all("→" in t for t in labels)  # start -> end printed under each bar
    _png(fig)


def test_diagnostics_rows_and_cells(stats):
    from hiper_repro.figures.diagnostics import training_diagnostics

    fig = training_diagnostics(stats["diagnostics"])
    names = set(stats["diagnostics"]["diagnostic"])
    assert len(fig.axes) == len(names) * 4  # one row per diagnostic, one column per (env, horizon)
    assert fig.axes[0].get_ylim() == (-0.02, 1.02)  # the invalid-turn rate is a share
    _png(fig)


def test_success_vs_horizon_and_sample_efficiency(stats):
    fig = results.success_vs_horizon(stats["final_success"], stats["run_scores"])
    assert len(fig.axes) == 2
    _png(fig)
    for measure in ("iterations", "env_steps"):
        fig = results.sample_efficiency(stats["sample_efficiency"], stats["time_to_threshold"], measure)
        assert len(fig.axes) == 2
        _png(fig)


def test_profiles_and_improvement(stats):
    fig = results.performance_profiles(stats["performance_profile"])
    assert len(fig.axes[0].lines) == 3
    fig = results.improvement_intervals(stats["improvement"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 2 and all(">" in t for t in labels)
    printed = sorted(t.get_text() for t in fig.axes[0].texts)  # every number is printed beside its interval
    expected = sorted(
        f"{r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" for r in stats["improvement"].itertuples()
    )
    assert printed == expected
    _png(fig)


def test_sample_efficiency_shows_every_run_and_keeps_the_legend_out_of_the_title(stats):
    fig = results.sample_efficiency(stats["sample_efficiency"], stats["time_to_threshold"])
    assert fig._suptitle is None
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "censored run (at budget)" in legend
    ax = fig.axes[0]
    runs = stats["time_to_threshold"].query("env == 'household'")
    points = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert len(points) == len(runs)
    assert len({tuple(p) for p in points}) == len(points)  # no run hidden under another
    _png(fig)


def test_variance_figures(stats):
    v = stats["variance_by_position"].copy()
    v.loc[(v["estimator"] == "high") & (v["turn"] < 3), "ci_low"] = 0.0  # a band down to 0
    fig = credit.variance_by_position(v, "hiper")
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 3  # flat GAE, HAE low, HAE high
    bottom = fig.axes[0].get_ylim()[0]
    for band in fig.axes[0].collections:  # every band stays on the log axis
        assert np.nanmin(band.get_paths()[0].vertices[:, 1]) >= bottom * (1 - 1e-9)
    fig = credit.variance_by_horizon(stats["variance_by_horizon"])
    assert len(fig.axes) == 2
    _png(fig)


def test_variance_colours_mean_methods_and_every_method_is_shown(stats):
    from matplotlib.colors import to_hex

    from hiper_repro.figures.style import COLOURS

    fig = credit.variance_by_position(stats["variance_by_position"], "hiper")
    assert {to_hex(line.get_color()) for line in fig.axes[0].lines} == {COLOURS["hiper"]}
    styles = {(line.get_marker(), line.get_linestyle()) for line in fig.axes[0].lines}
    assert len(styles) == 3  # estimators told apart by marker and line
    fig = credit.variance_by_horizon(stats["variance_by_horizon"])
    table = stats["variance_by_horizon"].query("env == 'household'")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    assert len(labels) == len(set(labels)) == len(table[["method", "estimator"]].drop_duplicates())
    for handle, text in zip(handles, labels):
        method = next(m for m in ("hiper", "ppo", "grpo") if text.startswith(credit.label(m)))
        assert to_hex(handle[0].get_color()) == COLOURS[method]
    keys = {(to_hex(h[0].get_color()), h[0].get_marker(), h[0].get_linestyle()) for h in handles}
    assert len(keys) == len(handles)  # no two legend entries look alike


def test_single_horizon_figures_are_skipped_saying_why(stats):
    one = {k: stats[k].query("horizon == 1") for k in ("final_success", "run_scores", "variance_by_horizon")}
    with pytest.raises(ValueError, match="single horizon"):
        results.success_vs_horizon(one["final_success"], one["run_scores"])
    with pytest.raises(ValueError, match="single horizon"):
        credit.variance_by_horizon(one["variance_by_horizon"])


def test_segments_and_switch_rate(merged, stats):
    from matplotlib.colors import to_hex

    from hiper_repro.figures.style import COLOURS

    fig = credit.segment_distributions(merged, "hiper")
    assert len(fig.axes) == 4  # 2 envs x (advantages, lengths)
    used = {to_hex(p.get_edgecolor()) for p in fig.axes[1].patches}
    assert used and not used & set(COLOURS.values())  # horizons never borrow a method's colour
    _png(fig)
    fig = credit.switch_rate_dynamics(stats["switch_rate"])
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 1  # only HiPER switches here
    _png(fig)


def test_figures_refuse_missing_data(merged, stats):
    with pytest.raises(ValueError, match="final_success: missing columns"):
        results.final_success_bars(stats["final_success"].drop(columns="ci_low"), stats["run_scores"])
    with pytest.raises(ValueError, match="no rows for method 'rloo'"):
        credit.variance_by_position(stats["variance_by_position"], "rloo")
    with pytest.raises(ValueError, match="no real segment"):
        credit.segment_distributions(merged, "ppo")
    with pytest.raises(ValueError, match="the table is empty"):
        results.learning_curves(stats["learning_curves"].iloc[:0])
