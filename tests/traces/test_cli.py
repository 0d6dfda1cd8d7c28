"""`hiper-repro aggregate` end to end on synthetic runs."""

import numpy as np

from hiper_repro.traces.cli import main
from hiper_repro.traces.store import read_tree
from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.traces.validate import validate

from .conftest import CREATED


def test_aggregate_merges_a_results_folder(run_dirs, tmp_path, capsys):
    out = tmp_path / "merged.nc"
    root = run_dirs[0].parents[3]  # results-like folder: {env}/h{h}/{method}/seed{s}
    assert main(["--runs", str(root), "--out", str(out), "--created", CREATED]) == 0
    merged = read_tree(out)
    validate(merged)
    assert merged.attrs["n_runs"] == 3
    # The ppo cell is the run the fixture wrote (same generator, same arguments).
    ppo = synthetic_writer("ppo", 1, 0, iterations=3, episodes=4).tree()["episodes"]["success"]
    cell = merged["episodes"]["success"].sel(
        {"method_name": "ppo", "horizon": 1, "seed": 0, "env": "household"}
    )
    np.testing.assert_array_equal(cell.values[:, : ppo.sizes["episode"]], ppo.values)
    printed = capsys.readouterr().out
    assert printed.count("kB/iteration") == 3 and "3 runs" in printed


def test_aggregate_reports_bad_paths(tmp_path, capsys):
    assert main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "m.nc")]) == 2
    assert "neither a trace file nor a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "m.nc")]) == 2
    assert "no traces.nc" in capsys.readouterr().err


def test_aggregate_twice_into_the_searched_folder(run_dirs, tmp_path):
    """results/merged/traces.nc lies below results/: a second aggregate must not take it for a run."""
    import shutil

    root = tmp_path / "results"
    shutil.copytree(run_dirs[0].parents[3], root)
    out = root / "merged" / "traces.nc"
    assert main(["--runs", str(root), "--out", str(out), "--created", CREATED]) == 0
    first = out.read_bytes()
    assert main(["--runs", str(root), "--out", str(out), "--created", CREATED]) == 0
    assert read_tree(out).attrs["n_runs"] == 3 and len(out.read_bytes()) == len(first)
    probe = tmp_path / "probe"
    probe.touch()  # the permissions any new file gets here (not private, as a mkstemp file would be)
    assert out.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
