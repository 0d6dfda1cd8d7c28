"""Fixtures for the statistics tests: small hand-made arrays (the merged tree is in tests/conftest.py)."""

import numpy as np
import pytest
import xarray as xr


def scores_array(values: dict[tuple[str, str, int], list[float]], n_seeds: int = 3) -> xr.DataArray:
    """Scores with dims (method_name, env, horizon, seed) from {(method, env, horizon): per-seed values}."""
    methods = sorted({k[0] for k in values})
    envs = sorted({k[1] for k in values})
    horizons = sorted({k[2] for k in values})
    arr = np.full((len(methods), len(envs), len(horizons), n_seeds), np.nan)
    for (m, e, h), v in values.items():
        arr[methods.index(m), envs.index(e), horizons.index(h), : len(v)] = v
    coords = {"method_name": methods, "env": envs, "horizon": horizons, "seed": np.arange(n_seeds)}
    return xr.DataArray(arr, dims=tuple(coords), coords=coords)


@pytest.fixture
def make_scores():
    """The :func:`scores_array` builder (a fixture, so test modules never import conftest)."""
    return scores_array
