"""Advantage variance per turn position and pooled, hierarchical bootstrap, paired ratios."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.stats.variance import advantage_variance, hierarchical_variance, variance_ratio


def _adv(seed: int = 0, n_seeds: int = 3, n_ep: int = 20, T: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_seeds, n_ep, T)) * np.arange(1, T + 1)  # variance grows with position
    lengths = rng.integers(1, T + 1, size=(n_seeds, n_ep))
    mask = np.arange(T) < lengths[..., None]
    dims = ("seed", "episode", "turn")
    coords = {"seed": np.arange(n_seeds), "turn": np.arange(T)}
    return xr.DataArray(x, dims=dims, coords=coords), xr.DataArray(mask, dims=dims, coords=coords)


def test_point_estimates_are_sample_variances_of_real_turns():
    adv, mask = _adv()
    x, m = adv.values, mask.values
    by_pos = advantage_variance(adv, mask, reps=50)
    for t in range(adv.sizes["turn"]):
        real = x[..., t][m[..., t]]
        assert float(by_pos["variance"][t]) == pytest.approx(np.var(real, ddof=1))
        assert by_pos["n_turns"][t] == real.size
    pooled = advantage_variance(adv, mask, by_position=False, reps=50)
    assert float(pooled["variance"]) == pytest.approx(np.var(x[m], ddof=1))


def test_bootstrap_matches_an_explicit_two_level_resampler():
    adv, mask = _adv(1, n_seeds=4, n_ep=15, T=1)
    x = adv.values[..., 0]  # all turns real: T = 1 and the explicit loop needs no mask
    reps = 4000
    rng = np.random.default_rng(7)
    explicit = []
    for _ in range(reps):  # the definition: seeds with replacement, then episodes within each draw
        seeds = rng.integers(0, 4, 4)
        explicit.append(np.var(np.concatenate([x[s][rng.integers(0, 15, 15)] for s in seeds]), ddof=1))
    mom = [np.stack([np.ones((15, 1)), x[s][:, None], x[s][:, None] ** 2]) for s in range(4)]
    _, ours = hierarchical_variance(mom, reps, np.random.default_rng(0))
    np.testing.assert_allclose(
        np.quantile(ours[:, 0], [0.1, 0.5, 0.9]), np.quantile(explicit, [0.1, 0.5, 0.9]), rtol=0.08
    )


def test_ci_and_keep_dims():
    adv, mask = _adv()
    two = xr.concat([adv, 2 * adv], dim=xr.DataArray(["a", "b"], dims="method_name", name="method_name"))
    out = advantage_variance(two, mask, keep=("method_name",), reps=200)
    assert out["variance"].dims == ("method_name", "turn")
    np.testing.assert_allclose(out["variance"].sel(method_name="b"), 4 * out["variance"].sel(method_name="a"))
    assert bool(((out["ci_low"] <= out["variance"]) & (out["variance"] <= out["ci_high"])).all())


def test_paired_ratio_is_exact_for_a_scaled_copy():
    adv, mask = _adv()
    out = variance_ratio(0.5 * adv, adv, mask, reps=200)
    assert out["estimate"] == pytest.approx(0.25) and out["ci_low"] == pytest.approx(0.25)
    assert out["ci_high"] == pytest.approx(0.25) and out["n_runs"] == 3


def test_bad_input():
    adv, mask = _adv()
    with pytest.raises(ValueError, match="no dim 'method_name'"):
        advantage_variance(adv, mask, keep=("method_name",))
    with pytest.raises(ValueError, match="share dims"):
        variance_ratio(adv, adv.isel(turn=slice(0, 2)), mask)
    with pytest.raises(ValueError, match="no run has a turn"):
        variance_ratio(adv * np.nan, adv, mask)
