"""The lab's grid, dataset, atomic writing and the `hiper-repro theory` command at toy size."""

import json

import numpy as np
import pytest
import xarray as xr

from hiper_repro.theory import cli
from hiper_repro.theory.lab import GRIDS, Grid, run_grid, variance_ratio, write_dataset

TINY = Grid((1, 2), (0.9, 1.0), (1.0,), (0.0, 0.2), replicates=2, n_episodes=512)


@pytest.fixture(scope="module")
def ds():
    return run_grid(TINY, seed=0)


def test_layout(ds):
    assert dict(ds.sizes) == {
        "estimator": 8,
        "K": 2,
        "lam": 2,
        "gamma": 1,
        "critic_noise": 2,
        "replicate": 2,
        "block": 3,
        "head": 3,
    }
    assert set(ds.coords) >= set(ds.sizes)
    for name in ("bias_norm", "bias_se", "relative_bias", "variance", "cosine", "block_variance"):
        assert np.isfinite(ds[name]).all(), name
        assert ds[name].attrs["long_name"]
    np.testing.assert_allclose(ds["variance"], ds["block_variance"].sum("block"), rtol=1e-12)
    assert json.loads(ds.attrs["grid"])["n_episodes"] == 512 and ds.attrs["seed"] == 0
    # critic-free estimators repeat along lambda and critic noise
    for name in ("reinforce", "grpo", "rloo", "gigpo", "hgigpo"):
        r = ds["variance"].sel(estimator=name)
        assert (r == r.isel(lam=0, critic_noise=0)).all()
    # ... the critic-based ones do not
    h = ds["bias_norm"].sel(estimator="hae")
    assert not (h == h.isel(critic_noise=0)).all()


def test_same_seed_same_dataset_other_seed_differs(ds):
    again = run_grid(TINY, seed=0)
    xr.testing.assert_identical(ds.drop_attrs(), again.drop_attrs())
    other = run_grid(TINY, seed=1)
    assert not np.allclose(ds["variance"], other["variance"])


def test_exact_critics_lambda_1_beat_flat_gae(ds):
    ratio = variance_ratio(ds).sel(lam=1.0, critic_noise=0.0)
    assert (ratio < 1.0).all()
    with pytest.raises(ValueError, match="estimator"):
        variance_ratio(ds, "ppo")


def test_write_round_trip(ds, tmp_path):
    path = write_dataset(ds, tmp_path / "sub" / "theory.nc")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)
    assert [p.name for p in path.parent.iterdir()] == ["theory.nc"]  # no temp file left


def test_bad_grid():
    with pytest.raises(ValueError, match="n_episodes"):
        run_grid(Grid((1,), (1.0,), (1.0,), (0.0,), replicates=1, n_episodes=100), seed=0)


def test_cli_writes_dataset_and_reports_ratio(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(GRIDS, "quick", TINY)
    assert cli.main(["--out", str(tmp_path), "--grid", "quick", "--seed", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "K=1: var(HAE)/var(GAE) median" in out and "K=2" in out
    with xr.open_dataset(tmp_path / "theory.nc", engine="h5netcdf") as back:
        assert float(back["variance"].sel(estimator="hae").max()) > 0
    with pytest.raises(SystemExit):
        cli.main(["--out", str(tmp_path), "--grid", "huge"])
