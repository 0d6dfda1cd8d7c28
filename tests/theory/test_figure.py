"""The lab's figure function (hiper_repro.figures.theory)."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from hiper_repro.figures.theory import plot_theory  # noqa: E402
from hiper_repro.theory.lab import Grid, run_grid  # noqa: E402


@pytest.fixture(scope="module")
def ds():
    return run_grid(Grid((1, 2), (0.9, 1.0), (1.0,), (0.0,), replicates=2, n_episodes=256), seed=0)


def test_three_panels_with_one_line_per_estimator(ds):
    fig = plot_theory(ds)
    ax_var, ax_bias, ax_ratio = fig.axes
    assert len(ax_var.get_lines()) == ds.sizes["estimator"]
    assert len(ax_ratio.get_lines()) == 2 + 1  # one per lambda plus the reference line at 1
    y = ax_var.get_lines()[0].get_ydata()
    assert (y > 0).all()
    title = fig.get_suptitle()  # which lambda each panel draws: variance and bias at 1, the ratio at both
    assert "variance and bias at lambda=1" in title and "every lambda (0.9, 1)" in title


def test_bad_input(ds):
    with pytest.raises(ValueError, match="lam"):
        plot_theory(ds, lam=0.3)
    with pytest.raises(ValueError, match="missing"):
        plot_theory(ds.drop_vars("variance"))


def test_crossover_panels_lines_crossings_and_run_marks():
    from hiper_repro.figures.theory import critic_marks, plot_crossover
    from hiper_repro.stats.lab import crossover_points, lab_crossover

    ds = run_grid(
        Grid((1, 2), (1.0,), (1.0,), (0.0,), replicates=2, n_episodes=256, critic_ev=(1.0, 0.7, 0.4)), seed=0
    )
    sweep = lab_crossover(ds)
    points = crossover_points(sweep)
    numbers = {"critic.hiper.low.estimate": 0.05, "critic.hiper.low.ci_low": 0.03, "critic.hiper.low.ci_high": 0.08,
               "critic.hiper.term.estimate": 0.1, "critic.ppo-pe.low.estimate": 0.04,
               "critic.ppo-pe.low.ci_low": None, "critic.ppo-pe.low.ci_high": None}  # fmt: skip
    marks = critic_marks(numbers)
    assert list(marks) == ["hiper V_low", "ppo-pe V_low"] and marks["hiper V_low"] == (0.05, 0.03, 0.08)
    fig = plot_crossover(sweep, points, marks)
    assert len(fig.axes) == 2  # lam_boundary 0 and 1
    for ax, lb in zip(fig.axes, (0.0, 1.0)):
        crossings = points[(points["lam_boundary"] == lb)]["crossover_ev"].notna().sum()
        # one line per K, an x per crossing, two run marks, the line at 1
        assert len(ax.get_lines()) == 2 + crossings + 2 + 1
        assert ax.get_xlim()[0] > ax.get_xlim()[1]  # the critic worsens from left to right
    with pytest.raises(ValueError, match="missing columns"):
        plot_crossover(sweep.drop(columns="ratio"), points)
