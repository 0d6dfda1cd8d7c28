"""Switch-rate dynamics over training."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.dynamics import settling, switch_rate


def _turns(switch: np.ndarray, mask: np.ndarray) -> xr.Dataset:
    dims = ("method_name", "iteration", "episode", "turn")
    coords = {"method_name": ["pe", "flat"], "iteration": [0, 1], "turn": np.arange(switch.shape[-1])}
    return xr.Dataset({"switch": (dims, switch), "mask": (dims, mask)}, coords=coords)


def test_hand_computed_rate_excludes_turn_zero_and_flat_runs():
    mask = np.ones((2, 2, 2, 3), bool)
    mask[:, :, 1, 2] = False  # episode 1 has 2 turns
    switch = np.zeros_like(mask)
    switch[0, :, :, 0] = True  # plan-execute: turn 0 always switches
    switch[0, 0, 0, 1] = switch[0, 0, 1, 1] = True  # iteration 0: 2 of 3 later turns switch
    switch[0, 1, 0, 2] = True  # iteration 1: 1 of 3
    rate = switch_rate(_turns(switch, mask))
    np.testing.assert_allclose(rate.sel(method_name="pe").values, [2 / 3, 1 / 3])
    assert bool(rate.sel(method_name="flat").isnull().all())


def test_settling():
    rate = xr.DataArray([0.8, 0.6, 0.4, 0.2], dims="iteration")
    assert float(settling(rate, 0.25)) == pytest.approx(0.6)
    assert float(settling(rate, 0.5)) == pytest.approx(0.7 - 0.3)
    with pytest.raises(ValueError, match="fraction"):
        settling(rate, 0.9)
