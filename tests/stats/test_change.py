"""Paired change from the starting policy: hand-made evaluations with known differences."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.change import change_difference, change_from_start, paired_success, training_windows


def evaluations(success: np.ndarray, iterations=(0, 5, 10), methods=("hiper", "ppo-pe")) -> xr.Dataset:
    """success: (method_name, seed, eval_iteration, eval_episode) -> a merged-like /evaluation dataset."""
    data = success[:, None, None]  # env, horizon
    dims = ("method_name", "env", "horizon", "seed", "eval_iteration", "eval_episode")
    coords = {
        "method_name": list(methods),
        "env": ["household"],
        "horizon": [1],
        "seed": np.arange(success.shape[1]),
        "eval_iteration": list(iterations),
        "eval_episode": np.arange(success.shape[-1]),
    }
    return xr.Dataset({"success": (dims, data.astype(float))}, coords=coords)


def test_change_is_the_paired_mean_difference():
    rng = np.random.default_rng(0)
    start = (rng.random(40) < 0.4).astype(float)
    s = np.empty((2, 3, 3, 40))
    s[:, :, 0] = start  # both methods start from the same policy and noise
    s[:, :, 1] = np.nan  # an evaluation point some runs lack is skipped for "end"
    s[0, :, 2] = np.maximum(start, rng.random((3, 40)) < 0.3)  # hiper only gains
    s[1, :, 2] = start
    s[1, 2, 2] = 1 - start  # ppo-pe seed 2 flips every task
    ds = evaluations(s)
    out = change_from_start(ds, reps=500)
    hiper = out.sel(method_name="hiper").squeeze()
    expected = (s[0, :, 2] - start).mean()
    assert float(hiper["change"]) == pytest.approx(expected)
    assert float(hiper["start"]) == pytest.approx(start.mean())
    assert hiper["ci_low"] <= hiper["change"] <= hiper["ci_high"] and hiper["ci_low"] > 0
    assert int(hiper["n_runs"]) == 3 and int(hiper["n_episodes"]) == 40
    diff = change_difference(ds, "hiper", "ppo-pe", reps=500).squeeze()
    ppo_pe = (s[1, :, 2] - start).mean()
    assert float(diff["estimate"]) == pytest.approx(expected - ppo_pe)
    assert diff["ci_low"] < diff["estimate"] < diff["ci_high"]


def test_grid_padding_is_not_a_missing_task():
    # Another cell played 10 evaluation episodes, this one 8: the merged grid pads episodes 8-9 with NaN.
    s = np.zeros((1, 3, 3, 10))
    s[..., 2, :4] = 1.0  # the end evaluation wins the first 4 of 8 tasks
    s[..., 8:] = np.nan
    out = change_from_start(evaluations(s, methods=("ppo",)), reps=200).squeeze()
    assert int(out["n_runs"]) == 3 and int(out["n_episodes"]) == 8
    assert float(out["change"]) == pytest.approx(0.5)
    s[0, 1, 2, 3] = np.nan  # a run that lacks a task the others played is dropped, not the task
    out = change_from_start(evaluations(s, methods=("ppo",)), reps=200).squeeze()
    assert int(out["n_runs"]) == 2 and int(out["n_episodes"]) == 8


def test_no_change_has_a_zero_width_interval_and_the_end_is_the_last_evaluation():
    s = np.zeros((1, 2, 3, 10))
    s[..., :5] = 1.0
    s[:, :, 1] = 0.0  # a middle evaluation does not count
    ds = evaluations(s, methods=("ppo",))
    start, end = paired_success(ds)
    np.testing.assert_array_equal(start.values, end.values)
    out = change_from_start(ds, reps=200).squeeze()
    assert float(out["change"]) == 0 and float(out["ci_low"]) == 0 == float(out["ci_high"])


def test_traces_without_a_start_are_refused():
    ds = evaluations(np.zeros((1, 2, 2, 4)), iterations=(5, 10), methods=("ppo",))
    with pytest.raises(ValueError, match="eval_iteration 0"):
        change_from_start(ds)
    with pytest.raises(ValueError, match="method 'hiper' not in"):
        change_difference(evaluations(np.zeros((1, 2, 3, 4)), methods=("ppo",)), "hiper", "ppo")


def test_training_windows_pool_iterations_and_episodes():
    success = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [1, 1]], dtype=float)  # (iteration, episode)
    ds = xr.Dataset(
        {"success": (("iteration", "episode"), success)},
        coords={"iteration": [0, 1, 2, 3, 4], "episode": [0, 1]},
    )
    w = training_windows(ds, window=2)
    assert w["window"].values.tolist() == [0, 2, 4]
    np.testing.assert_allclose(w.values, [0.75, 0.25, 1.0])
    with pytest.raises(ValueError, match="window"):
        training_windows(ds, window=0)
