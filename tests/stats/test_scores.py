"""Per-run scores: evaluation curve, final evaluation, mean of the last k evaluations."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.scores import eval_curve, final_score, last_k_score, run_scores


def _evaluation(success: np.ndarray) -> xr.Dataset:
    """success: (run, eval_iteration, eval_episode) with NaN padding; no evaluation of the start (0 updates)."""
    coords = {"seed": np.arange(success.shape[0]), "eval_iteration": [1, 3, 5, 7], "eval_episode": [0, 1]}
    return xr.Dataset({"success": (tuple(coords), success)}, coords=coords)


def test_curve_final_and_last_k():
    success = np.array(
        [
            [[0, 0], [1, 0], [1, 1], [0, 1]],  # curve 0, .5, 1, .5
            [[0, 1], [1, 1], [np.nan, np.nan], [np.nan, np.nan]],  # run cut short: .5, 1
        ],
        dtype=float,
    )
    curve = eval_curve(_evaluation(success))
    np.testing.assert_allclose(curve.values, [[0, 0.5, 1, 0.5], [0.5, 1, np.nan, np.nan]])
    np.testing.assert_allclose(final_score(curve).values, [0.5, 1.0])
    np.testing.assert_allclose(last_k_score(curve, 3).values, [2 / 3, 0.75])  # run 2 has only 2 evaluations
    scores = run_scores(_evaluation(success), k=2)
    np.testing.assert_allclose(scores["last_k"].values, [0.75, 0.75])
    assert "eval_iteration" not in scores.coords


def test_bad_input():
    ev = _evaluation(np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="no variable 'score'"):
        eval_curve(ev, "score")
    with pytest.raises(ValueError, match="k must be"):
        last_k_score(eval_curve(ev), 0)
    with pytest.raises(ValueError, match="no group 'evaluation'"):
        eval_curve(xr.DataTree(), "success")


def test_merged_tree_scores_match_a_direct_computation(merged):
    scores = run_scores(merged, k=2)
    ev = merged["evaluation"].to_dataset()
    for m, e, h, s in [("hiper", "shop", 3, 1), ("ppo", "household", 1, 0)]:
        run = ev["success"].sel(method_name=m, env=e, horizon=h, seed=s).values
        per_eval = np.nanmean(run, axis=1)
        assert float(scores["final"].sel(method_name=m, env=e, horizon=h, seed=s)) == pytest.approx(
            per_eval[-1]
        )
        assert float(scores["last_k"].sel(method_name=m, env=e, horizon=h, seed=s)) == pytest.approx(
            per_eval[-2:].mean()
        )
