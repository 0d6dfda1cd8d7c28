"""Trace files nobody here wrote: impossible values, truncated or foreign files, a run where a merged file
belongs and back. Every command names the file and exits 2; one bad run never hides another."""

import re
import shutil

import numpy as np
import pytest

from hiper_repro.cli import main
from hiper_repro.traces.merge import open_merged, open_runs
from hiper_repro.traces.schema import TraceSchemaError
from hiper_repro.traces.store import read_tree, write_tree
from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.traces.validate import schema_problems


def _edit(tree, group, name, value, where=(0, 0)):
    ds = tree[group].to_dataset()
    values = ds[name].values.copy()
    values[where] = value
    tree[group] = tree[group].to_dataset().assign({name: (ds[name].dims, values, ds[name].attrs)})
    return tree


@pytest.mark.parametrize(
    ("group", "name", "value", "message"),
    [
        pytest.param(
            "evaluation",
            "success",
            -3.0,
            r"success: 1 values outside \[0, 1\] \(from -3 to -3\)",
            id="success",
        ),
        pytest.param("episodes", "invalid_rate", 1.5, r"invalid_rate: 1 values outside \[0, 1\]", id="rate"),
        pytest.param("episodes", "length", -1.0, r"length: 1 values outside >= 0", id="length"),
        pytest.param("turns", "logprob", 0.5, r"logprob: 1 values outside <= 0", id="logprob"),
        pytest.param("turns", "adv_low", np.inf, r"adv_low: 1 infinite values", id="infinite"),
        pytest.param("segments", "length", 0.0, r"length: 1 values outside >= 1", id="segment-length"),
    ],
)
def test_impossible_values_are_named(group, name, value, message):
    tree = synthetic_writer("hiper", 2, 0, iterations=2, episodes=4).tree()
    assert schema_problems(tree) == []
    where = (0, 0, 0) if group in ("turns", "segments") else (0, 0)
    problems = schema_problems(_edit(tree, group, name, value, where))
    assert len(problems) == 1 and problems[0].startswith(f"/{group}: ")
    assert re.search(message, problems[0])


def test_nan_is_not_out_of_range():
    tree = synthetic_writer("ppo", 1, 0, iterations=2, episodes=4).tree()
    assert schema_problems(_edit(tree, "evaluation", "switch_rate", np.nan)) == []


@pytest.fixture
def broken(run_dirs, tmp_path):
    """A good run, a truncated run, a file of random bytes, a run with an impossible success."""
    good = tmp_path / "good" / "traces.nc"
    shutil.copytree(run_dirs[0], good.parent)
    truncated = tmp_path / "truncated" / "traces.nc"
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage" / "traces.nc"
    garbage.parent.mkdir()
    garbage.write_bytes(np.random.default_rng(0).bytes(3000))
    wrong = tmp_path / "wrong" / "traces.nc"
    write_tree(_edit(read_tree(run_dirs[1] / "traces.nc"), "evaluation", "success", -3.0), wrong)
    return {"good": good, "truncated": truncated, "garbage": garbage, "wrong": wrong}


def test_aggregate_names_every_bad_run(broken, tmp_path, capsys):
    rc = main(["aggregate", "--runs", *map(str, broken.values()), "--out", str(tmp_path / "m.nc")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()  # what is wrong, then one line per problem
    assert lines[0] == "hiper-repro aggregate: 3 of 4 runs break the trace schema (3 problems):"
    assert len(lines) == 4
    for name in ("truncated", "garbage", "wrong"):
        assert str(broken[name]) in err
    assert f"{broken['truncated']}: not a readable netCDF4 trace file" in err
    assert "success: 1 values outside [0, 1]" in err
    assert not (tmp_path / "m.nc").exists()


def test_validate_command_checks_every_file(broken, capsys):
    assert main(["validate", str(broken["good"])]) == 0
    assert "ok (run)" in capsys.readouterr().out
    assert main(["validate", *map(str, broken.values())]) == 2
    captured = capsys.readouterr()
    assert f"{broken['good']}: ok" in captured.out and "Traceback" not in captured.err
    for name in ("truncated", "garbage", "wrong"):
        assert f"{broken[name]}: 1 problems" in captured.err
    assert "3 of 4 files break the trace schema" in captured.err


def test_stats_names_a_bad_merged_file(broken, run_dirs, tmp_path, capsys):
    for name in ("truncated", "garbage"):
        assert main(["stats", "--merged", str(broken[name]), "--out", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err
        assert f"hiper-repro stats: {broken[name]}: not a readable netCDF4 trace file" in err
    assert main(["stats", "--merged", str(broken["good"]), "--out", str(tmp_path / "s")]) == 2
    assert "holds one run's traces, not a merged dataset" in capsys.readouterr().err
    merged = tmp_path / "merged.nc"
    write_tree(_edit(open_runs(run_dirs), "evaluation", "success", -3.0, (0, 0, 0, 0, 0, 0)), merged)
    assert main(["stats", "--merged", str(merged), "--out", str(tmp_path / "s")]) == 2
    assert "success: 1 values outside [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "s" / "numbers.json").exists()


def test_a_merged_file_is_not_a_run_and_back(run_dirs, tmp_path):
    merged = tmp_path / "merged.nc"
    write_tree(open_runs(run_dirs), merged)
    with pytest.raises(
        TraceSchemaError, match=r"is a merged dataset, not a run: open it with hiper_repro.traces.open_run"
    ):
        open_runs([merged])
    with pytest.raises(ValueError, match=r"holds one run's traces, not a merged dataset"):
        open_merged(run_dirs[0])
    assert open_merged(merged).attrs["n_runs"] == 3
