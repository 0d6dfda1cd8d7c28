"""Within-run resampling: binomial redraws of validation points after drawing runs, and moving blocks."""

from __future__ import annotations

import numpy as np
import pytest

from hiper_repro.stats.noise import block_means, run_draws, two_stage_curves


class TestRunDraws:
    def test_one_run_is_always_itself(self):
        assert (run_draws(1, 50, np.random.default_rng(0)) == 0).all()

    def test_draws_with_replacement(self):
        d = run_draws(3, 4000, np.random.default_rng(0))
        assert d.shape == (4000, 3) and set(np.unique(d)) == {0, 1, 2}
        assert (d[:, 0] == d[:, 1]).mean() == pytest.approx(1 / 3, abs=0.03)

    def test_needs_a_run(self):
        with pytest.raises(ValueError, match="at least one run"):
            run_draws(0, 5, np.random.default_rng(0))


class TestTwoStageCurves:
    def test_binomial_spread_of_a_single_run(self):
        """One run, p = 0.5 over n = 100 episodes: the redraws have mean p and variance p(1-p)/n."""
        reps = two_stage_curves(np.array([[0.5, 0.9]]), np.array([100]), 20000, np.random.default_rng(0))
        assert reps.shape == (20000, 1, 2)
        assert reps[:, 0, 0].mean() == pytest.approx(0.5, abs=0.002)
        assert reps[:, 0, 0].var() == pytest.approx(0.25 / 100, rel=0.05)
        assert reps[:, 0, 1].var() == pytest.approx(0.09 / 100, rel=0.05)
        assert np.allclose(reps * 100, np.round(reps * 100))  # k / n with integer k

    def test_certain_points_and_missing_points(self):
        rates = np.array([[0.0, 1.0, np.nan]])
        reps = two_stage_curves(rates, np.array([128]), 100, np.random.default_rng(1))
        assert (reps[:, 0, 0] == 0).all() and (reps[:, 0, 1] == 1).all() and np.isnan(reps[:, 0, 2]).all()

    def test_runs_are_drawn_before_the_redraw(self):
        """Two runs at 0.2 and 0.8 with huge n: replicates are the three run mixtures, not one curve."""
        rates = np.array([[0.2], [0.8]])
        reps = two_stage_curves(rates, np.array([10**7, 10**7]), 4000, np.random.default_rng(2))
        means = np.round(reps.mean(axis=1)[:, 0], 2)
        assert set(means) == {0.2, 0.5, 0.8}

    def test_bad_shapes_and_episode_counts(self):
        with pytest.raises(ValueError, match=r"rates must be \(runs, points\)"):
            two_stage_curves(np.zeros(3), np.array([1]), 5, np.random.default_rng(0))
        with pytest.raises(ValueError, match="episodes per validation must be known"):
            two_stage_curves(np.zeros((1, 3)), np.array([np.nan]), 5, np.random.default_rng(0))


class TestBlockMeans:
    def test_one_block_covering_the_series_gives_its_mean(self):
        x = np.arange(10.0)
        assert np.allclose(block_means(x, 50, 10, np.random.default_rng(0)), 4.5)

    def test_nan_dropped_and_empty(self):
        assert np.allclose(block_means(np.array([1.0, np.nan, 1.0]), 5, 2, np.random.default_rng(0)), 1.0)
        assert np.isnan(block_means(np.array([np.nan]), 3, 2, np.random.default_rng(0))).all()

    def test_blocks_keep_autocorrelation_that_iid_resampling_loses(self):
        """AR(1) with phi = 0.9: the mean's spread is underestimated by i.i.d. resampling, less by blocks."""
        rng = np.random.default_rng(3)
        x = np.zeros(400)
        for t in range(1, x.size):
            x[t] = 0.9 * x[t - 1] + rng.normal()
        iid = block_means(x, 4000, 1, np.random.default_rng(4)).std()
        blocks = block_means(x, 4000, 20, np.random.default_rng(4)).std()
        assert blocks > 2 * iid

    def test_same_seed_same_result(self):
        x = np.random.default_rng(5).normal(size=30)
        a = block_means(x, 100, 4, np.random.default_rng(9))
        b = block_means(x, 100, 4, np.random.default_rng(9))
        assert np.array_equal(a, b)
