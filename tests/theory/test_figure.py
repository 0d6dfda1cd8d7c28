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
