"""Horizon trend of a paired change difference: hand-made evaluations with a known slope, and identities
with the per-horizon change differences."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.change import change_difference
from hiper_repro.stats.trend import horizon_trend, parse_contrasts, slope
from hiper_repro.traces.schema import START_EVAL as START

HORIZONS = (1, 2, 3)
SEEDS, TASKS = 3, 100


def evaluations(end: np.ndarray, methods=("a", "b")) -> xr.Dataset:
    """end: (method_name, horizon, seed, eval_episode) successes after training; every start is 0."""
    success = np.stack([np.zeros_like(end), end], axis=3)[:, None]  # env; eval_iteration start, 30
    dims = ("method_name", "env", "horizon", "seed", "eval_iteration", "eval_episode")
    coords = {
        "method_name": list(methods),
        "env": ["household"],
        "horizon": list(HORIZONS),
        "seed": np.arange(SEEDS),
        "eval_iteration": [START, START + 30],
        "eval_episode": np.arange(TASKS),
    }
    return xr.Dataset({"success": (dims, success.astype(float))}, coords=coords)


def noisy_ends(rng: np.random.Generator) -> np.ndarray:
    """(method, horizon, seed, task): the same Bernoulli(0.3) noise on tasks 50-99 at every horizon (a
    copy), so each method's change is the same at every horizon unless a test adds to it."""
    noise = (rng.random((2, 1, SEEDS, TASKS)) < 0.3) & (np.arange(TASKS) >= 50)
    return np.repeat(noise, len(HORIZONS), axis=1).astype(float)


class TestSlope:
    def test_hand_worked(self):
        assert slope(np.array([1, 2, 3]), np.array([0.0, 0.1, 0.2])) == pytest.approx(0.1)
        # mean-centred: h = 1, 3, d = 1, 0 -> -1 / 2
        assert slope(np.array([1, 3]), np.array([1.0, 0.0])) == pytest.approx(-0.5)
        rows = slope(np.array([1, 2, 4]), np.array([[1.0, 2.0, 4.0], [5.0, 5.0, 5.0]]))
        np.testing.assert_allclose(rows, [1.0, 0.0], atol=1e-12)

    @pytest.mark.parametrize("h", [[2], [3, 3]], ids=["one", "tied"])
    def test_needs_two_distinct_horizons(self, h):
        with pytest.raises(ValueError, match="two or more distinct horizons"):
            slope(np.array(h), np.zeros(len(h)))


def test_known_positive_slope():
    """a gains 10 more tasks of 100 per extra subtask in every seed (tasks 0..10h-1 won at the end), b
    only the shared noise: D_h = 0.1 h + const, slope exactly 0.1, interval above 0."""
    end = noisy_ends(np.random.default_rng(0))
    for i, h in enumerate(HORIZONS):
        end[0, i, :, : 10 * h] = 1.0
    ds = evaluations(end)
    trend = horizon_trend(ds, "a", "b", reps=1000).sel(env="household")
    assert float(trend["estimate"]) == pytest.approx(0.1)
    assert 0 < float(trend["ci_low"]) < 0.1 < float(trend["ci_high"])
    assert (int(trend["n_horizons"]), int(trend["h_min"]), int(trend["h_max"])) == (3, 1, 3)
    # The slope is the least-squares line through the per-horizon change differences.
    per_h = change_difference(ds, "a", "b", reps=10)["estimate"].sel(env="household").values
    assert float(trend["estimate"]) == pytest.approx(np.polyfit(HORIZONS, per_h, 1)[0])
    reverse = horizon_trend(ds, "b", "a", reps=1000).sel(env="household")
    assert float(reverse["estimate"]) == pytest.approx(-0.1) and float(reverse["ci_high"]) < 0


def test_zero_slope():
    """The same evaluations at every horizon: D_h is the same, slope exactly 0, and the interval (each
    horizon resampled on its own) has width and holds 0."""
    ds = evaluations(noisy_ends(np.random.default_rng(1)))
    trend = horizon_trend(ds, "a", "b", reps=1000).sel(env="household")
    assert float(trend["estimate"]) == pytest.approx(0.0, abs=1e-12)
    assert float(trend["ci_low"]) < 0 < float(trend["ci_high"])


def test_a_contrast_at_one_horizon_has_no_trend():
    end = noisy_ends(np.random.default_rng(2))
    ds = evaluations(end)
    ds["success"][{"method_name": 1, "horizon": [0, 1]}] = np.nan  # b ran at the longest horizon only
    trend = horizon_trend(ds, "a", "b", reps=50).sel(env="household")
    assert np.isnan(float(trend["estimate"])) and int(trend["n_horizons"]) == 1


def test_same_seed_same_interval():
    ds = evaluations(noisy_ends(np.random.default_rng(3)))
    a, b = (horizon_trend(ds, "a", "b", reps=200, seed=7) for _ in range(2))
    xr.testing.assert_identical(a, b)


def test_multi_horizon_synthetic_traces():
    """Synthetic runs at horizons 1, 2, 3: the trend equals the slope through change_vs at each horizon."""
    from hiper_repro.traces.synthetic import synthetic_merged

    tree = synthetic_merged(
        methods=("hiper", "ppo-pe"),
        horizons=HORIZONS,
        seeds=(0, 1),
        iterations=4,
        episodes=4,
        eval_episodes=16,
    )
    trend = horizon_trend(tree, "hiper", "ppo-pe", reps=200).sel(env="household")
    per_h = change_difference(tree, "hiper", "ppo-pe", reps=10)["estimate"].sel(env="household")
    assert float(trend["estimate"]) == pytest.approx(np.polyfit(HORIZONS, per_h.values, 1)[0])
    assert float(trend["ci_low"]) <= float(trend["estimate"]) <= float(trend["ci_high"])


def test_parse_contrasts():
    assert parse_contrasts(["hiper:ppo-pe", "hgigpo:gigpo"]) == (("hiper", "ppo-pe"), ("hgigpo", "gigpo"))
    for bad in ("hiper", "hiper:", ":ppo", "a:b:c", "a:a"):
        with pytest.raises(ValueError, match="contrast"):
            parse_contrasts([bad])
