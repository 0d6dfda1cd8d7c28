"""Stratified bootstrap aggregates: IQM against scipy and by hand, stratification, NaN cells, CIs."""

import numpy as np
import pytest
from scipy import stats as sps

from hiper_repro.stats.bootstrap import aggregate, difference, iqm, percentile_ci


class TestIqm:
    def test_hand_computed(self):
        # 8 runs: the middle 50% are 3, 4, 5, 6 -> 4.5 (the outliers 100 and -50 are cut).
        assert iqm(np.array([-50.0, 2, 3, 4, 5, 6, 7, 100])) == pytest.approx(4.5)

    def test_matches_scipy_trim_mean(self):
        x = np.random.default_rng(0).normal(size=(5, 37))
        np.testing.assert_allclose(iqm(x), sps.trim_mean(x, 0.25, axis=-1))


class TestAggregate:
    def test_point_estimates_pool_runs(self, make_scores):
        s = make_scores({("a", "e", 1): [0.1, 0.2, 0.3], ("a", "e", 2): [0.5, 0.7], ("b", "e", 1): [1.0]})
        out = aggregate(s, "mean", reps=200)
        assert float(out["estimate"].sel(method_name="a")) == pytest.approx(
            np.mean([0.1, 0.2, 0.3, 0.5, 0.7])
        )
        assert (
            out["n_runs"].sel(method_name="a").item() == 5 and out["n_runs"].sel(method_name="b").item() == 1
        )

    def test_stratification_keeps_cells_apart(self, make_scores):
        # Cell h=1 is all 0, cell h=2 all 1: every stratified replicate has mean exactly 0.5.
        s = make_scores({("a", "e", 1): [0.0, 0.0, 0.0], ("a", "e", 2): [1.0, 1.0, 1.0]})
        out = aggregate(s, "mean", reps=500).sel(method_name="a")
        assert float(out["ci_low"]) == float(out["ci_high"]) == 0.5

    def test_ci_brackets_estimate_and_is_deterministic(self, make_scores):
        rng = np.random.default_rng(1)
        s = make_scores({("a", "e", h): list(rng.uniform(size=5)) for h in (1, 2, 3)}, n_seeds=5)
        one = aggregate(s, "iqm", reps=300, seed=3)
        two = aggregate(s, "iqm", reps=300, seed=3)
        assert one.identical(two)
        assert float(one["ci_low"][0]) <= float(one["estimate"][0]) <= float(one["ci_high"][0])

    def test_percentile_interval_agrees_with_scipy(self, make_scores):
        x = np.random.default_rng(2).normal(size=12)
        s = make_scores({("a", "e", 1): list(x)}, n_seeds=12)
        ours = aggregate(s, "mean", reps=20000, seed=0).sel(method_name="a")
        ref = sps.bootstrap(
            (x,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(0)
        )
        assert float(ours["ci_low"]) == pytest.approx(ref.confidence_interval.low, abs=0.03)
        assert float(ours["ci_high"]) == pytest.approx(ref.confidence_interval.high, abs=0.03)

    def test_keep_per_cell(self, make_scores):
        s = make_scores({("a", "e", 1): [0.2, 0.4], ("a", "e", 2): [0.9, 0.9]})
        out = aggregate(s, keep=("method_name", "horizon"), reps=100)
        np.testing.assert_allclose(out["estimate"].sel(method_name="a").values, [0.3, 0.9])

    def test_bad_input(self, make_scores):
        s = make_scores({("a", "e", 1): [0.2, 0.4]})
        with pytest.raises(ValueError, match="statistic"):
            aggregate(s, "median")
        with pytest.raises(ValueError, match="no dim 'run'"):
            aggregate(s, keep=("run",))
        with pytest.raises(ValueError, match="ci must be"):
            percentile_ci(np.zeros(3), 1.5)


class TestDifference:
    def test_only_shared_cells_count(self, make_scores):
        s = make_scores({("a", "e", 1): [1.0, 1.0], ("b", "e", 1): [0.0, 0.0], ("a", "e", 2): [0.0, 0.0]})
        out = difference(s, "a", "b", reps=100)
        assert out["estimate"] == 1.0 and out["n_cells"] == 1
        assert out["ci_low"] == out["ci_high"] == 1.0

    def test_unknown_method(self, make_scores):
        s = make_scores({("a", "e", 1): [1.0]})
        with pytest.raises(ValueError, match="method 'z'"):
            difference(s, "a", "z")
