"""Iterations and environment steps to a success threshold, with censoring."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.efficiency import env_steps_until, speedup, time_to_threshold


def _curve(rows, evals=(0, 2, 4)) -> xr.DataArray:
    return xr.DataArray(
        np.array(rows, float),
        dims=("seed", "eval_iteration"),
        coords={"seed": np.arange(len(rows)), "eval_iteration": list(evals)},
    )


def test_first_crossing_censoring_and_budget():
    curve = _curve([[0.1, 0.8, 0.9], [0.1, 0.2, 0.3], [0.9, np.nan, np.nan], [np.nan] * 3])
    out = time_to_threshold(curve, 0.8)
    np.testing.assert_array_equal(out["reached"].values, [True, False, True, False])
    np.testing.assert_allclose(out["iterations"].values, [2, np.nan, 0, np.nan])
    np.testing.assert_allclose(out["budget"].values, [4, 4, 0, np.nan])
    np.testing.assert_allclose(out["iterations_restricted"].values, [2, 4, 0, np.nan])  # censored at budget
    np.testing.assert_array_equal(out["at_first"].values, [False, False, True, False])  # there from the start
    assert "eval_iteration" not in out.coords


def test_env_steps_count_iterations_before_the_evaluation():
    # Iterations 0, 1, 2, 3 stored; 2 episodes each with lengths summing to 3, 5, 7, 9. An evaluation is
    # labelled by the updates completed: 0 (the start) has no steps, 3 those of iterations 0, 1 and 2.
    lengths = np.array([[1, 2], [2, 3], [3, 4], [4, 5]], float)
    episodes = xr.Dataset(
        {"length": (("iteration", "episode"), lengths)}, coords={"iteration": [0, 1, 2, 3], "episode": [0, 1]}
    )
    evals = xr.DataArray([0, 1, 3, 4], dims="eval_iteration", name="eval_iteration")
    np.testing.assert_allclose(env_steps_until(episodes, evals).values, [0, 3, 15, 24])
    # keep_every = 2: iterations 1 and 3 missing count as the last stored one (3 and 7).
    kept = episodes.sel(iteration=[0, 2])
    np.testing.assert_allclose(env_steps_until(kept, evals).values, [0, 3, 13, 20])


def test_time_to_threshold_reports_env_steps():
    curve = _curve([[0.1, 0.8, 0.9]])
    steps = xr.DataArray([10.0, 30.0, 50.0], dims="eval_iteration", coords={"eval_iteration": [0, 2, 4]})
    out = time_to_threshold(curve, 0.8, steps)
    assert float(out["env_steps"][0]) == 30.0 and float(out["env_steps_restricted"][0]) == 30.0


def test_speedup_hand_computed():
    t = xr.DataArray(
        [[[2.0, 4.0]], [[6.0, 6.0]]],
        dims=("method_name", "horizon", "seed"),
        coords={"method_name": ["fast", "slow"], "horizon": [1]},
    )
    out = speedup(t, "fast", "slow", reps=200)
    assert out["estimate"] == pytest.approx(2.0)
    assert 1.5 <= out["ci_low"] <= out["ci_high"] <= 3.0


def test_bad_input():
    with pytest.raises(ValueError, match="threshold"):
        time_to_threshold(_curve([[0.1, 0.2, 0.3]]), float("nan"))
    with pytest.raises(ValueError, match="dim 'eval_iteration'"):
        time_to_threshold(xr.DataArray([0.1], dims="x"), 0.5)
