"""Training diagnostics: early and late phases per run, critic quality, and the merged traces' group."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.diagnostics import critic_quality, diagnostics, phases


def _iterations(values: list[list[float]]) -> xr.Dataset:
    """Two runs (seed 0, 1) of per-iteration values; NaN pads the shorter run."""
    data = np.array(values, float)
    coords = {"seed": [0, 1], "iteration": np.arange(data.shape[1])}
    return xr.Dataset(
        {
            "invalid_turn_rate": (("seed", "iteration"), data),
            "explained_variance_low": (("seed", "iteration"), 1 - data),
        },
        coords=coords,
    )


def test_phases_average_each_runs_own_first_and_last_quarter():
    ds = _iterations(
        [[0.8, 0.6, 0.4, 0.2, 0.1, 0.0, 0.0, 0.0], [0.5, 0.5, 0.3, 0.1, np.nan, np.nan, np.nan, np.nan]]
    )
    out = phases(ds)
    # seed 0: 8 iterations, quarters of 2; seed 1: 4 iterations (then padding), quarters of 1
    np.testing.assert_allclose(out["invalid_turn_rate"].sel(phase="early").values, [0.7, 0.5])
    np.testing.assert_allclose(out["invalid_turn_rate"].sel(phase="late").values, [0.0, 0.1])
    with pytest.raises(ValueError, match="fraction"):
        phases(ds, fraction=0.7)


def test_critic_quality_is_the_mean_over_iterations_per_head():
    ds = _iterations([[0.8, 0.6, 0.4, 0.2], [0.5, 0.5, 0.3, 0.1]])
    q = critic_quality(ds)
    assert list(q.data_vars) == ["low"]
    np.testing.assert_allclose(q["low"].values, [0.5, 0.65])


def test_merged_traces_give_the_logged_diagnostics(merged):
    diag = diagnostics(merged)
    assert {
        "invalid_turn_rate",
        "explained_variance_low",
        "adv_switch_abs",
        "approx_kl",
        "clip_fraction",
    } <= set(diag.data_vars)
    assert "explained_variance_term" not in diag  # never logged in these runs: left out, not drawn empty
    no_group = xr.DataTree.from_dict({"/turns": merged["turns"].to_dataset()})
    with pytest.raises(ValueError, match="no /iterations group"):
        diagnostics(no_group)
