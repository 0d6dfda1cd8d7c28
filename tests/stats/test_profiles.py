"""Performance profiles: fractions of runs above each threshold."""

import numpy as np
import pytest

from hiper_repro.stats.profiles import performance_profile


def test_hand_computed_fractions(make_scores):
    s = make_scores({("a", "e", 1): [0.1, 0.5, 0.9], ("a", "e", 2): [0.5]}, n_seeds=3)
    out = performance_profile(s, [0.0, 0.5, 0.95], reps=200).sel(method_name="a")
    np.testing.assert_allclose(out["estimate"].values, [1.0, 0.25, 0.0])
    assert (out["ci_low"] <= out["estimate"]).all() and (out["estimate"] <= out["ci_high"]).all()


def test_bad_taus(make_scores):
    with pytest.raises(ValueError, match="taus"):
        performance_profile(make_scores({("a", "e", 1): [0.1]}), [])
