"""Trace files of older schema versions read as the current version: version 2 (evaluations labelled one
less: -1 the start) and version 3 (the run dim and root attr were named ``method``, `/iterations`'
invalid_turn_rate was named invalid_rate)."""

import numpy as np
import pytest
import xarray as xr

from hiper_repro.traces.merge import merge_runs, open_merged, open_run, open_runs
from hiper_repro.traces.schema import EVALUATION_GROUPS, RUN_DIMS, SCHEMA_VERSION
from hiper_repro.traces.store import read_tree, write_tree
from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.traces.upgrade import STEPS
from hiper_repro.traces.writer import TraceWriter


def as_version_3(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` as version 3 wrote it: dim, coordinate and root attr ``method``, `/iterations`'
    invalid_turn_rate named invalid_rate, schema_version "3"."""
    nodes = {}
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        ds = ds.rename({"method_name": "method"}) if "method_name" in ds.dims else ds
        nodes[node.path] = (
            ds.rename_vars({"invalid_turn_rate": "invalid_rate"}) if node.path == "/iterations" else ds
        )
    old = xr.DataTree.from_dict(nodes)
    old.attrs = {("method" if k == "method_name" else k): v for k, v in tree.attrs.items()}
    old.attrs["schema_version"] = "3"
    return old


def as_version_2(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` as version 2 wrote it: version 3's names, every evaluation label one less, schema_version "2"."""
    old = as_version_3(tree)
    for group in EVALUATION_GROUPS:
        ds = old[group].to_dataset(inherit=False)
        old[group] = xr.DataTree(ds.assign_coords(eval_iteration=ds["eval_iteration"] - 1))
    old.attrs["schema_version"] = "2"
    return old


def test_the_steps_end_at_the_current_version():
    assert SCHEMA_VERSION == "4"
    version = "2"
    while version in STEPS:
        version = STEPS[version][0]
    assert version == SCHEMA_VERSION


def test_a_version_3_run_reads_with_the_attr_method_name(tmp_path):
    tree = synthetic_writer("hiper", 1, 0, iterations=3, episodes=3, eval_every=1).tree()
    write_tree(as_version_3(tree), tmp_path / "v3.nc")
    on_disk = xr.open_datatree(tmp_path / "v3.nc")
    assert on_disk.attrs["method"] == "hiper" and "method_name" not in on_disk.attrs
    read = open_run(tmp_path / "v3.nc")  # validates: the version is the current one after reading
    assert read.attrs["schema_version"] == SCHEMA_VERSION
    assert read.attrs["method_name"] == "hiper" and "method" not in read.attrs
    for group in tree.children:
        xr.testing.assert_identical(read[group].to_dataset(), tree[group].to_dataset())
    merged = open_runs([tmp_path / "v3.nc"])
    assert list(merged["method_name"].values) == ["hiper"]


def test_version_3_iterations_invalid_rate_reads_as_invalid_turn_rate(tmp_path):
    """The same values under the new name; the per-episode invalid_rate of /episodes and /evaluation keeps
    its name."""
    tree = synthetic_writer("hiper", 1, 0, iterations=4, episodes=3, eval_every=2).tree()
    write_tree(as_version_3(tree), tmp_path / "v3.nc")
    assert "invalid_rate" in xr.open_datatree(tmp_path / "v3.nc")["iterations"].data_vars
    read = open_run(tmp_path / "v3.nc")
    assert "invalid_rate" not in read["iterations"].data_vars
    xr.testing.assert_identical(read["iterations"].to_dataset(), tree["iterations"].to_dataset())
    assert "invalid_rate" in read["episodes"].data_vars and "invalid_rate" in read["evaluation"].data_vars


def test_a_version_3_merged_file_reads_with_the_dim_method_name(tmp_path):
    trees = [
        synthetic_writer(m, 1, 0, iterations=3, episodes=2, eval_every=1).tree() for m in ("hiper", "ppo")
    ]
    current = merge_runs(trees, created="2026-01-01T00:00:00+00:00")
    write_tree(as_version_3(current), tmp_path / "merged_v3.nc")
    on_disk = xr.open_datatree(tmp_path / "merged_v3.nc")
    assert "method" in on_disk["turns"].dims and "method_name" not in on_disk["turns"].dims
    read = open_merged(tmp_path / "merged_v3.nc")
    assert read.attrs["schema_version"] == SCHEMA_VERSION
    assert "method" not in read.dims and read["turns"]["adv_low"].dims[:4] == RUN_DIMS
    assert read["config"].dims == RUN_DIMS and list(read["method_name"].values) == ["hiper", "ppo"]
    ppo = read["episodes"]["success"].sel(method_name="ppo")
    xr.testing.assert_identical(ppo, current["episodes"]["success"].sel(method_name="ppo"))
    for node in current.subtree:
        xr.testing.assert_identical(read[node.path].to_dataset(inherit=False), node.to_dataset(inherit=False))


def test_a_run_resumed_from_a_version_3_file_is_written_as_version_4(tmp_path):
    tree = synthetic_writer("hiper", 1, 0, iterations=3, episodes=2, eval_every=1).tree()
    write_tree(as_version_3(tree), tmp_path / "traces.nc")
    TraceWriter.resume(tmp_path / "traces.nc", upto_iteration=1).flush()
    on_disk = xr.open_datatree(tmp_path / "traces.nc")
    assert on_disk.attrs["schema_version"] == SCHEMA_VERSION and on_disk.attrs["method_name"] == "hiper"
    assert "method" not in on_disk.attrs and list(on_disk["turns"]["iteration"].values) == [0, 1]


def test_a_version_2_run_reads_with_updates_completed_as_labels(tmp_path):
    tree = synthetic_writer("hiper", 1, 0, iterations=4, episodes=3, eval_every=2).tree()
    assert list(tree["evaluation"]["eval_iteration"].values) == [0, 1, 3, 4]
    write_tree(as_version_2(tree), tmp_path / "old.nc")
    on_disk = xr.open_datatree(tmp_path / "old.nc")
    assert list(on_disk["evaluation"]["eval_iteration"].values) == [-1, 0, 2, 3]
    assert on_disk.attrs["method"] == "hiper"
    read = open_run(tmp_path / "old.nc")
    assert read.attrs["schema_version"] == SCHEMA_VERSION and read.attrs["method_name"] == "hiper"
    for group in tree.children:
        xr.testing.assert_identical(read[group].to_dataset(), tree[group].to_dataset())
    merged = open_runs([tmp_path / "old.nc"])
    assert list(merged["evaluation"]["eval_iteration"].values) == [0, 1, 3, 4]
    assert list(merged["method_name"].values) == ["hiper"]


def test_a_version_2_merged_file_upgrades_all_the_way(tmp_path):
    trees = [synthetic_writer("ppo", 1, s, iterations=3, episodes=2, eval_every=1).tree() for s in (0, 1)]
    write_tree(open_runs_from(trees, tmp_path), tmp_path / "merged_v4.nc")
    current = read_tree(tmp_path / "merged_v4.nc")
    write_tree(as_version_2(current), tmp_path / "merged_v2.nc")
    old = open_merged(tmp_path / "merged_v2.nc")
    assert old.attrs["schema_version"] == SCHEMA_VERSION
    np.testing.assert_array_equal(old["evaluation"]["eval_iteration"].values, [0, 1, 2, 3])
    assert "method" not in old.dims
    for node in current.subtree:
        xr.testing.assert_identical(old[node.path].to_dataset(inherit=False), node.to_dataset(inherit=False))


@pytest.mark.parametrize("version", ["1", "5"])
def test_an_unknown_version_is_left_for_validation_to_report(tmp_path, version):
    tree = synthetic_writer("ppo", 1, 0, iterations=2, episodes=2).tree()
    tree.attrs["schema_version"] = version
    write_tree(tree, tmp_path / "old.nc")
    read = read_tree(tmp_path / "old.nc")
    assert read.attrs["schema_version"] == version
    assert list(read["evaluation"]["eval_iteration"].values) == list(
        tree["evaluation"]["eval_iteration"].values
    )


def open_runs_from(trees, tmp_path):
    paths = []
    for i, tree in enumerate(trees):
        write_tree(tree, tmp_path / f"run{i}.nc")
        paths.append(tmp_path / f"run{i}.nc")
    return open_runs(paths)
