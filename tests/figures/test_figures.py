"""Every figure function on a small synthetic merged dataset: it draws the data it is given."""

import io

import numpy as np
import pytest
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
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # one line and one CI band per method
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
    _png(fig)


def test_variance_figures(stats):
    fig = credit.variance_by_position(stats["variance_by_position"], "hiper")
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 3  # flat GAE, HAE low, HAE high
    fig = credit.variance_by_horizon(stats["variance_by_horizon"], ("hiper", "ppo"))
    assert len(fig.axes) == 2
    _png(fig)


def test_segments_and_switch_rate(merged, stats):
    fig = credit.segment_distributions(merged, "hiper")
    assert len(fig.axes) == 4  # 2 envs x (advantages, lengths)
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
