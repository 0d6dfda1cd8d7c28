"""Trace files of schema versions 2 (evaluations labelled one less: -1 the start) and 3 (`/iterations`'
invalid_turn_rate named invalid_rate) read as the current version."""

import numpy as np
import xarray as xr

from hiper_repro.traces.merge import open_merged, open_run, open_runs
from hiper_repro.traces.schema import EVALUATION_GROUPS, SCHEMA_VERSION
from hiper_repro.traces.store import read_tree, write_tree
from hiper_repro.traces.synthetic import synthetic_writer


def as_version_3(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` as version 3 wrote it: `/iterations`' invalid_turn_rate named invalid_rate."""
    old = tree.copy()
    ds = old["iterations"].to_dataset(inherit=False)
    old["iterations"] = xr.DataTree(ds.rename_vars({"invalid_turn_rate": "invalid_rate"}))
    old.attrs = {**tree.attrs, "schema_version": "3"}
    return old


def as_version_2(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` as version 2 wrote it: version 3's names, every evaluation label one less."""
    old = as_version_3(tree)
    for group in EVALUATION_GROUPS:
        ds = old[group].to_dataset(inherit=False)
        old[group] = xr.DataTree(ds.assign_coords(eval_iteration=ds["eval_iteration"] - 1))
    old.attrs = {**tree.attrs, "schema_version": "2"}
    return old


def test_a_version_2_run_reads_with_updates_completed_as_labels(tmp_path):
    tree = synthetic_writer("hiper", 1, 0, iterations=4, episodes=3, eval_every=2).tree()
    assert SCHEMA_VERSION == "4" and list(tree["evaluation"]["eval_iteration"].values) == [0, 1, 3, 4]
    write_tree(as_version_2(tree), tmp_path / "old.nc")
    assert list(xr.open_datatree(tmp_path / "old.nc")["evaluation"]["eval_iteration"].values) == [-1, 0, 2, 3]
    read = open_run(tmp_path / "old.nc")  # validates: the version is the current one after reading
    assert read.attrs["schema_version"] == SCHEMA_VERSION
    for group in (*EVALUATION_GROUPS, "iterations"):
        xr.testing.assert_identical(read[group].to_dataset(), tree[group].to_dataset())
    merged = open_runs([tmp_path / "old.nc"])
    assert list(merged["evaluation"]["eval_iteration"].values) == [0, 1, 3, 4]


def test_a_version_3_run_reads_with_the_iterations_renamed(tmp_path):
    """Version 3's `/iterations` invalid_rate reads as invalid_turn_rate, the same values; the per-episode
    invalid_rate of `/episodes` and `/evaluation` keeps its name; labels do not move."""
    tree = synthetic_writer("hiper", 1, 0, iterations=4, episodes=3, eval_every=2).tree()
    write_tree(as_version_3(tree), tmp_path / "v3.nc")
    assert "invalid_rate" in xr.open_datatree(tmp_path / "v3.nc")["iterations"].data_vars
    read = open_run(tmp_path / "v3.nc")  # validates
    assert read.attrs["schema_version"] == SCHEMA_VERSION
    assert "invalid_rate" not in read["iterations"].data_vars
    for group in ("iterations", "episodes", *EVALUATION_GROUPS):
        xr.testing.assert_identical(read[group].to_dataset(), tree[group].to_dataset())
    assert "invalid_rate" in read["episodes"].data_vars and "invalid_rate" in read["evaluation"].data_vars


def test_a_version_2_merged_file_reads_relabelled(tmp_path):
    trees = [synthetic_writer("ppo", 1, s, iterations=3, episodes=2, eval_every=1).tree() for s in (0, 1)]
    write_tree(open_runs_from(trees, tmp_path), tmp_path / "merged_v4.nc")
    current = read_tree(tmp_path / "merged_v4.nc")
    write_tree(as_version_2(current), tmp_path / "merged_v2.nc")
    old = open_merged(tmp_path / "merged_v2.nc")
    assert old.attrs["schema_version"] == SCHEMA_VERSION
    np.testing.assert_array_equal(old["evaluation"]["eval_iteration"].values, [0, 1, 2, 3])
    xr.testing.assert_identical(old["evaluation"].to_dataset(), current["evaluation"].to_dataset())
    xr.testing.assert_identical(old["iterations"].to_dataset(), current["iterations"].to_dataset())


def test_an_unknown_version_is_left_for_validation_to_report(tmp_path):
    tree = synthetic_writer("ppo", 1, 0, iterations=2, episodes=2).tree()
    tree.attrs["schema_version"] = "1"
    write_tree(tree, tmp_path / "v1.nc")
    read = read_tree(tmp_path / "v1.nc")
    assert read.attrs["schema_version"] == "1"
    assert list(read["evaluation"]["eval_iteration"].values) == list(
        tree["evaluation"]["eval_iteration"].values
    )


def open_runs_from(trees, tmp_path):
    paths = []
    for i, tree in enumerate(trees):
        write_tree(tree, tmp_path / f"run{i}.nc")
        paths.append(tmp_path / f"run{i}.nc")
    return open_runs(paths)
