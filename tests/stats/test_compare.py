"""Probability of improvement against Mann-Whitney U, Holm by hand, Welch against scipy."""

import numpy as np
import pytest
from scipy import stats as sps

from hiper_repro.stats.compare import holm, improvement, probability_of_improvement, welch_tests


class TestProbabilityOfImprovement:
    def test_hand_computed_with_ties(self):
        # pairs (x, y): 1>0 and 1=1 -> 1 + 0.5; 2>0 and 2>1 -> 2: (1.5 + 2) / 4 = 0.875
        assert probability_of_improvement(np.array([1.0, 2.0]), np.array([0.0, 1.0])) == 0.875

    def test_equals_mann_whitney_u(self):
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 7).astype(float)
        u = sps.mannwhitneyu(x, y).statistic
        assert probability_of_improvement(x, y) == pytest.approx(u / (x.size * y.size))

    def test_average_over_cells_and_ci(self, make_scores):
        s = make_scores(
            {
                ("a", "e", 1): [1, 1, 1],
                ("b", "e", 1): [0, 0, 0],
                ("a", "e", 2): [0, 0, 0],
                ("b", "e", 2): [0, 0, 0],
            }
        )
        out = improvement(s, "a", "b", reps=200)
        assert out["estimate"] == pytest.approx((1.0 + 0.5) / 2)
        assert out["ci_low"] == out["ci_high"] == pytest.approx(0.75)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="non-empty 1-D"):
            probability_of_improvement(np.array([]), np.array([1.0]))


class TestHolm:
    def test_hand_computed(self):
        # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
        np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])

    def test_nan_is_left_out_and_capped_at_one(self):
        np.testing.assert_allclose(holm(np.array([0.6, np.nan, 0.5])), [1.0, np.nan, 1.0])


class TestWelch:
    def test_against_scipy_and_holm(self, make_scores):
        rng = np.random.default_rng(3)
        vals = {
            (m, "e", h): list(rng.normal(loc, 1, 4))
            for m, loc in (("a", 1.0), ("b", 0.0), ("c", 0.5))
            for h in (1, 2)
        }
        table = welch_tests(make_scores(vals, n_seeds=4), "a", reps=200)
        assert len(table) == 4 and set(table["method_b"]) == {"b", "c"}
        for row in table.itertuples():
            ref = sps.ttest_ind(
                vals[("a", "e", row.horizon)], vals[(row.method_b, "e", row.horizon)], equal_var=False
            )
            assert row.t == pytest.approx(ref.statistic) and row.p == pytest.approx(ref.pvalue)
            assert row.df == pytest.approx(ref.df)
            assert row.ci_low <= row.diff <= row.ci_high
        np.testing.assert_allclose(table["p_holm"], holm(table["p"].to_numpy()))
        assert (table["reject"] == (table["p_holm"] < 0.05)).all()

    def test_degenerate_cell_has_no_p(self, make_scores):
        s = make_scores({("a", "e", 1): [1, 1, 1], ("b", "e", 1): [1, 1, 1]})
        table = welch_tests(s, "a", reps=50)
        assert np.isnan(table["p"].iloc[0]) and not table["reject"].iloc[0]

    def test_unknown_reference(self, make_scores):
        with pytest.raises(ValueError, match="reference 'z'"):
            welch_tests(make_scores({("a", "e", 1): [1.0]}), "z")
