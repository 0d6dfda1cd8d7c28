"""hiper_repro.io: atomic writes and the results lookup shared by notebooks and commands."""

import errno
import os
import shutil

import pytest

from hiper_repro import io as io_module
from hiper_repro.io import DiskFullError, atomic_dir, atomic_target, find_results, write_atomic


def test_write_atomic_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "deep" / "file.txt"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["file.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_target(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["file.txt"]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "deep" / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()  # nothing visible until the block succeeds
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(os.listdir(target)) == ["b.txt"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("half")
        raise RuntimeError("killed")
    assert sorted(os.listdir(target)) == ["b.txt"] and os.listdir(target.parent) == ["model"]


def test_atomic_dir_without_replace_keeps_what_another_writer_finished(tmp_path):
    target = tmp_path / "game"
    with atomic_dir(target, replace=False) as tmp:
        (tmp / "mine.z8").write_text("mine")
        target.mkdir()
        (target / "theirs.z8").write_text("theirs")
    assert os.listdir(target) == ["theirs.z8"] and os.listdir(tmp_path) == ["game"]


def test_find_results_from_env_and_from_repo_root(tmp_path, monkeypatch):
    results = tmp_path / "elsewhere"
    (results / "merged").mkdir(parents=True)
    (results / "merged" / "traces.nc").write_bytes(b"")
    monkeypatch.setenv("HIPER_REPRO_RESULTS", str(results))
    assert find_results() == results.resolve()
    monkeypatch.delenv("HIPER_REPRO_RESULTS")
    repo = tmp_path / "repo"
    (repo / "analysis").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    monkeypatch.chdir(repo / "analysis")
    monkeypatch.delenv("HIPER_REPRO_PRESET", raising=False)
    assert find_results(required=None) == (repo / "results" / "quick").resolve()
    with pytest.raises(FileNotFoundError, match="snakemake --cores 2 --config preset=quick"):
        find_results()


def test_find_results_of_a_preset(tmp_path, monkeypatch):
    """Each preset's outputs lie in results/{preset}: by argument, by $HIPER_REPRO_PRESET, else the preset
    a bare `snakemake` runs (config/config.yaml)."""
    monkeypatch.delenv("HIPER_REPRO_RESULTS", raising=False)
    monkeypatch.delenv("HIPER_REPRO_PRESET", raising=False)
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    (repo / "config" / "config.yaml").write_text("preset: full\n")
    monkeypatch.chdir(repo)
    assert find_results(required=None) == (repo / "results" / "full").resolve()
    assert find_results(required=None, preset="smoke") == (repo / "results" / "smoke").resolve()
    monkeypatch.setenv("HIPER_REPRO_PRESET", "gpu")
    assert find_results(required=None) == (repo / "results" / "gpu").resolve()


class TestDiskFull:
    """A full disk is a one-line error naming the path and the space, never an internal error or a crash;
    files written before are intact (the QA's case: "internal error SafetensorError ... please report it")."""

    @pytest.mark.parametrize(
        "error",
        [OSError(errno.ENOSPC, "No space left on device"),
         RuntimeError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space '
                      'left on device" })')],
        ids=["oserror", "safetensors"],
    )  # fmt: skip
    def test_a_write_that_fills_the_disk_names_the_path(self, tmp_path, error):
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "old.txt").write_text("old")
        message = (
            rf"{tmp_path / 'out'}: the disk filled during the write: it needs more than .*B, .*B were free"
        )
        with pytest.raises(DiskFullError, match=message), atomic_dir(tmp_path / "out") as tmp:
            (tmp / "part").write_bytes(b"x" * 5000)
            raise error
        assert (tmp_path / "out" / "old.txt").read_text() == "old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
        with (
            pytest.raises(DiskFullError, match=r"f\.bin: the disk filled"),
            atomic_target(tmp_path / "f.bin"),
        ):
            raise error

    def test_not_enough_space_is_said_before_writing(self, tmp_path, monkeypatch, capsys):
        from hiper_repro.cli import main
        from hiper_repro.traces.store import read_tree, write_tree
        from hiper_repro.traces.synthetic import synthetic_runs

        run = synthetic_runs(tmp_path / "runs", methods=("hiper",), horizons=(1,), seeds=(0,), iterations=2,
                             episodes=4)[0]  # fmt: skip
        monkeypatch.setattr(
            shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
        )
        with pytest.raises(
            DiskFullError, match=r"not enough disk space \(1\.0 kB free, the write needs about"
        ):
            write_tree(read_tree(run / "traces.nc"), run / "traces.nc")  # refused before HDF5 could crash
        assert main(["aggregate", "--runs", str(run), "--out", str(tmp_path / "m.nc")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{tmp_path / 'm.nc'}: not enough disk space" in err
        assert not (tmp_path / "m.nc").exists()

    def test_an_unwrapped_disk_full_error_is_still_one_line(self, monkeypatch, capsys):
        from hiper_repro import cli

        def full(argv):
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: No space left on device")

        monkeypatch.setitem(cli.COMMANDS, "fill", ("hiper_repro.io", ""))
        monkeypatch.setattr(io_module, "main", full, raising=False)
        assert cli.main(["fill"]) == 2
        assert "internal error" not in capsys.readouterr().err
