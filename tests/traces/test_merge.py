"""open_runs / merge_runs: run dims in front, missing cells filled, provenance as coords, explicit attrs."""

import numpy as np
import pytest
from xarray.testing import assert_identical

from hiper_repro.traces.merge import merge_runs, open_run, open_runs, run_label
from hiper_repro.traces.schema import RUN_DIMS, TraceSchemaError
from hiper_repro.traces.store import read_tree, write_tree
from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.traces.validate import schema_problems

from .conftest import CREATED


def run(method, horizon, seed, iterations=2, **kw):
    return synthetic_writer(method, horizon, seed, iterations=iterations, episodes=4, **kw).tree()


def test_open_runs_aligns_runs_and_fills_missing_cells(run_dirs):
    merged = open_runs(run_dirs, created=CREATED)
    assert schema_problems(merged) == []
    assert list(merged["method_name"].values) == ["hiper", "ppo"] and list(merged["horizon"].values) == [1, 2]
    # ppo at horizon 2 was not run: every cell takes the fill.
    missing = merged["episodes"].to_dataset().sel({"method_name": "ppo", "horizon": 2})
    assert (
        missing["success"].isnull().all()
        and (missing["task_id"] == "").all()
        and (missing["group"] == -1).all()
    )
    assert not merged["turns"]["mask"].sel({"method_name": "ppo", "horizon": 2}).any()
    assert merged["run"].sel({"method_name": "ppo", "horizon": 2}).item() == ""
    # Each present run is its file, padded.
    one = open_run(run_dirs[1])
    cell = (
        merged["turns"]
        .to_dataset()
        .sel({"method_name": "hiper", "horizon": 2, "env": "household", "seed": 0})
    )
    sizes = one["turns"].sizes
    sub = cell.isel(episode=slice(0, sizes["episode"]), turn=slice(0, sizes["turn"]))
    np.testing.assert_array_equal(sub["adv_low"].values, one["turns"]["adv_low"].values)


def test_provenance_becomes_coords_and_attrs_are_set_explicitly():
    trees = [run("hiper", 1, 0), run("hiper", 1, 1)]
    trees[1].attrs["git_commit"] = "abc123"
    merged = merge_runs(trees, created=CREATED)
    cell = {"method_name": "hiper", "env": "household", "horizon": 1}
    assert list(merged["git_commit"].sel(cell).values) == [trees[0].attrs["git_commit"], "abc123"]
    assert merged["config_hash"].dims == RUN_DIMS
    assert merged["run"].sel(cell).values.tolist() == ["household/h1/hiper/seed0", "household/h1/hiper/seed1"]
    # Not run 0's attrs (xr.concat's default): merged facts only.
    assert set(merged.attrs) == {"schema_version", "created", "hiper_repro_version", "git_commit", "n_runs"}
    assert merged.attrs["n_runs"] == 2 and merged.attrs["created"] == CREATED
    assert merged["keep_every"].sel(cell).values.tolist() == [1, 1]


def test_runs_of_different_lengths_are_aligned_on_iteration():
    short, long = run("ppo", 1, 0, iterations=2), run("ppo", 1, 1, iterations=5, keep_every=2)
    merged = merge_runs([short, long], created=CREATED)
    episodes = merged["episodes"].to_dataset().isel(method_name=0, env=0, horizon=0)
    assert list(episodes["iteration"].values) == [0, 1, 2, 4]
    assert episodes["success"].sel(seed=0, iteration=[2, 4]).isnull().all()
    assert episodes["success"].sel(seed=1, iteration=1).isnull().all()
    assert episodes["success"].sel(seed=1, iteration=4).notnull().all()
    assert list(merged["evaluation"]["eval_iteration"].values) == [0, 1, 2, 3, 5]  # 0: the start
    assert list(merged["iterations"]["iteration"].values) == [0, 1, 2, 3, 4]  # every iteration


def test_merged_round_trips_through_netcdf(tmp_path):
    merged = merge_runs([run("hiper", 2, 0), run("grpo", 1, 3)], created=CREATED)
    write_tree(merged, tmp_path / "merged.nc")
    assert_identical(read_tree(tmp_path / "merged.nc"), merged)


def test_order_of_inputs_does_not_matter():
    a, b, c = run("hiper", 1, 0), run("ppo", 1, 0), run("hiper", 2, 1)
    assert_identical(merge_runs([a, b, c], created=CREATED), merge_runs([c, a, b], created=CREATED))


def test_duplicate_and_invalid_runs_are_refused(run_dirs, tmp_path):
    tree = run("hiper", 1, 0)
    with pytest.raises(ValueError, match="runs 0 and 1 are both household/h1/hiper/seed0"):
        merge_runs([tree, tree])
    with pytest.raises(ValueError, match="no runs"):
        merge_runs([])
    bad = tree.copy()
    del bad.attrs["device"]
    write_tree(bad, tmp_path / "bad.nc")
    with pytest.raises(TraceSchemaError, match=r"bad.nc: root attr 'device' missing"):
        open_runs([run_dirs[0], tmp_path / "bad.nc"])
    with pytest.raises(TraceSchemaError, match=r"absent/traces.nc: does not exist"):
        open_runs([tmp_path / "absent"])
    assert run_label("ppo", "shop", 3, 2) == "shop/h3/ppo/seed2"


def test_a_merged_file_is_not_a_run(tmp_path):
    write_tree(merge_runs([run("ppo", 1, 0)], created=CREATED), tmp_path / "merged.nc")
    with pytest.raises(TraceSchemaError, match="merged.nc: is a merged dataset, not a run"):
        open_runs([tmp_path / "merged.nc"])
